"""Fault test: a storm of 5xx answers and slow responses from the Bot API while the outbox drains.

Nothing Telegram refused or never answered may be lost, and nothing it did not perform may be sent
twice: every dedupe key ends up delivered exactly once, within a bounded time and a bounded number
of requests.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

import bot.tg.sender_row as sender_row
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from tests.delivery_helpers import add_people, drained, enqueue_texts
from tests.harness import DEFAULT_START, running_bot

PEOPLE = 40


async def test_storm_of_5xx_and_slow_responses_delivers_every_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slow answers beyond the client's timeout: the client gives up and the fake (like Telegram
    # for a request it never finished reading) does not perform the call.
    monkeypatch.setattr(sender_row, "REQUEST_TIMEOUT", 1)
    # Enough attempts that the storm, not bad luck, is what the test exercises (at 30 % failures a
    # row dead-lettered after 12 attempts has odds of 1 in 2 million).
    monkeypatch.setattr(sender_row, "MAX_ATTEMPTS", 12)
    clock = ManualClock(DEFAULT_START)
    async with FakeTelegram(rate_limited=True, latency=0.05) as tg:
        tg.timeout_hold = 1.5
        async with running_bot(tg, tmp_path, clock=clock) as app:
            people = await add_people(app, PEOPLE)
            # First a run of consecutive 502s (the API is down for a while), then 30 % of the calls
            # fail at random with 500, 502 or a timeout.
            tg.fail_next("sendMessage", 502, count=25)
            tg.set_faults(0.3, kinds=("500", "502", "timeout"), seed=14)
            await enqueue_texts(app, people, prefix="storm")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not await drained(app):
                statuses = await app.db.fetchall("SELECT status, count(*) AS n FROM outbox GROUP BY 1")
                assert loop.time() < deadline, [tuple(r) for r in statuses]
                # Backoff is measured on the app clock: move it so retries come due.
                clock.advance(timedelta(minutes=10))
                await app.tick()
                await asyncio.sleep(0.2)
            rows = await app.db.fetchall("SELECT status, count(*) AS n FROM outbox GROUP BY status")
            assert {r["status"]: r["n"] for r in rows} == {"sent": PEOPLE}
            attempts = await app.db.fetchval("SELECT max(attempts) FROM outbox")
            assert attempts is not None and int(attempts) <= sender_row.MAX_ATTEMPTS
    assert tg.stats.total_5xx >= 25 and sum(tg.stats.dropped.values()) > 0
    assert tg.stats.total_429 == 0  # the storm did not make the sender outrun Telegram's limits
    for _, tg_id in people:
        assert [m.plain for m in tg.sent(tg_id)] == [f"storm for {tg_id}"]
    send_calls = sum(1 for r in tg.requests if r.method == "sendMessage")
    assert send_calls <= PEOPLE * sender_row.MAX_ATTEMPTS
    print(f"storm: {tg.stats.total_5xx} x 5xx, {sum(tg.stats.dropped.values())} timeouts, "
          f"{send_calls} sendMessage calls for {PEOPLE} messages, max attempts {attempts}")
