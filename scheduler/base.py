"""The scheduler behind a small Protocol.

There is one APScheduler job, the sweep, every minute. It runs every capability's sweep at
`clock.now()` (with several workers, those this worker claimed for the minute: `SweepClaims`);
each sweep looks in the database for what is due and records what it enqueued, so the database,
not the APScheduler job store, is the truth: a restart neither loses nor repeats a reminder, and
tests (and the sandbox's time travel) call `run_sweeps` after moving the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

# A capability's minute: a bound method of its service (or a small sweep object), given the time.
Sweep = Callable[[datetime], Awaitable[object]]
SWEEP_JOB_ID = "schoolbot-sweep"


class SweepClaims(Protocol):
    """Which sweeps this worker runs at a tick, when several workers tick on one database
    (storage/sweep_runs.py SweepRunRepo): claimed for the tick's minute, renewed while they run,
    finished when each ends."""

    async def claim(self, sweeps: Sequence[str], tick: datetime) -> set[str]: ...
    async def renew(self, sweeps: Sequence[str], tick: datetime) -> None: ...
    async def finish(self, sweep: str, tick: datetime) -> None: ...


class Scheduler(Protocol):
    def start(self, tick: Callable[[], Awaitable[None]]) -> None: ...
    async def shutdown(self) -> None: ...


class APScheduler:
    def __init__(self, interval_seconds: float = 60.0) -> None:
        self._interval = interval_seconds
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self, tick: Callable[[], Awaitable[None]]) -> None:
        # Fixed id + replace_existing: a restart never duplicates the job. misfire_grace_time=None
        # and coalesce: a late run still happens, once. max_instances=1: sweeps never overlap.
        self._scheduler.add_job(
            tick,
            IntervalTrigger(seconds=self._interval),
            id=SWEEP_JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            next_run_time=None,
        )
        self._scheduler.start()
        # Run one sweep right after start so what fell due while the bot was down goes out now.
        job = self._scheduler.get_job(SWEEP_JOB_ID)
        if job is not None:
            job.modify(next_run_time=datetime.now(self._scheduler.timezone))

    async def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


class ManualScheduler:
    """Test and sandbox double: nothing runs by itself; callers run sweeps explicitly."""

    def __init__(self) -> None:
        self.started = False
        self.tick: Callable[[], Awaitable[None]] | None = None

    def start(self, tick: Callable[[], Awaitable[None]]) -> None:
        self.started = True
        self.tick = tick

    async def shutdown(self) -> None:
        self.started = False
