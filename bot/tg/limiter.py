"""One rate limiter for every Bot API request that sends, at the aiogram session layer.

Telegram allows a bot about 30 messages per second overall and about one per second in a chat;
beyond that it answers 429 with retry_after. Direct answers to a user's own action and the outbox's
bulk work share that budget, so they pass ONE limiter, built into the session by
`bot.app.build_bot`:

- a global token bucket (`send_rate`, default 30/s) for every send;
- a bulk cap (`outbox_rate`) only for bulk work, inside the global budget;
- one "next allowed moment" per chat: 1 s (plus a small margin) after the previous send to that
  chat COMPLETED, not after it was granted (see `CHAT_MARGIN` and `slot`);
- two priorities: a waiting direct answer always gets the next free slot before any bulk send,
  so a reply waits behind at most the bulk sends already granted, never behind a backlog;
- a 429 from Telegram pauses every send until retry_after has passed.

What is a send: every method that posts a message into a chat (sendMessage, sendPhoto,
sendDocument, copyMessage, ...). Edits of the bot's own messages pass the global bucket only
(Telegram counts them against the bot's overall flood limit, not as new messages in the chat);
answerCallbackQuery, getUpdates, setMyCommands and other calls are not paced.

Bulk work marks itself with `bulk_sends()` (a context variable, so it covers exactly the calls
made inside it); everything else is a direct answer. Time comes from an injectable monotonic
`now` so unit tests move it by hand; waiting uses the event loop's timers, re-checked by `wake()`.

Several workers (issue #27): Telegram counts per token, not per process. With a `SharedBudget`
(bot/tg/redis_rate.py, when REDIS_URL is set) the limiter still orders its own waiters (priorities,
busy chats), but the send it picks goes only once the shared budget grants it: the global, bulk and
per-chat paces and a 429's pause then hold for every process sending with the token. One request to
the shared budget is in flight at a time per limiter, so the local order is the order of asking. A
refusal says how long to wait (global, bulk or that chat), which the limiter keeps as local holds.
When the shared budget cannot be reached, the limiter paces this process alone (as without Redis),
logs one line, and asks again after `SHARED_RETRY` seconds; see docs/redis.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientSession

from bot.tg.send_deadline import check_send

log = logging.getLogger(__name__)

# Methods that put a new message into a chat: global bucket + the chat's own pace.
SEND_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendAudio", "sendVideo", "sendAnimation", "sendVoice",
    "sendVideoNote", "sendMediaGroup", "sendLocation", "sendVenue", "sendContact", "sendPoll",
    "sendDice", "sendSticker", "sendPaidMedia", "sendInvoice", "sendGame", "copyMessage",
    "copyMessages", "forwardMessage", "forwardMessages",
})
# Methods that change a message already in the chat: global bucket only.
EDIT_METHODS = frozenset({
    "editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup",
    "editMessageLiveLocation", "stopMessageLiveLocation", "stopPoll",
})

# Telegram's per-chat guidance is "about one message per second", measured where the platform receives
# the sends. A grant is not an arrival: between the limiter's grant and the request reaching the
# platform lie the event loop's lag (a loaded worker resumes the granted task late), building and
# writing the request, the network. With the next send paced from the previous one's GRANT, a first
# send that arrived late and a second that arrived on time came closer than a second: 15-17 sends
# per end-to-end run of tests/test_district_workers.py were answered 429 on a loaded machine with a
# margin of 0.1 s, and no constant margin is safe against an unbounded lag. So the chat's next moment
# is counted from when the previous send COMPLETED (its answer came back, so it had arrived), and the
# chat is held while a send to it is in flight (`slot`): the next send is granted no earlier than the
# previous one's arrival plus the interval, whatever the lag, and it arrives later still. The margin
# now only covers where the platform stamps a send against where it checks the rate (the fake stamps a
# moment after its check, bench/district_common.py STAMP_SLACK) and clock granularity.
CHAT_MARGIN = 0.1
# With several workers, how long the shared budget holds a chat for a send in flight before the hold
# lapses by itself (a worker that died mid-send must not silence the chat for long; a send still in
# flight after this long has reached the platform, or failed, in practice). The sending worker's own
# limiter holds the chat until the send ends, however long.
CHAT_FLIGHT_HOLD = 5.0
# Float drift of token arithmetic: a bucket this close to a whole token has it.
_EPS = 1e-9
# Bounded retries of a direct answer answered 429 (bulk work records its own retry instead).
INTERACTIVE_429_RETRIES = 3


# Seconds this process paces itself alone after the shared budget failed, before asking it again.
SHARED_RETRY = 5.0


class SharedBudgetUnavailable(Exception):
    """The shared budget could not be asked (Redis down or too slow); the limiter goes on alone."""


@dataclass(frozen=True)
class Verdict:
    """The shared budget's answer: granted, or how long to wait before asking again (seconds; each
    0 when that part is not what holds the send)."""

    granted: bool
    wait: float = 0.0  # the token's global pace or a 429's pause: holds every send
    bulk_wait: float = 0.0  # the bulk cap: holds bulk sends
    chat_wait: float = 0.0  # the chat's own pace: holds sends to that chat


class SharedBudget(Protocol):
    """One token's send budget shared by every process that sends with it (bot/tg/redis_rate.py).
    The limiter passes its own rates, so the shared and the local paces are one configuration."""

    async def reserve(
        self, chat_id: int | str | None, *, rate: float, bulk_rate: float | None, chat_interval: float | None,
        flight: float = 0.0,
    ) -> Verdict:
        """Take one send now if the budget allows (`bulk_rate` set: a bulk send; `chat_interval` set:
        a send into `chat_id` paced per chat; `flight` > 0: the chat is held that much longer, until
        `sent` says the send ended). Raises SharedBudgetUnavailable."""
        ...

    async def sent(self, chat_id: int | str, *, chat_interval: float) -> None:
        """The send to `chat_id` granted with a `flight` hold ended: the chat's next moment is
        `chat_interval` from now (from the completion, not the grant). Raises SharedBudgetUnavailable."""
        ...

    async def pause(self, seconds: float) -> None:
        """The messenger answered 429: no send with this token anywhere for `seconds`."""
        ...

    async def close(self) -> None: ...


class Priority(enum.IntEnum):
    INTERACTIVE = 0  # the direct answer to a user's own action
    BULK = 1  # outbox, broadcasts: nobody is watching the clock for one message


_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar("send_priority", default=Priority.INTERACTIVE)


@contextlib.contextmanager
def bulk_sends() -> Iterator[None]:
    """Mark the sends made inside as bulk work (served after every waiting direct answer)."""
    token = _priority.set(Priority.BULK)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    return _priority.get()


@dataclass
class LimiterStats:
    granted: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(Priority, 0))
    paused: int = 0  # 429 pauses
    # For each granted direct answer: how many bulk sends were granted while it waited.
    overtaken: list[int] = field(default_factory=list)


@dataclass(eq=False)
class _Waiter:
    priority: Priority
    seq: int
    chat_id: int | str | None
    per_chat: bool
    future: asyncio.Future[None]
    bulk_seen: int  # LimiterStats.granted[BULK] when it started waiting
    holds: bool = False  # granted, the chat is in flight until `sent` (SendLimiter.slot)


class SendLimiter:
    """Global, bulk and per-chat pacing with priorities; see the module docstring."""

    def __init__(
        self,
        *,
        rate: float = 30.0,
        bulk_rate: float | None = None,
        per_chat_rate: float = 1.0,
        chat_margin: float = CHAT_MARGIN,
        burst: float | None = None,
        now: Callable[[], float] = time.monotonic,
        shared: SharedBudget | None = None,
    ) -> None:
        if rate <= 0 or per_chat_rate <= 0 or (bulk_rate is not None and bulk_rate <= 0):
            raise ValueError("rates must be positive")
        self.rate = rate
        self.bulk_rate = min(rate, bulk_rate or rate)
        self.chat_interval = 1.0 / per_chat_rate + chat_margin
        self._now = now
        # A third of a second of burst: after an idle spell the first replies go at once, while at
        # steady state the server's own bucket (Telegram's is about a second deep) is never drained.
        self._burst = max(1.0, burst if burst is not None else rate / 3)
        self._bulk_burst = max(1.0, self.bulk_rate / 3)
        start = now()
        self._tokens = self._burst
        self._bulk_tokens = self._bulk_burst
        self._stamp = start
        self._chat_next: dict[int | str, float] = {}
        # Chats with a send in flight (granted through `slot`, not yet ended): held until it ends.
        self._in_flight: dict[int | str, int] = {}
        self._paused_until = start
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self.stats = LimiterStats()
        # The shared budget (several workers), the holds its refusals set, and its health.
        self.shared = shared
        self._held_until = start  # the shared global pace or another worker's 429
        self._bulk_held_until = start  # the shared bulk cap
        self._asking: asyncio.Task[None] | None = None
        self._pausing: set[asyncio.Task[None]] = set()  # 429 pauses and ended sends told to the budget
        self._shared_down = False
        self._shared_retry_at = start

    # --- state ------------------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self._burst, self._tokens + elapsed * self.rate)
        self._bulk_tokens = min(self._bulk_burst, self._bulk_tokens + elapsed * self.bulk_rate)
        self._stamp = max(self._stamp, now)

    def paused_for(self) -> float:
        """Seconds left of a 429 pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._now())

    def chat_delay(self, chat_id: int | str) -> float:
        """Seconds until `chat_id` may get its next message (0: now). Lets the outbox skip busy chats;
        a chat with a send in flight is at least a chat interval away."""
        delay = max(0.0, self._chat_next.get(chat_id, 0.0) - self._now())
        return max(delay, self.chat_interval) if chat_id in self._in_flight else delay

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def pause(self, seconds: float) -> None:
        """Telegram answered 429: no send at all until `seconds` have passed (in every worker, when
        the budget is shared)."""
        until = self._now() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.stats.paused += 1
        # Telegram's bucket is empty: start again from an empty one as well.
        self._tokens = min(self._tokens, 0.0)
        self._bulk_tokens = min(self._bulk_tokens, 0.0)
        self._stamp = max(self._stamp, self._paused_until)
        if self._shared_usable(self._now()):
            assert self.shared is not None
            shared = self.shared
            self._publish(lambda: shared.pause(seconds))
        self.wake()

    def sent(self, chat_id: int | str) -> None:
        """A send to `chat_id` granted through `slot` has ended (answered, refused or failed): the chat
        is no longer in flight, and its next message waits a chat interval from NOW, the send's
        completion, however late the request left after its grant (see CHAT_MARGIN)."""
        left = self._in_flight.get(chat_id, 0) - 1
        if left > 0:
            self._in_flight[chat_id] = left
        else:
            self._in_flight.pop(chat_id, None)
        now = self._now()
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), now + self.chat_interval)
        if self._shared_usable(now):
            assert self.shared is not None
            shared, interval = self.shared, self.chat_interval
            self._publish(lambda: shared.sent(chat_id, chat_interval=interval))
        self.wake()

    def _publish(self, request: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Tell the shared budget something (a 429's pause, a send's end) without holding the caller.
        `request` makes the call's coroutine only when its task runs: a task cancelled before it starts
        (the limiter closing) leaves no coroutine that was never awaited."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside a loop (a unit test moving time by hand): nothing to tell it with
            return
        task = loop.create_task(self._publish_one(request))
        self._pausing.add(task)
        task.add_done_callback(self._pausing.discard)

    async def _publish_one(self, request: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await request()
        except SharedBudgetUnavailable:
            self._shared_failed()
        except Exception:
            log.exception("the shared send budget failed")
            self._shared_failed()

    # --- granting --------------------------------------------------------------------------------

    def _grant_delay(self, waiter: _Waiter, now: float) -> float:
        """0 when `waiter` may go now, else how long until it might."""
        delay = max(self._paused_until, self._held_until) - now
        if self._tokens < 1.0 - _EPS:
            delay = max(delay, (1.0 - self._tokens) / self.rate)
        if waiter.priority is Priority.BULK:
            delay = max(delay, self._bulk_held_until - now)
            if self._bulk_tokens < 1.0 - _EPS:
                delay = max(delay, (1.0 - self._bulk_tokens) / self.bulk_rate)
        if waiter.per_chat and waiter.chat_id is not None:
            if waiter.chat_id in self._in_flight:
                return float("inf")  # until that send ends (`sent` wakes the limiter)
            delay = max(delay, self._chat_next.get(waiter.chat_id, 0.0) - now)
        return delay if delay > _EPS else 0.0

    def _take(self, waiter: _Waiter, now: float) -> None:
        self._tokens -= 1.0
        if waiter.priority is Priority.BULK:
            self._bulk_tokens -= 1.0
        if waiter.per_chat and waiter.chat_id is not None:
            # Reserved from the grant; a send through `slot` is also held until it ends, and restamped then.
            self._chat_next[waiter.chat_id] = max(now, self._chat_next.get(waiter.chat_id, 0.0)) + self.chat_interval
            if waiter.holds:
                self._in_flight[waiter.chat_id] = self._in_flight.get(waiter.chat_id, 0) + 1
            if len(self._chat_next) > 20_000:
                self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        self.stats.granted[waiter.priority] += 1
        if waiter.priority is Priority.INTERACTIVE:
            self.stats.overtaken.append(self.stats.granted[Priority.BULK] - waiter.bulk_seen)
            del self.stats.overtaken[:-1000]

    def wake(self) -> None:
        """Grant every waiter that may go now, in priority order; arm a timer for the rest. With a
        shared budget, the first waiter that may go is put to it instead (its answer wakes again)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._asking is not None:
            return
        now = self._now()
        shared = self._shared_usable(now)
        self._refill(now)
        self._waiters = [w for w in self._waiters if not w.future.done()]  # cancelled callers
        self._waiters.sort(key=lambda w: (w.priority, w.seq))
        soonest = float("inf")
        blocked: set[Priority] = set()
        for waiter in list(self._waiters):
            if waiter.priority in blocked:
                continue
            delay = self._grant_delay(waiter, now)
            if delay > 0:
                soonest = min(soonest, delay)
                # A direct answer held only by its own chat must not hold bulk work to other chats;
                # one held by the global bucket (or a pause) holds everything behind it, or bulk
                # sends would take the very token it is waiting for.
                chat_only = waiter.per_chat and self._global_ready(waiter, now)
                if not chat_only:
                    blocked.update(p for p in Priority if p >= waiter.priority)
                continue
            if shared:
                self._asking = asyncio.get_running_loop().create_task(self._ask(waiter))
                return
            self._take(waiter, now)
            self._waiters.remove(waiter)
            waiter.future.set_result(None)
        if self._waiters and soonest < float("inf"):
            self._arm(soonest)

    def _global_ready(self, waiter: _Waiter, now: float) -> bool:
        if max(self._paused_until, self._held_until) > now + _EPS or self._tokens < 1.0 - _EPS:
            return False
        if waiter.priority is Priority.BULK and self._bulk_held_until > now + _EPS:
            return False
        return not (waiter.priority is Priority.BULK and self._bulk_tokens < 1.0 - _EPS)

    # --- the shared budget (several workers) ----------------------------------------------------

    def _shared_usable(self, now: float) -> bool:
        return self.shared is not None and (not self._shared_down or now >= self._shared_retry_at)

    def _shared_failed(self) -> None:
        self._shared_retry_at = self._now() + SHARED_RETRY
        if not self._shared_down:
            self._shared_down = True
            # One line per outage, not one per send: the process paces itself meanwhile.
            log.warning("the shared send budget (Redis) is unreachable: this process paces its sends alone "
                        "and asks again every %s s", SHARED_RETRY)

    async def _ask(self, waiter: _Waiter) -> None:
        """Put `waiter`'s send to the shared budget; grant it, or keep the refusal's waits as holds."""
        assert self.shared is not None
        verdict: Verdict | None = None
        try:
            verdict = await self.shared.reserve(
                waiter.chat_id if waiter.per_chat else None,
                rate=self.rate,
                bulk_rate=self.bulk_rate if waiter.priority is Priority.BULK else None,
                chat_interval=self.chat_interval if waiter.per_chat and waiter.chat_id is not None else None,
                flight=CHAT_FLIGHT_HOLD if waiter.holds and waiter.per_chat and waiter.chat_id is not None else 0.0,
            )
        except SharedBudgetUnavailable:
            self._shared_failed()
        except Exception:
            # A bug of the budget must not stall every send of the process: paced alone, as when
            # Redis is down, with the traceback in the log once.
            log.exception("the shared send budget failed")
            self._shared_failed()
        finally:
            self._asking = None
        now = self._now()
        if verdict is not None and self._shared_down:
            self._shared_down = False
            log.warning("the shared send budget (Redis) is reachable again")
        if verdict is not None and verdict.granted:
            if not waiter.future.done():
                self._refill(now)
                self._take(waiter, now)
                self._waiters.remove(waiter)
                waiter.future.set_result(None)
            elif waiter.holds and waiter.chat_id is not None:
                # The caller cancelled meanwhile: its slot is unused, and the chat's hold is let go.
                shared, chat, interval = self.shared, waiter.chat_id, self.chat_interval
                self._publish(lambda: shared.sent(chat, chat_interval=interval))
        elif verdict is not None:
            self._held_until = max(self._held_until, now + verdict.wait)
            self._bulk_held_until = max(self._bulk_held_until, now + verdict.bulk_wait)
            if verdict.chat_wait > 0 and waiter.chat_id is not None:
                self._chat_next[waiter.chat_id] = max(self._chat_next.get(waiter.chat_id, 0.0), now + verdict.chat_wait)
        self.wake()

    async def idle(self) -> None:
        """Wait until no request to the shared budget is in flight (what the limiter can decide now
        is decided): tests moving the clock by hand wait on this, not on time."""
        while self._asking is not None or self._pausing:
            pending = [t for t in (self._asking, *self._pausing) if t is not None]
            await asyncio.wait(pending)

    def _arm(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop (a unit test moving time by hand)
            return
        self._timer = loop.call_later(delay, self.wake)

    async def acquire(
        self, chat_id: int | str | None, *, per_chat: bool = True, priority: Priority | None = None
    ) -> None:
        """Wait for a slot to send to `chat_id` (None: no chat, e.g. an inline message edit). The
        chat's next moment is reserved from the grant; a send should rather go through `slot`."""
        await self._acquire(chat_id, per_chat=per_chat, priority=priority, holds=False)

    async def _acquire(
        self, chat_id: int | str | None, *, per_chat: bool, priority: Priority | None, holds: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(
            priority=current_priority() if priority is None else priority,
            seq=next(self._seq),
            chat_id=chat_id,
            per_chat=per_chat,
            future=loop.create_future(),
            bulk_seen=self.stats.granted[Priority.BULK],
            holds=holds and per_chat and chat_id is not None,
        )
        self._waiters.append(waiter)
        self.wake()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if waiter.holds and waiter.future.done() and not waiter.future.cancelled():
                # Granted, then cancelled before it could send: the chat is not left in flight.
                assert chat_id is not None
                self.sent(chat_id)
            raise

    @contextlib.asynccontextmanager
    async def slot(
        self, chat_id: int | str | None, *, per_chat: bool = True, priority: Priority | None = None
    ) -> AsyncIterator[None]:
        """Wait for a slot to send to `chat_id`, and hold the chat while the send inside runs: the
        chat's next send is granted a chat interval after this one ENDS (CHAT_MARGIN says why)."""
        holds = per_chat and chat_id is not None
        await self._acquire(chat_id, per_chat=per_chat, priority=priority, holds=holds)
        try:
            yield
        finally:
            if holds:
                assert chat_id is not None
                self.sent(chat_id)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in (self._asking, *self._pausing):
            if task is not None:
                task.cancel()

    async def aclose(self) -> None:
        """close(), then the shared budget's connection."""
        self.close()
        pending = [t for t in (self._asking, *self._pausing) if t is not None]
        if pending:
            await asyncio.wait(pending)
        if self.shared is not None:
            await self.shared.close()


def _method_name(method: TelegramMethod[Any]) -> str:
    return str(getattr(method, "__api_method__", type(method).__name__))


class LimitedSession(AiohttpSession):
    """The aiohttp session every Bot of the application uses: each send passes `limiter` first.

    A 429 on any request pauses the limiter for retry_after. A direct answer is then retried (a few
    times at most) so the user still gets it; bulk work gets the error and records its own retry.
    """

    def __init__(self, limiter: SendLimiter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limiter = limiter
        self._resetting = False

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = _method_name(method)
        if name not in SEND_METHODS and name not in EDIT_METHODS:
            return await super().make_request(bot, method, timeout)
        chat_id = getattr(method, "chat_id", None)
        per_chat = name in SEND_METHODS
        attempt = 0
        while True:
            # The chat is held until the request ends: its next send is paced from this one's end.
            async with self.limiter.slot(chat_id, per_chat=per_chat):
                check_send()  # an outbox send whose lease lapsed while it waited never leaves
                try:
                    return await super().make_request(bot, method, timeout)
                except TelegramRetryAfter as exc:
                    self.limiter.pause(exc.retry_after)
                    attempt += 1
                    if current_priority() is Priority.BULK or attempt > INTERACTIVE_429_RETRIES:
                        raise
                    # The MAX session (bot/max/limited.py) shares this path: the log names the messenger.
                    messenger = "MAX" if getattr(self, "channel", None) == "max" else "Telegram"
                    log.warning("%s asks to wait %s s before %s; the answer is retried", messenger, exc.retry_after,
                                name)

    async def create_session(self) -> ClientSession:
        # aiogram closes the session before its first connection (a connector reset); that close is
        # not the Bot's end, so the limiter (and its shared budget's connection) must live on.
        self._resetting = True
        try:
            return await super().create_session()
        finally:
            self._resetting = False

    async def close(self) -> None:
        if not self._resetting:
            await self.limiter.aclose()
        await super().close()


def limiter_of(bot: Bot) -> SendLimiter | None:
    """The limiter built into `bot`'s session, if it has one."""
    session = bot.session
    return session.limiter if isinstance(session, LimitedSession) else None
