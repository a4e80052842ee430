"""Training reminders: the evening before and one hour before each session (times fixed at
creation, never in quiet hours); each is recorded when enqueued, so a restart neither loses nor
repeats one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.training import send_due_reminders

if TYPE_CHECKING:
    from bot.services.core import Core


async def sweep(app: Core, now: datetime) -> None:
    await send_due_reminders(app, now)
