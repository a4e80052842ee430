"""Which worker runs each sweep at each tick (#27 item 4: several workers share one database).

Every worker's scheduler ticks each minute (scheduler/base.py); `run_sweeps` (scheduler/sweeps.py)
claims the tick's sweeps here first and runs only those it won. A claim is a row keyed by (sweep,
the tick's minute): the first worker to insert it runs the sweep, the others' inserts do nothing.
A sweep is also not claimed while another worker's run of it (an earlier minute's, still going)
holds a live lease, so a long sweep never runs twice at once. The lease is real time (the lease
clock, as the outbox's), renewed while the sweep runs; a worker that dies mid-sweep leaves its run
unfinished, its lease runs out and the next tick's claim (any worker's) takes the sweep again. The
sweeps stay idempotent on their own (each records what it enqueued, nudges are keyed per day): the
claims stop duplicate work and races, they are not what keeps a nudge single.

On SQLite the claim transaction is the single writer's (BEGIN IMMEDIATE); on PostgreSQL it takes a
transaction-scoped advisory lock first, so two workers' claims run one after the other there too
(a row that does not exist yet cannot be locked).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.clock import Clock, SystemClock
from bot.unit_of_work import UnitOfWork
from storage import workers
from storage.db import database_of, dialect_of
from storage.timefmt import to_db

SWEEP_LEASE = timedelta(minutes=2)
KEEP_FOR = timedelta(days=1)
# pg_advisory_xact_lock's key for the sweep claims (any constant no other code uses).
ADVISORY_KEY = 27_004_038


def tick_minute(tick: datetime) -> str:
    return to_db(tick.replace(second=0, microsecond=0))


class SweepRunRepo:
    """The claims of one worker (``owner``: a fresh id by default); implements scheduler.base.SweepClaims."""

    def __init__(self, db: UnitOfWork, *, owner: str | None = None, lease_clock: Clock | None = None) -> None:
        self.db = database_of(db)
        self.owner = owner or workers.new_owner()
        self.lease_clock = lease_clock or SystemClock()

    async def claim(self, sweeps: Sequence[str], tick: datetime) -> set[str]:
        """Claim each of `sweeps` for the minute of `tick`; returns those this worker won."""
        minute = tick_minute(tick)
        now = self.lease_clock.now()
        at, until = to_db(now), to_db(now + SWEEP_LEASE)
        won: set[str] = set()
        async with self.db.transaction() as conn:
            if dialect_of(conn) == "postgres":
                await conn.execute("SELECT pg_advisory_xact_lock(?)", (ADVISORY_KEY,))
            await conn.execute(
                "DELETE FROM sweep_runs WHERE tick_at < ? AND (done_at IS NOT NULL OR lease_until < ?)",
                (to_db(tick - KEEP_FOR), at),
            )
            for sweep in sweeps:
                cur = await conn.execute(
                    "SELECT 1 FROM sweep_runs WHERE sweep = ? AND tick_at <> ? AND done_at IS NULL"
                    " AND lease_until >= ? AND owner <> ? LIMIT 1",
                    (sweep, minute, at, self.owner),
                )
                busy = await cur.fetchone()
                await cur.close()
                if busy is not None:
                    continue  # another worker is still running an earlier minute's
                cur = await conn.execute(
                    "INSERT INTO sweep_runs(sweep, tick_at, owner, claimed_at, lease_until) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (sweep, tick_at) DO NOTHING",
                    (sweep, minute, self.owner, at, until),
                )
                if cur.rowcount != 1:
                    # This minute's run exists: done, or running, or left by a dead worker (taken over
                    # once its lease ran out).
                    cur = await conn.execute(
                        "UPDATE sweep_runs SET owner = ?, claimed_at = ?, lease_until = ? WHERE sweep = ?"
                        " AND tick_at = ? AND done_at IS NULL AND lease_until < ?",
                        (self.owner, at, until, sweep, minute, at),
                    )
                if cur.rowcount == 1:
                    won.add(sweep)
        return won

    async def renew(self, sweeps: Sequence[str], tick: datetime) -> None:
        """Extend the leases of this worker's unfinished runs of `sweeps` at `tick`."""
        if not sweeps:
            return
        now = self.lease_clock.now()
        marks = ",".join("?" * len(sweeps))
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE sweep_runs SET lease_until = ? WHERE tick_at = ? AND owner = ? AND done_at IS NULL"
                f" AND sweep IN ({marks})",
                (to_db(now + SWEEP_LEASE), tick_minute(tick), self.owner, *sweeps),
            )

    async def finish(self, sweep: str, tick: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE sweep_runs SET done_at = ? WHERE sweep = ? AND tick_at = ? AND owner = ?",
                (to_db(self.lease_clock.now()), sweep, tick_minute(tick), self.owner),
            )
