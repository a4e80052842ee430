"""Every capability's sweep, in the order they run each minute."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from scheduler import archive_sweep, codes_sweep, consent_sweep, ops_sweep, tasks_sweep, training_sweep
from scheduler.base import Sweep

if TYPE_CHECKING:
    from bot.services.core import Core

log = logging.getLogger(__name__)


def all_sweeps() -> list[tuple[str, Sweep]]:
    # Imported here so that each capability's module stays independent of the others.

    return [
        ("ops", ops_sweep.sweep),
        ("consent", consent_sweep.sweep),
        ("codes", codes_sweep.sweep),
        ("tasks", tasks_sweep.sweep),
        ("training", training_sweep.sweep),
        ("archive", archive_sweep.sweep),
    ]


async def run_sweeps(app: Core, now: datetime) -> None:
    for name, sweep in all_sweeps():
        try:
            await sweep(app, now)
        except Exception:
            # One broken sweep must not stop the others; the next minute retries it.
            log.exception("sweep %s failed", name)
