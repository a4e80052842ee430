"""Invitation codes, each minute: catch up deliveries the consent gate now allows, and nudge
people whose card arrived but who have not activated (at most two nudges, three days apart, in
working hours). The rules live in bot.services.codes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.codes_nudges import sweep as codes_sweep

if TYPE_CHECKING:
    from bot.services.core import Core


async def sweep(app: Core, now: datetime) -> None:

    await codes_sweep(app, now)
