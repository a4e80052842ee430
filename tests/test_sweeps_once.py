"""Sweeps run once per tick across workers (#27 item 4): two workers (two Apps, each with its own
connection to one SQLite file) tick the same minute and each capability's sweep runs on one of them
only; the consent nudges go out once. A worker that dies mid-sweep holds the sweep back only until
its claim's lease runs out; a long sweep whose worker renews its claim is never run twice at once.
Time moves on the ManualClock (the app clock and, here, the lease clock alike)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import scheduler.sweeps as sweeps_module
from bot import capabilities
from bot.app import App, create_app
from scheduler.base import ManualScheduler, Sweep
from storage.sweep_runs import SWEEP_LEASE, SweepRunRepo
from tests.consent_helpers import school
from tests.delivery_helpers import wait_until
from tests.harness import Harness, handler_harness, make_settings

# Monday 7 December 2026, 09:00 in Moscow: working hours, the consent nudges are due.
MONDAY_9 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """(worker, sweep) -> runs: every App's sweeps counted as they run."""
    counted: Counter[tuple[str, str]] = Counter()

    def wrap(worker: str, name: str, sweep: Sweep) -> Sweep:
        async def run(now: datetime) -> object:
            counted[(worker, name)] += 1
            return await sweep(now)
        return run

    def sweeps(self: App) -> list[tuple[str, Sweep]]:
        worker = self.sweep_runs.owner if self.sweep_runs is not None else "?"
        return [(name, wrap(worker, name, sweep)) for name, sweep in capabilities.sweeps(self.services)]

    monkeypatch.setattr(App, "sweeps", property(sweeps))
    return counted


def per_sweep(runs: Counter[tuple[str, str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for (_, name), n in runs.items():
        total[name] += n
    return total


@asynccontextmanager
async def two_workers(tmp_path: Path) -> AsyncIterator[tuple[Harness, App]]:
    """The harness's App (worker one, the school linked through it) and a second App on the same file
    and clock; both claim sweeps on the (manual) clock."""
    async with handler_harness(tmp_path, admin_ids=[1], start=MONDAY_9 - timedelta(days=3)) as h:
        await school(h)
        second = create_app(make_settings(tmp_path, admin_ids=[1]), clock=h.clock, scheduler=ManualScheduler())
        await second.open()
        try:
            for app in (h.app, second):
                app.sweep_runs = SweepRunRepo(app.db, lease_clock=h.clock)
            yield h, second
        finally:
            await second.close()


async def nudges(app: App) -> int:
    return int(await app.db.fetchval("SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'consent-nudge:%'"))


def all_sweeps() -> list[str]:
    return sorted({s.name for c in capabilities.CAPABILITIES for s in c.sweeps})


async def test_two_workers_ticking_the_same_minute_run_each_sweep_once(
    tmp_path: Path, runs: Counter[tuple[str, str]]
) -> None:
    async with two_workers(tmp_path) as (h, second):
        h.clock.set(MONDAY_9)
        await asyncio.gather(h.app.tick(), second.tick())
        assert per_sweep(runs) == Counter(dict.fromkeys(all_sweeps(), 1))
        parents = len(await h.app.people.with_role("parent"))
        assert parents > 0 and await nudges(h.app) == parents
        # Later in the same minute (each worker's own schedule): nothing runs again.
        h.clock.advance(timedelta(seconds=40))
        await asyncio.gather(second.tick(), h.app.tick())
        assert per_sweep(runs) == Counter(dict.fromkeys(all_sweeps(), 1))
        # The next minute: each once more, on one worker or the other.
        h.clock.advance(timedelta(seconds=30))
        await asyncio.gather(second.tick(), h.app.tick())
        assert per_sweep(runs) == Counter(dict.fromkeys(all_sweeps(), 2))
        assert await nudges(h.app) == parents  # the sweeps' own keys: never a second nudge
        workers = {worker for worker, _ in runs}
        print(f"\nsweep runs by worker: { {w[-12:]: sum(n for (o, _), n in runs.items() if o == w) for w in workers} }")


async def test_a_worker_that_died_mid_sweep_holds_the_sweeps_back_only_for_a_lease(
    tmp_path: Path, runs: Counter[tuple[str, str]]
) -> None:
    async with two_workers(tmp_path) as (h, second):
        h.clock.set(MONDAY_9)
        # A third worker claims the minute's sweeps and dies before it runs or finishes any.
        dead = SweepRunRepo(second.db, owner="far-host/x/1#77#00000000dead", lease_clock=h.clock)
        assert await dead.claim(all_sweeps(), h.clock.now()) == set(all_sweeps())
        await asyncio.gather(h.app.tick(), second.tick())
        h.clock.advance(timedelta(minutes=1))
        await asyncio.gather(h.app.tick(), second.tick())  # its runs are still within their lease
        assert runs == Counter() and await nudges(h.app) == 0
        h.clock.advance(SWEEP_LEASE)
        await asyncio.gather(h.app.tick(), second.tick())
        assert per_sweep(runs) == Counter(dict.fromkeys(all_sweeps(), 1))
        assert await nudges(h.app) == len(await h.app.people.with_role("parent"))


async def test_a_long_sweep_renewed_by_its_worker_never_runs_twice_at_once(
    tmp_path: Path, runs: Counter[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeps_module, "RENEW_EVERY", 0.01)
    async with two_workers(tmp_path) as (h, second):
        h.clock.set(MONDAY_9)
        release = asyncio.Event()
        entered = asyncio.Event()
        ops = h.app.services.ops
        original: Callable[[datetime], Awaitable[object]] = ops.sweep

        async def slow_ops(now: datetime) -> object:
            entered.set()
            await release.wait()
            return await original(now)

        monkeypatch.setattr(ops, "sweep", slow_ops)  # the first worker's ops sweep takes long
        first = asyncio.create_task(h.app.tick())
        await entered.wait()
        # Three minutes later, past the lease of the claims unless the keeper renewed them: it did.
        h.clock.advance(timedelta(minutes=3))

        async def renewed() -> bool:
            until = await second.db.fetchval("SELECT max(lease_until) FROM sweep_runs WHERE sweep = 'ops'")
            return str(until) > h.clock.now().strftime("%Y-%m-%dT%H:%M:%S")

        await wait_until(renewed)
        await second.tick()  # every sweep of the first worker's minute is still its own (renewed)
        release.set()
        await first
        assert per_sweep(runs) == Counter(dict.fromkeys(all_sweeps(), 1))  # ops never twice at once
        assert {worker for worker, _ in runs} == {h.app.sweep_runs.owner if h.app.sweep_runs else ""}
        # Once they are finished, the next minute's tick runs them on the second worker.
        h.clock.advance(timedelta(minutes=1))
        await second.tick()
        assert per_sweep(runs) == Counter(dict.fromkeys(all_sweeps(), 2))
