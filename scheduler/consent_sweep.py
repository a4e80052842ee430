"""Consent sweep: reminders to parents who have not answered the current consent version."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.consent import current
from bot.services.consent_nudges import run_nudges

if TYPE_CHECKING:
    from bot.services.core import Core


async def sweep(app: Core, now: datetime) -> None:
    # The first sweep after start publishes the shipped document as version 1 if none exists.
    await current(app)
    await run_nudges(app, now)
