"""Archive sweep (plan item 19): in late May, a weekly nudge to class teachers whose journal is not
yet confirmed printed, laced, sealed, signed and handed to the archive."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.archive import run_nudges

if TYPE_CHECKING:
    from bot.services.core import Core


async def sweep(app: Core, now: datetime) -> None:
    await run_nudges(app, now)
