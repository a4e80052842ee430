"""Several workers drain one outbox (#27 item 4): each worker is an App with its own connection to the
same SQLite file and its own OutboxSender, as worker processes would be. Rows are claimed under
leases (storage/delivery.py): every message reaches the strict fake Telegram exactly once (counted
in the fake's own record), a dead worker's rows are taken over once its lease expires (on another
host) or at once (a dead process of this host), a worker renews its leases while it holds rows, and
a worker that stalled past its lease starts no send. Time moves on the ManualClock, never by sleeping."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot

from bot.app import App, create_app
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from bot.tg.sender import OutboxSender
from scheduler.base import ManualScheduler
from storage import workers
from storage.delivery import LEASE, DeliveryRepo
from storage.outbox import OutboxRepo, Payload
from tests.delivery_helpers import add_people, counts, drained, wait_until
from tests.harness import DEFAULT_START, make_settings


@dataclass
class Worker:
    app: App
    bot: Bot
    sender: OutboxSender


@asynccontextmanager
async def worker(tg: FakeTelegram, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Worker]:
    """One worker: its own App (its own connection to the shared file), Bot and sender."""
    app = create_app(make_settings(tmp_path), clock=clock, scheduler=ManualScheduler())
    await app.open()
    bot = tg.make_bot()
    sender = app.new_sender(bot)
    sender.lease_clock = clock  # leases run on real time; here the test moves it
    try:
        yield Worker(app, bot, sender)
    finally:
        await sender.stop()
        await bot.session.close()
        await app.close()


async def started_people(app: App, tg: FakeTelegram, count: int) -> list[tuple[int, int]]:
    """`count` linked parents who pressed Start (the strict fake refuses chats that never did)."""
    people = await add_people(app, count)
    for _, tg_id in people:
        await tg.user(tg_id, f"Родитель {tg_id}").send("/start")
    return people


async def enqueue(app: App, people: list[tuple[int, int]], per_person: int, **extra: Any) -> None:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        for n in range(per_person):
            for person_id, tg_id in people:
                await OutboxRepo.enqueue(
                    conn, dedupe_key=f"w:{person_id}:{n}", person_id=person_id, now=now,
                    **({"kind": "text", "payload": Payload(text=f"m{n} for {tg_id}")} | extra),
                )


def delivered(tg: FakeTelegram, people: list[tuple[int, int]]) -> Counter[str]:
    """Each message's copies in the fake's own record."""
    return Counter(m.plain or "" for _, tg_id in people for m in tg.sent(tg_id))


@pytest.mark.parametrize("n_workers", [1, 3])
async def test_workers_drain_300_messages_each_exactly_once(tmp_path: Path, n_workers: int) -> None:
    # Rate-lifted fake: each worker paces itself (25/s, 1/s per chat) with its own limiter here;
    # sharing the per-token rate between workers is the Redis limiter's business, not the leases'.
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        clock = ManualClock(DEFAULT_START)
        async with worker(tg, tmp_path, clock) as first:
            people = await started_people(first.app, tg, 100)
            await enqueue(first.app, people, per_person=3)
            async with contextlib_stack(tg, tmp_path, clock, n_workers - 1) as others:
                crew = [first, *others]
                started = time.monotonic()
                for w in crew:
                    w.sender.start()
                await wait_until(lambda: drained(first.app), timeout=120)
                elapsed = time.monotonic() - started
                assert (await counts(first.app))["sent"] == 300
        copies = delivered(tg, people)
        assert sum(copies.values()) == 300
        assert set(copies.values()) == {1}, [text for text, n in copies.items() if n != 1]
        # A person's messages arrive in order, whichever worker sent each.
        for _, tg_id in people:
            assert [m.plain for m in tg.sent(tg_id)] == [f"m{n} for {tg_id}" for n in range(3)]
        shares = [w.sender.stats.sent for w in crew]
        assert sum(shares) == 300
        if n_workers > 1:
            assert all(share > 0 for share in shares), shares  # every worker took part
        print(f"\n{n_workers} worker(s): 300 messages in {elapsed:.1f} s, shares {shares}")


@asynccontextmanager
async def contextlib_stack(tg: FakeTelegram, tmp_path: Path, clock: ManualClock, n: int) -> AsyncIterator[list[Worker]]:
    if n == 0:
        yield []
        return
    async with worker(tg, tmp_path, clock) as one, contextlib_stack(tg, tmp_path, clock, n - 1) as rest:
        yield [one, *rest]


async def claim_and_die(tmp_path: Path, clock: ManualClock, owner: str, limit: int) -> list[int]:
    """A worker that claims `limit` rows and dies: its connection closes, its leases stay."""
    app = create_app(make_settings(tmp_path), clock=clock, scheduler=ManualScheduler())
    await app.open()
    try:
        repo = DeliveryRepo(app.db, owner=owner)
        rows = await repo.due(clock.now(), clock.now(), limit, set())
        claimed = await repo.claim([r.id for r in rows], clock.now(), clock.now())
        assert len(claimed) == limit
        return sorted(claimed)
    finally:
        await app.close()
        workers.drop(owner)  # the worker is gone: its id is in use by nobody in this process


async def leased_to(app: App, owner: str) -> int:
    return int(await app.db.fetchval(
        "SELECT count(*) FROM outbox WHERE status = 'pending' AND lease_owner = ?", (owner,)
    ))


async def test_a_dead_workers_rows_on_another_host_go_once_its_lease_expires(tmp_path: Path) -> None:
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        clock = ManualClock(DEFAULT_START)
        async with worker(tg, tmp_path, clock) as live:
            people = await started_people(live.app, tg, 30)
            await enqueue(live.app, people, per_person=1)
            far = "far-host/1234abcd/4026531836#4242#deadbeef0001"
            dead_rows = await claim_and_die(tmp_path, clock, far, 10)
            live.sender.start()
            # The live worker sends the 20 free rows; another host's lease is not judged by pid.
            await wait_until(lambda: _sent_is(live.app, 20))
            await live.sender.keep_leases()
            assert await leased_to(live.app, far) == 10
            assert sum(delivered(tg, people).values()) == 20
            # The lease runs out on the clock: any worker takes the rows over.
            clock.advance(LEASE + timedelta(seconds=1))
            live.app.wake_sender()
            await wait_until(lambda: drained(live.app))
            row_ids = await live.app.db.fetchall(
                f"SELECT id FROM outbox WHERE status = 'sent' AND id IN ({','.join('?' * 10)})", dead_rows
            )
            assert len(row_ids) == 10
        copies = delivered(tg, people)
        assert sum(copies.values()) == 30 and set(copies.values()) == {1}


async def _sent_is(app: App, n: int) -> bool:
    return (await counts(app))["sent"] == n


async def test_a_dead_process_of_this_host_is_taken_over_without_waiting_for_its_lease(tmp_path: Path) -> None:
    # A process that existed and is gone: its pid names nothing any more.
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    pid = gone.pid
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        clock = ManualClock(DEFAULT_START)
        async with worker(tg, tmp_path, clock) as live:
            people = await started_people(live.app, tg, 12)
            await enqueue(live.app, people, per_person=1)
            dead = f"{workers.host_id()}#{pid}#0123456789ab"
            # An earlier process with our own pid (a restarted container's pid 1) is dead too, and a
            # live process of this host (the test runner's parent) is not.
            ours_before = f"{workers.host_id()}#{os.getpid()}#0123456789ab"
            alive = f"{workers.host_id()}#{os.getppid()}#0123456789ab"
            await claim_and_die(tmp_path, clock, dead, 4)
            await claim_and_die(tmp_path, clock, ours_before, 4)
            await claim_and_die(tmp_path, clock, alive, 4)
            live.sender.start()  # frees the dead ones' leases as it starts: no clock moves
            await wait_until(lambda: _sent_is(live.app, 8))
            assert await leased_to(live.app, alive) == 4
            assert await leased_to(live.app, dead) == 0 and await leased_to(live.app, ours_before) == 0
        copies = delivered(tg, people)
        assert sum(copies.values()) == 8 and set(copies.values()) == {1}


class Gate:
    """A document renderer that waits for the test to open it: a worker stalled mid-send."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.entered = 0

    async def __call__(self, args: dict[str, Any], /) -> tuple[bytes, str]:
        self.entered += 1
        await self.opened.wait()
        return f"file {args['n']}".encode(), f"file-{args['n']}.txt"


async def instant(args: dict[str, Any], /) -> tuple[bytes, str]:
    return f"file {args['n']}".encode(), f"file-{args['n']}.txt"


async def enqueue_files(app: App, people: list[tuple[int, int]]) -> None:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        for person_id, tg_id in people:
            await OutboxRepo.enqueue(
                conn, dedupe_key=f"f:{person_id}", person_id=person_id, kind="document", now=now,
                payload=Payload(text=f"file for {tg_id}", renderer="gate", args={"n": tg_id}),
            )


async def test_a_worker_stalled_past_its_lease_starts_no_send_and_records_nothing(tmp_path: Path) -> None:
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        clock = ManualClock(DEFAULT_START)
        async with worker(tg, tmp_path, clock) as slow, worker(tg, tmp_path, clock) as fast:
            gate = Gate()
            slow.sender.renderers = {"gate": gate}
            fast.sender.renderers = {"gate": instant}
            people = await started_people(slow.app, tg, 5)
            await enqueue_files(slow.app, people)
            stalled = asyncio.create_task(slow.sender.drain_once())
            await wait_until(lambda: _true(gate.entered == 5))  # claimed all five, stuck rendering
            clock.advance(LEASE + timedelta(seconds=1))  # the slow worker's leases run out
            assert await fast.sender.drain_once() == 5
            gate.opened.set()
            await stalled  # the slow worker wakes up with rows that are no longer its own
            assert slow.sender.stats.sent == 0 and fast.sender.stats.sent == 5
            assert (await counts(fast.app))["sent"] == 5
        files = Counter(m.plain for _, tg_id in people for m in tg.sent(tg_id))
        assert sum(files.values()) == 5 and set(files.values()) == {1}


async def _true(value: bool) -> bool:
    return value


async def test_a_worker_renews_its_leases_while_it_holds_rows(tmp_path: Path) -> None:
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        clock = ManualClock(DEFAULT_START)
        async with worker(tg, tmp_path, clock) as slow, worker(tg, tmp_path, clock) as other:
            gate = Gate()
            slow.sender.renderers = {"gate": gate}
            other.sender.renderers = {"gate": instant}
            people = await started_people(slow.app, tg, 5)
            await enqueue_files(slow.app, people)
            busy = asyncio.create_task(slow.sender.drain_once())
            await wait_until(lambda: _true(gate.entered == 5))
            # Twice 70 s, renewed in between: 140 s after the claim, past the first lease's end.
            for _ in range(2):
                clock.advance(timedelta(seconds=70))
                await slow.sender.keep_leases()
            assert await other.sender.drain_once() == 0  # still the slow worker's: nothing taken
            gate.opened.set()
            await busy
            assert slow.sender.stats.sent == 5 and other.sender.stats.sent == 0
        files = Counter(m.plain for _, tg_id in people for m in tg.sent(tg_id))
        assert sum(files.values()) == 5 and set(files.values()) == {1}


async def test_on_postgresql_a_claim_skips_rows_another_claim_has_locked(tmp_path: Path) -> None:
    """The PostgreSQL form of the claim (FOR UPDATE SKIP LOCKED): while one worker's claim holds rows
    locked in its transaction, another's claim takes the other rows at once instead of waiting."""
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        clock = ManualClock(DEFAULT_START)
        async with worker(tg, tmp_path, clock) as one, worker(tg, tmp_path, clock) as two:
            if one.app.db.dialect != "postgres":
                pytest.skip("PostgreSQL's row locks (SCHOOLBOT_TEST_BACKEND=postgres); SQLite has one writer")
            people = await started_people(one.app, tg, 10)
            await enqueue(one.app, people, per_person=1)
            ids = [int(r[0]) for r in await one.app.db.fetchall("SELECT id FROM outbox ORDER BY id")]
            async with one.app.db.transaction() as conn:
                # The first worker's claim in progress: half the rows locked, not yet committed.
                await conn.execute(f"SELECT id FROM outbox WHERE id IN ({','.join('?' * 5)}) FOR UPDATE", ids[:5])
                other = DeliveryRepo(two.app.db)
                taken = await asyncio.wait_for(other.claim(ids, clock.now(), clock.now()), timeout=10)
                assert sorted(taken) == ids[5:]
            assert sorted(await other.claim(ids, clock.now(), clock.now())) == ids  # its own, and the freed
