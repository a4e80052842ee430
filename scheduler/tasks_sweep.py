"""The tasks capability's sweep: deadline reminders, snoozed reminders and the Monday digest."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.reminders import sweep as reminders_sweep

if TYPE_CHECKING:
    from bot.services.core import Core


async def sweep(app: Core, now: datetime) -> None:
    await reminders_sweep(app, now)
