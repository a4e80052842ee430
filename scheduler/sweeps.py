"""Runs the capabilities' sweeps (declared in bot/capabilities.py) in their order, each minute."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from scheduler.base import Sweep

log = logging.getLogger(__name__)


async def run_sweeps(now: datetime, sweeps: Sequence[tuple[str, Sweep]]) -> None:
    for name, sweep in sweeps:
        try:
            await sweep(now)
        except Exception:
            # One broken sweep must not stop the others; the next minute retries it.
            log.exception("sweep %s failed", name)
