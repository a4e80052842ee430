"""The outbox sender against the fake Bot API: pace, concurrency, 429, unreachable chats, backoff
and dead letters."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

import bot.tg.sender_row as sender_row
from bot.app import App
from bot.channels import Channel
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from storage.accounts import AccountRepo
from storage.delivery import DeliveryRepo
from tests.delivery_helpers import add_people, counts, drained, enqueue_texts, wait_until
from tests.harness import DEFAULT_START, handler_harness, running_bot


async def test_delivers_each_row_once_and_records_the_message_id(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        people = await add_people(app, 20)
        await enqueue_texts(app, people)
        await enqueue_texts(app, people)  # same dedupe keys: a no-op
        await wait_until(lambda: drained(app))
        rows = await app.db.fetchall("SELECT status, tg_message_id, attempts FROM outbox")
        assert len(rows) == 20
        assert all(r["status"] == "sent" and r["tg_message_id"] and r["attempts"] == 1 for r in rows)
        for _, tg_id in people:
            assert [m.plain for m in tg.sent(tg_id)] == [f"m for {tg_id}"]


async def test_latency_does_not_cut_the_pace(tmp_path: Path) -> None:
    # 30 messages at 25/s with 150 ms per call: sequential sends would need 4.5 s.
    async with FakeTelegram(latency=0.15) as tg, running_bot(tg, tmp_path) as app:
        people = await add_people(app, 30)
        started = time.monotonic()
        await enqueue_texts(app, people)
        await wait_until(lambda: drained(app))
        elapsed = time.monotonic() - started
        assert elapsed < 2.5, elapsed
        assert tg.stats.accepted_sends == 30


async def test_rate_limited_server_sees_no_429_at_the_default_pace(tmp_path: Path) -> None:
    async with FakeTelegram(rate_limited=True) as tg, running_bot(tg, tmp_path) as app:
        people = await add_people(app, 60)
        await enqueue_texts(app, people)
        await wait_until(lambda: drained(app))
        assert tg.stats.total_429 == 0
        assert tg.stats.accepted_sends == 60


async def test_retry_after_pauses_and_is_not_a_failed_attempt(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        people = await add_people(app, 3)
        tg.fail_next("sendMessage", 429, retry_after=1)
        started = time.monotonic()
        await enqueue_texts(app, people)
        await wait_until(lambda: drained(app))
        assert time.monotonic() - started >= 0.9  # the whole sender waited retry_after
        rows = await app.db.fetchall("SELECT status, attempts FROM outbox")
        assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 3
        assert app.sender is not None and app.sender.stats.rate_limited == 1


async def test_blocked_user_becomes_unreachable_and_their_queue_is_cancelled(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        (blocked, ok) = await add_people(app, 2)
        tg.block(blocked[1], notify=False)
        await enqueue_texts(app, [blocked, ok], prefix="a")
        await enqueue_texts(app, [blocked], prefix="b")
        await wait_until(lambda: drained(app))
        person = await app.people.get(blocked[0])
        assert person is not None and not person.reachable and "403" in (person.unreachable_reason or "")
        c = await counts(app)
        assert c["sent"] == 1 and c["cancelled"] == 2
        # Later messages for them are cancelled without a call to Telegram.
        calls = len(tg.requests)
        await enqueue_texts(app, [blocked], prefix="c")
        await wait_until(lambda: drained(app))
        assert (await counts(app))["cancelled"] == 3
        assert not any(r.params.get("chat_id") == blocked[1] for r in tg.requests[calls:])
        # Linking again (/start) clears the mark.
        async with app.db.transaction() as conn:

            await AccountRepo.link(conn, blocked[0], Channel.TELEGRAM, blocked[1], None, app.clock.now())
        person = await app.people.get(blocked[0])
        assert person is not None and person.reachable


async def test_chat_not_found_marks_unreachable(tmp_path: Path) -> None:
    async with FakeTelegram(strict_chats=True) as tg, running_bot(tg, tmp_path) as app:
        people = await add_people(app, 1)
        await enqueue_texts(app, people)
        await wait_until(lambda: drained(app))
        person = await app.people.get(people[0][0])
        assert person is not None and "chat not found" in (person.unreachable_reason or "")


async def test_server_errors_back_off_then_dead_letter_then_retry_all(
    tg: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fewer attempts keep the test short: retries to one chat are paced at 1/s.
    monkeypatch.setattr(sender_row, "MAX_ATTEMPTS", 3)
    clock = ManualClock(DEFAULT_START)
    async with running_bot(tg, tmp_path, clock=clock) as app:
        people = await add_people(app, 1)
        tg.fail_next("sendMessage", 500, count=sender_row.MAX_ATTEMPTS)
        await enqueue_texts(app, people)
        for attempt in range(1, sender_row.MAX_ATTEMPTS + 1):
            async def attempts_seen(n: int = attempt) -> bool:
                row = await app.db.fetchone("SELECT attempts, status FROM outbox")
                return row is not None and (row["attempts"] >= n or row["status"] == "dead")

            await wait_until(attempts_seen)
            # Backoff: not due again until the (manual) clock moves on.
            clock.advance(timedelta(hours=1))
            await app.tick()
        await wait_until(lambda: _status_is(app, "dead"))
        row = await app.db.fetchone("SELECT attempts, last_error FROM outbox")
        assert row is not None and row["attempts"] == 3 and "ServerError" in row["last_error"]
        assert tg.sent(people[0][1]) == []
        assert await DeliveryRepo(app.db).requeue_dead(clock.now()) == 1
        app.wake_sender()
        await wait_until(lambda: drained(app))
        assert len(tg.sent(people[0][1])) == 1


async def _status_is(app: object, status: str) -> bool:

    assert isinstance(app, App)
    row = await app.db.fetchone("SELECT status FROM outbox")
    return row is not None and row["status"] == status


async def test_backoff_waits_for_the_app_clock(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        people = await add_people(app, 1)
        tg.fail_next("sendMessage", 502)
        await enqueue_texts(app, people)

        async def one_attempt() -> bool:
            row = await app.db.fetchone("SELECT attempts FROM outbox")
            return row is not None and row["attempts"] == 1

        await wait_until(one_attempt)
        await app.tick()
        await wait_until(lambda: _status_is(app, "pending"))
        assert tg.sent(people[0][1]) == []  # not due: the manual clock has not moved
        assert isinstance(app.clock, ManualClock)
        app.clock.advance(timedelta(minutes=5))
        await app.tick()
        await wait_until(lambda: drained(app))
        assert len(tg.sent(people[0][1])) == 1


async def test_drain_once_sends_due_rows(tg: FakeTelegram, tmp_path: Path) -> None:

    async with handler_harness(tmp_path) as h:
        people = await add_people(h.app, 3)
        await enqueue_texts(h.app, people)
        bot = tg.make_bot()
        try:
            sender = h.app.new_sender(bot)
            assert await sender.drain_once() == 3
            assert (await counts(h.app))["sent"] == 3
        finally:
            await bot.session.close()
