"""The per-token send budget shared through Redis (issue #27): several limiters, as several workers
would hold, on one real redis-server (tests/redis_server.py).

Unit tests move a hand clock that the Redis script takes as its time (no waiting for deadlines);
the end-to-end tests drive real Bots built as `schoolbot run` builds them against the strict fake
Telegram (30 sends/s, 1/s per chat, 429 beyond), on the production path (Redis TIME)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot

from bot.app import build_bot, build_bots
from bot.fakeapi import FakeTelegram
from bot.tg.limiter import SHARED_RETRY, Priority, SendLimiter, SharedBudgetUnavailable, Verdict, limiter_of
from bot.tg.redis_rate import RedisBudget, budget_key, redis_budget, token_digest
from tests.harness import free_port, make_settings
from tests.test_limiter import granted_by_time, lagging_bot


@pytest.fixture(autouse=True)
def _redis_as_each_test_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests name REDIS_URL and REDIS_PREFIX themselves and check the defaults; the PostgreSQL +
    # Redis pass's own (tests/conftest.py) would stand in for those defaults.
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_PREFIX", raising=False)


TOKEN = "123456:TEST-TOKEN"
OTHER_TOKEN = "654321:OTHER-TOKEN"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settle(*limiters: SendLimiter) -> None:
    """Let every limiter finish asking Redis and its granted callers run."""
    for _ in range(3):
        for limiter in limiters:
            await limiter.idle()
        for _ in range(3):
            await asyncio.sleep(0)


async def advance(clock: FakeTime, seconds: float, *limiters: SendLimiter) -> None:
    clock.now += seconds
    for limiter in limiters:
        limiter.wake()
    await settle(*limiters)


def start(limiter: SendLimiter, chat: int | None, priority: Priority = Priority.INTERACTIVE) -> asyncio.Task[None]:
    return asyncio.create_task(limiter.acquire(chat, priority=priority))


@pytest.fixture
async def workers(redis_url: str) -> AsyncIterator[tuple[FakeTime, list[SendLimiter]]]:
    """Three limiters of one token (three workers) and one of another token, on one hand clock."""
    clock = FakeTime()
    limiters = [
        SendLimiter(rate=10, now=clock, shared=redis_budget(redis_url, token, wire="telegram", now=clock))
        for token in (TOKEN, TOKEN, TOKEN, OTHER_TOKEN)
    ]
    yield clock, limiters
    for limiter in limiters:
        await limiter.aclose()


async def cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_workers_of_one_token_share_its_global_pace(workers: tuple[FakeTime, list[SendLimiter]]) -> None:
    clock, (w1, w2, w3, _) = workers
    first = start(w1, 1)
    await settle(w1)
    assert first.done()
    # Each worker alone would send at once (its own bucket holds a burst); the token's does not.
    second, third = start(w2, 2), start(w3, 3)
    await settle(w2, w3)
    assert not second.done() and not third.done()
    await advance(clock, 0.1, w2, w3)
    assert second.done() != third.done()  # one slot per 1/rate, whichever worker gets it
    await advance(clock, 0.1, w2, w3)
    assert second.done() and third.done()


async def test_a_chat_gets_one_message_a_second_across_workers(workers: tuple[FakeTime, list[SendLimiter]]) -> None:
    clock, (w1, w2, _, _) = workers
    await w1.acquire(7)
    again = start(w2, 7)
    await settle(w2)
    assert not again.done()
    await advance(clock, 0.1, w2)
    other = start(w2, 8)  # the busy chat holds nobody else in w2
    await settle(w2)
    assert other.done() and not again.done()
    assert w2.chat_delay(7) == pytest.approx(w2.chat_interval - 0.1)  # learnt from the refusal
    await advance(clock, w2.chat_interval - 0.1, w2)
    assert again.done()


async def test_a_429_seen_by_one_worker_pauses_the_others(workers: tuple[FakeTime, list[SendLimiter]]) -> None:
    clock, (w1, w2, w3, other_token) = workers
    w1.pause(2)
    await settle(w1)
    waiting = [start(w2, 1), start(w3, 2, Priority.BULK)]
    unrelated = start(other_token, 3)
    await settle(w2, w3, other_token)
    assert unrelated.done()  # another token's budget is not paused
    assert not any(t.done() for t in waiting)
    await advance(clock, 1.9, w2, w3)
    assert not any(t.done() for t in waiting)
    await advance(clock, 0.2, w2, w3)
    await advance(clock, 0.1, w2, w3)
    assert all(t.done() for t in waiting)
    assert w2.stats.paused == 0  # not its own 429: a hold, not a pause of its own


async def test_two_tokens_do_not_share_a_budget(workers: tuple[FakeTime, list[SendLimiter]]) -> None:
    _, (w1, _, _, other_token) = workers
    # The same chat at the same moment through two bots: each token has its own pace and chat pace.
    mine, theirs = start(w1, 7), start(other_token, 7)
    await settle(w1, other_token)
    assert mine.done() and theirs.done()
    assert isinstance(w1.shared, RedisBudget) and isinstance(other_token.shared, RedisBudget)
    assert w1.shared.key != other_token.shared.key


async def test_priorities_still_order_a_workers_own_waiters(workers: tuple[FakeTime, list[SendLimiter]]) -> None:
    clock, (w1, w2, _, _) = workers
    await w2.acquire(99)  # another worker took the token's slot
    bulk = [start(w1, 100 + i, Priority.BULK) for i in range(3)]
    await settle(w1)
    reply = start(w1, 5, Priority.INTERACTIVE)
    await settle(w1)
    assert not reply.done() and not any(t.done() for t in bulk)
    await advance(clock, 0.1, w1)
    assert reply.done() and not any(t.done() for t in bulk)  # the freed slot went to the answer
    await advance(clock, 0.1, w1)
    assert sum(t.done() for t in bulk) == 1
    await cancel_all(bulk)


async def test_keys_name_a_digest_of_the_token_never_the_token(
    workers: tuple[FakeTime, list[SendLimiter]], redis_url: str
) -> None:
    _, (w1, _, _, _) = workers
    await w1.acquire(7)
    assert isinstance(w1.shared, RedisBudget)
    keys = sorted(k.decode() for k in await w1.shared.redis.keys("*"))
    digest = token_digest(TOKEN)
    assert keys == [budget_key("schoolbot", "telegram", TOKEN), f"{budget_key('schoolbot', 'telegram', TOKEN)}:chat:7"]
    assert all(digest in k and "TEST-TOKEN" not in k and "123456" not in k for k in keys)


async def test_a_chat_in_flight_in_one_worker_is_held_for_the_others(
    workers: tuple[FakeTime, list[SendLimiter]],
) -> None:
    """Worker 1's send to chat 7 is still in flight past a chat interval (a slow request): worker 2 gets
    the chat only a chat interval after that send ENDS, asking again meanwhile (not waiting out the
    whole hold, which is there for a worker that dies mid-send)."""
    clock, (w1, w2, _, _) = workers
    async with w1.slot(7):
        again = start(w2, 7)
        await settle(w2)
        assert not again.done()
        assert 0 < w2.chat_delay(7) <= w2.chat_interval + 1e-6
        for _ in range(3):
            await advance(clock, w2.chat_interval, w2)
            assert not again.done()
    ended = clock.now
    await settle(w1)  # w1 tells Redis that the send ended
    await advance(clock, w2.chat_interval - 0.05, w2)
    assert not again.done()
    for _ in range(4):
        await advance(clock, 0.05, w2)
    assert again.done() and clock.now - ended >= w2.chat_interval


async def test_a_send_that_reached_the_platform_late_leaves_its_chat_a_second_across_workers(redis_url: str) -> None:
    """As tests/test_limiter.py's twin, with two workers of one token sharing the budget through Redis:
    worker 1's send arrives 0.3 s after its grant, worker 2's next one to the chat still a second later."""
    clock = FakeTime()
    async with FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1, monotonic=clock) as tg:
        limiters = [
            SendLimiter(rate=30, now=clock, shared=redis_budget(redis_url, tg.token, wire="telegram", now=clock))
            for _ in range(2)
        ]
        (first, lagging), (second_bot, _) = (lagging_bot(tg, each, clock) for each in limiters)
        second: asyncio.Task[Any] | None = None
        try:
            lagging.lag = 0.3
            await first.send_message(7, "раз")
            arrived = clock.now
            second = asyncio.create_task(second_bot.send_message(7, "два"))
            await granted_by_time(clock, limiters, 2)
            await asyncio.wait({second}, timeout=5)  # its round trip to the fake (a 429 would pause it)
            assert tg.stats.total_429 == 0
            assert second.done() and [m.plain for m in tg.sent(7)] == ["раз", "два"]
            assert clock.now - arrived >= 1.0
        finally:
            if second is not None:
                second.cancel()
                await asyncio.gather(second, return_exceptions=True)
            await first.session.close()
            await second_bot.session.close()


# --- Redis unreachable ---------------------------------------------------------------------------


class FlakyBudget:
    """A shared budget that is down for the first `down` requests, then grants everything."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.asked = 0

    async def reserve(
        self, chat_id: int | str | None, *, rate: float, bulk_rate: float | None, chat_interval: float | None,
        flight: float = 0.0,
    ) -> Verdict:
        self.asked += 1
        if self.asked <= self.down:
            raise SharedBudgetUnavailable("ConnectionError")
        return Verdict(granted=True)

    async def sent(self, chat_id: int | str, *, chat_interval: float) -> None:
        raise SharedBudgetUnavailable("ConnectionError")

    async def pause(self, seconds: float) -> None:
        raise SharedBudgetUnavailable("ConnectionError")

    async def close(self) -> None:
        return None


async def test_without_redis_a_worker_paces_alone_logs_one_line_and_asks_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeTime()
    budget = FlakyBudget(down=1)
    limiter = SendLimiter(rate=30, now=clock, shared=budget)
    with caplog.at_level(logging.WARNING, logger="bot.tg.limiter"):
        await limiter.acquire(1)  # Redis fails: granted by this process's own pace
        await limiter.acquire(2)
        await limiter.acquire(3)
        assert budget.asked == 1  # not asked again for every send
        down = [r.getMessage() for r in caplog.records]
        assert len(down) == 1 and "unreachable" in down[0]
        late = start(limiter, 1)  # chat 1's own pace still holds, alone
        await settle(limiter)
        assert not late.done()
        await advance(clock, SHARED_RETRY, limiter)
        assert late.done()
        assert budget.asked == 2  # after SHARED_RETRY the budget is asked again, and answers
        assert "reachable again" in caplog.records[-1].getMessage()
        assert len(caplog.records) == 2
    await limiter.aclose()


async def test_a_redis_budget_at_a_dead_address_lets_sends_go(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeTime()
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limiter = SendLimiter(rate=30, now=clock, shared=redis_budget(url, TOKEN, wire="telegram", now=clock))
    with caplog.at_level(logging.WARNING, logger="bot.tg.limiter"):
        await asyncio.wait_for(limiter.acquire(1), timeout=5)
        await asyncio.wait_for(limiter.acquire(2), timeout=5)
        limiter.pause(1)  # a 429 is still kept here, though it cannot be shared
        await settle(limiter)
    assert limiter.paused_for() == pytest.approx(1)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["the shared send budget (Redis) is unreachable"]
    assert "127.0.0.1" not in caplog.text and TOKEN not in caplog.text
    await limiter.aclose()


# --- end to end: real Bots against the strict fake Telegram --------------------------------------


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def min_gap_per_chat(sends: Sequence[tuple[int, float]]) -> float:
    by_chat: dict[int, list[float]] = defaultdict(list)
    for chat, t in sends:
        by_chat[chat].append(t)
    gaps = [b - a for times in by_chat.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
    return min(gaps)


async def shared_bots(tg: FakeTelegram, tmp_path: Path, redis_url: str, n: int) -> list[Bot]:
    settings = make_settings(tmp_path, bot_token=tg.token, bot_api_url=tg.base_url, redis_url=redis_url)
    return [build_bot(settings) for _ in range(n)]


@pytest.mark.slow
async def test_three_workers_on_one_token_stay_within_30_a_second_and_1_a_chat(tmp_path: Path, redis_url: str) -> None:
    async with FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1) as tg:
        bots = await shared_bots(tg, tmp_path, redis_url, 3)
        try:
            chats = range(5001, 5031)
            # Every worker sends to every chat, all at once: 90 sends, 3 into each chat.
            await asyncio.gather(*(bot.send_message(chat, f"w{i}") for i, bot in enumerate(bots) for chat in chats))
            sent = [(int(r.params["chat_id"]), r.time) for r in tg.requests if r.method == "sendMessage"]
            assert tg.stats.total_429 == 0  # the strict fake refused nothing
            assert len(sent) == 90
            granted = [t for bot in bots for t in _budget(bot).grants]
            assert len(granted) == 90 and max_in_window(granted) <= 30  # the Redis-granted moments
            assert min_gap_per_chat(sent) >= 1.0  # as the fake measured them on arrival
            times = [t for _, t in sent]
            print(  # the figures of the report (pytest -s)
                f"\n3 workers, one token: {len(times)} sends in {max(times) - min(times):.2f} s, "
                f"{(len(times) - 1) / (max(times) - min(times)):.1f}/s; max in any 1 s: granted "
                f"{max_in_window(granted)}, arrived {max_in_window(times)}; min gap in a chat "
                f"{min_gap_per_chat(sent):.3f} s"
            )
        finally:
            for bot in bots:
                await bot.session.close()


def _budget(bot: Bot) -> RedisBudget:
    limiter = limiter_of(bot)
    assert limiter is not None and isinstance(limiter.shared, RedisBudget)
    return limiter.shared


@pytest.mark.slow
async def test_a_429_through_one_bot_holds_the_other_workers_sends(tmp_path: Path, redis_url: str) -> None:
    async with FakeTelegram(rate_limited=True) as tg:
        first, second = await shared_bots(tg, tmp_path, redis_url, 2)
        try:
            tg.fail_next("sendMessage", 429, retry_after=1)
            answered = asyncio.create_task(first.send_message(501, "раз"))  # 429, then retried
            one = limiter_of(first)
            assert one is not None
            while one.stats.paused == 0:  # noqa: ASYNC110 - the first request's round trip
                await asyncio.sleep(0.01)
            await one.idle()
            await second.send_message(502, "два")
            await answered
            refused = next(r for r in tg.requests if r.status == 429)
            through_second = next(r for r in tg.requests if r.params.get("chat_id") == 502)
            assert through_second.time - refused.time >= 0.95  # the other worker waited out the pause
            assert [m.plain for m in tg.sent(501)] == ["раз"]
        finally:
            for bot in (first, second):
                await bot.session.close()


async def test_telegram_and_max_bots_each_get_their_tokens_shared_budget(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, max_token="max-secret-token", max_api_url="http://127.0.0.1:1",
                             redis_url=redis_url)
    telegram, max_bot = build_bots(settings)
    assert max_bot is not None
    try:
        keys = [_budget(bot).key for bot in (telegram, max_bot)]
        assert keys == [budget_key("schoolbot", "telegram", TOKEN), budget_key("schoolbot", "max", "max-secret-token")]
        assert not any("secret" in key or "TEST-TOKEN" in key for key in keys)
    finally:
        await telegram.session.close()
        await max_bot.session.close()


class BrokenBudget(FlakyBudget):
    async def reserve(
        self, chat_id: int | str | None, *, rate: float, bulk_rate: float | None, chat_interval: float | None,
        flight: float = 0.0,
    ) -> Verdict:
        raise RuntimeError("a bug in the budget")


async def test_a_broken_budget_never_stalls_the_sends(caplog: pytest.LogCaptureFixture) -> None:
    limiter = SendLimiter(rate=30, now=FakeTime(), shared=BrokenBudget(down=0))
    with caplog.at_level(logging.WARNING, logger="bot.tg.limiter"):
        await asyncio.wait_for(limiter.acquire(1), timeout=5)
        await asyncio.wait_for(limiter.acquire(2), timeout=5)
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]  # the traceback, then the one line
    await limiter.aclose()
