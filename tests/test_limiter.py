"""The one send limiter: unit tests on a hand-moved monotonic clock (no waiting for deadlines), the
session that applies it to every send, and end to end: a direct answer during a broadcast."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from bot.app import build_bot
from bot.fakeapi import FakeTelegram
from bot.tg.limiter import LimitedSession, Priority, SendLimiter, bulk_sends, current_priority, limiter_of
from tests.delivery_helpers import add_people, drained, enqueue_texts, wait_until
from tests.harness import make_settings, running_bot


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def start(limiter: SendLimiter, chat: int | None, priority: Priority, *, per_chat: bool = True) -> asyncio.Task[None]:
    return asyncio.create_task(limiter.acquire(chat, per_chat=per_chat, priority=priority))


async def advance(limiter: SendLimiter, clock: FakeTime, seconds: float) -> None:
    clock.now += seconds
    limiter.wake()
    await settle()


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_global_rate_paces_sends_to_different_chats() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=10, burst=1, now=clock)
    tasks = [start(limiter, chat, Priority.BULK) for chat in range(1, 5)]
    await settle()
    assert [t.done() for t in tasks] == [True, False, False, False]
    await advance(limiter, clock, 0.05)
    assert sum(t.done() for t in tasks) == 1  # half a token
    await advance(limiter, clock, 0.05)
    assert sum(t.done() for t in tasks) == 2
    await advance(limiter, clock, 0.5)
    assert sum(t.done() for t in tasks) == 3  # the bucket holds one token at most (burst 1)
    await advance(limiter, clock, 0.1)
    assert all(t.done() for t in tasks)
    limiter.close()


async def test_one_send_per_chat_per_second_without_holding_other_chats() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=30, per_chat_rate=1, now=clock)
    first, second = start(limiter, 7, Priority.INTERACTIVE), start(limiter, 7, Priority.INTERACTIVE)
    await settle()
    assert first.done() and not second.done()
    other = start(limiter, 8, Priority.BULK)
    await settle()
    assert other.done()  # a busy chat holds nobody else
    await advance(limiter, clock, 1.0)
    assert not second.done()  # the nominal second plus a margin against jitter
    await advance(limiter, clock, limiter.chat_interval - 1.0)
    assert second.done()
    assert limiter.chat_delay(7) == pytest.approx(limiter.chat_interval)
    limiter.close()


async def test_a_direct_answer_takes_the_next_slot_before_waiting_bulk_work() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=10, burst=1, now=clock)
    bulk = [start(limiter, 100 + i, Priority.BULK) for i in range(20)]
    await settle()
    assert sum(t.done() for t in bulk) == 1
    reply = start(limiter, 5, Priority.INTERACTIVE)
    await settle()
    assert not reply.done()  # the bucket is empty: nobody jumps it, not even an answer
    await advance(limiter, clock, 0.1)
    assert reply.done() and sum(t.done() for t in bulk) == 1  # the freed slot went to the answer
    assert limiter.stats.overtaken == [0]
    await advance(limiter, clock, 0.1)
    assert sum(t.done() for t in bulk) == 2
    await cancel_all(bulk)
    limiter.close()


async def test_a_direct_answer_waiting_for_its_own_chat_does_not_hold_bulk_work() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=10, burst=1, now=clock)
    await limiter.acquire(5, priority=Priority.INTERACTIVE)
    await advance(limiter, clock, 0.1)
    reply = start(limiter, 5, Priority.INTERACTIVE)  # chat 5 is busy for another second
    bulk = start(limiter, 6, Priority.BULK)
    await settle()
    assert bulk.done() and not reply.done()
    await advance(limiter, clock, limiter.chat_interval)
    assert reply.done()
    limiter.close()


async def test_bulk_work_is_capped_inside_the_global_budget() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=30, bulk_rate=3, burst=30, now=clock)
    bulk = [start(limiter, 100 + i, Priority.BULK) for i in range(5)]
    answers = [start(limiter, 200 + i, Priority.INTERACTIVE) for i in range(5)]
    await settle()
    assert all(t.done() for t in answers)  # the answers still have the global budget
    assert sum(t.done() for t in bulk) == 1  # bulk burst = 1 token at 3/s
    await advance(limiter, clock, 1 / 3)
    assert sum(t.done() for t in bulk) == 2
    await cancel_all(bulk)
    limiter.close()


async def test_a_429_pauses_every_send_until_retry_after() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=30, now=clock)
    limiter.pause(2)
    assert limiter.paused_for() == 2
    waiting = [start(limiter, 1, Priority.INTERACTIVE), start(limiter, 2, Priority.BULK)]
    await settle()
    await advance(limiter, clock, 1.9)
    assert not any(t.done() for t in waiting)
    await advance(limiter, clock, 0.2)
    assert waiting[0].done()  # then one token at a time: Telegram's own bucket starts empty too
    await advance(limiter, clock, 0.1)
    assert all(t.done() for t in waiting)
    assert limiter.stats.paused == 1
    limiter.close()


async def test_a_cancelled_caller_leaves_the_queue_and_edits_ignore_the_chat_pace() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=10, burst=1, now=clock)
    await limiter.acquire(1, priority=Priority.BULK)
    gone = start(limiter, 2, Priority.INTERACTIVE)
    await settle()
    await cancel_all([gone])
    assert limiter.waiting == 0
    edit = start(limiter, 1, Priority.INTERACTIVE, per_chat=False)
    await advance(limiter, clock, 0.1)
    assert edit.done()  # chat 1 had a message 0.1 s ago; an edit only needs the global slot
    limiter.close()


def test_bulk_sends_marks_only_the_calls_inside() -> None:
    assert current_priority() is Priority.INTERACTIVE
    with bulk_sends():
        assert current_priority() is Priority.BULK
    assert current_priority() is Priority.INTERACTIVE


# --- the session ------------------------------------------------------------------------------


async def test_build_bot_paces_every_send_through_one_limiter(tg: FakeTelegram, tmp_path: Path) -> None:
    bot = build_bot(make_settings(tmp_path, bot_token=tg.token, bot_api_url=tg.base_url))
    try:
        limiter = limiter_of(bot)
        assert isinstance(bot.session, LimitedSession) and limiter is not None
        await bot.send_message(501, "раз")
        await bot.send_message(502, "два")
        with bulk_sends():
            await bot.send_message(503, "три")
        await bot.get_me()  # not a send
        assert limiter.stats.granted == {Priority.INTERACTIVE: 2, Priority.BULK: 1}
        message = await bot.send_message(504, "ещё")
        await bot.edit_message_text("ещё раз", chat_id=504, message_id=message.message_id)
        assert limiter.stats.granted[Priority.INTERACTIVE] == 4
    finally:
        await bot.session.close()


async def test_a_direct_answer_answered_429_is_retried_after_the_pause(tg: FakeTelegram, tmp_path: Path) -> None:
    bot = build_bot(make_settings(tmp_path, bot_token=tg.token, bot_api_url=tg.base_url))
    try:
        tg.fail_next("sendMessage", 429, retry_after=1)
        await bot.send_message(501, "ответ")
        assert [m.plain for m in tg.sent(501)] == ["ответ"]
        limiter = limiter_of(bot)
        assert limiter is not None and limiter.stats.paused == 1
    finally:
        await bot.session.close()


# --- a chat's second is counted from the previous send's end, not its grant ----------------------


class _Lag(AiohttpSession):
    """Between the limiter's grant and the request reaching the server, `lag` seconds of the test's
    clock pass (a loaded event loop resuming the granted task late, a slow request), once."""

    clock: FakeTime
    lag: float = 0.0

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.clock.now += self.lag
        self.lag = 0.0
        return await super().make_request(bot, method, timeout)


class LaggingSession(LimitedSession, _Lag):
    """The application's limited session, with `_Lag` between its limiter and the HTTP request."""

    def __init__(self, limiter: SendLimiter, clock: FakeTime, api_url: str) -> None:
        super().__init__(limiter, api=TelegramAPIServer.from_base(api_url, is_local=False))
        self.clock = clock


def lagging_bot(tg: FakeTelegram, limiter: SendLimiter, clock: FakeTime) -> tuple[Bot, LaggingSession]:
    session = LaggingSession(limiter, clock, tg.base_url)
    return Bot(tg.token, session=session), session


async def granted_by_time(clock: FakeTime, limiters: list[SendLimiter], grants: int, step: float = 0.05) -> None:
    """Move the clock in steps (waking each limiter, letting it ask its shared budget) until the limiters
    together have granted `grants` sends."""
    for _ in range(200):
        if sum(sum(each.stats.granted.values()) for each in limiters) >= grants:
            return
        clock.now += step
        for each in limiters:
            each.wake()
        for each in limiters:
            await each.idle()
        await settle()
    raise AssertionError(f"fewer than {grants} grants in {200 * step} s")


async def test_a_send_that_reached_the_platform_late_still_leaves_its_chat_a_second() -> None:
    """The first send to a chat reaches the (strict) fake 0.3 s after the limiter granted it; the next
    one to the chat must still reach it a second or more after, or it is answered 429. Paced from the
    first one's grant (+1.1 s) it came 0.8 s after it; paced from its end, 1.1 s."""
    clock = FakeTime()
    async with FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1, monotonic=clock) as tg:
        limiter = SendLimiter(rate=30, now=clock)
        bot, session = lagging_bot(tg, limiter, clock)
        second: asyncio.Task[Any] | None = None
        try:
            session.lag = 0.3
            await bot.send_message(7, "раз")
            arrived = clock.now
            second = asyncio.create_task(bot.send_message(7, "два"))
            await granted_by_time(clock, [limiter], 2)
            await asyncio.wait({second}, timeout=5)  # its round trip to the fake (a 429 would pause it)
            assert tg.stats.total_429 == 0
            assert second.done() and [m.plain for m in tg.sent(7)] == ["раз", "два"]
            assert clock.now - arrived >= 1.0
        finally:
            if second is not None:
                await cancel_all([second])
            await bot.session.close()


async def test_a_chat_is_held_while_a_send_to_it_is_in_flight() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=30, now=clock)
    async with limiter.slot(7):
        again = start(limiter, 7, Priority.INTERACTIVE)
        other = start(limiter, 8, Priority.BULK)
        await settle()
        assert other.done() and not again.done()  # the chat in flight holds nobody else
        await advance(limiter, clock, 3 * limiter.chat_interval)  # a slow request, still in flight
        assert not again.done()
        assert limiter.chat_delay(7) == pytest.approx(limiter.chat_interval)
    ended = clock.now
    await settle()
    assert not again.done()
    await advance(limiter, clock, limiter.chat_interval - 0.01)
    assert not again.done()
    await advance(limiter, clock, 0.01)
    assert again.done() and clock.now - ended == pytest.approx(limiter.chat_interval)
    limiter.close()


async def test_a_slot_granted_then_cancelled_leaves_its_chat_free() -> None:
    clock = FakeTime()
    limiter = SendLimiter(rate=30, now=clock)

    async def send() -> None:
        async with limiter.slot(7):
            await asyncio.Event().wait()  # a request that never ends: cancelled

    task = asyncio.create_task(send())
    await settle()
    await cancel_all([task])
    await advance(limiter, clock, limiter.chat_interval)
    assert limiter.chat_delay(7) == 0.0
    async with limiter.slot(7):
        pass
    limiter.close()


# --- end to end ----------------------------------------------------------------------------------


async def test_a_direct_answer_waits_behind_few_bulk_sends_during_a_broadcast(tmp_path: Path) -> None:
    # Telegram-like limits on the server and the outbox at the full 30/s: without one limiter the
    # answer competes with the broadcast (429), without priority it queues behind the whole
    # backlog of bulk sends already waiting (a second's worth).
    async with (
        FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1) as tg,
        running_bot(tg, tmp_path, outbox_rate=30) as app,
    ):
        people = await add_people(app, 90)
        bulk_chats = {tg_id for _, tg_id in people}
        await enqueue_texts(app, people, prefix="bulk")

        async def broadcasting() -> bool:
            return tg.stats.accepted_sends >= 40

        await wait_until(broadcasting)
        user = tg.user(777, "Анна")
        mark = len(tg.requests)
        await user.send("/start")
        await tg.wait_for(user.id, timeout=5)
        reply_at = next(
            i for i, r in enumerate(tg.requests) if i >= mark and r.params.get("chat_id") == user.id
            and r.method == "sendMessage"
        )
        ahead = sum(
            1 for r in tg.requests[mark:reply_at] if r.method == "sendMessage" and r.params.get("chat_id") in bulk_chats
        )
        await wait_until(lambda: drained(app), timeout=20)
        assert tg.stats.total_429 == 0
        # Bulk sends started while the update travelled and the handler ran; not the backlog.
        assert ahead <= 8, ahead
        assert app.sender is not None and app.sender.limiter is limiter_of(app.sender.bot)
