"""The outbox sender: drains due outbox rows at Telegram's pace and survives its errors.

Pacing is not the sender's own: every send passes the one limiter of the Bot's session
(`bot.tg.limiter`), as bulk work, so a direct answer to a user always goes before it. The limiter
applies the global budget (`settings.send_rate`), the bulk cap (`settings.outbox_rate`, default
25/s) and one second per chat. The sender only avoids picking rows whose chat is not free yet (or
has a send in flight), so a slow chat does not hold a sending slot. A Bot without a limited session
(a test's plain bot) gets a limiter of the sender's own, so there is still exactly one. Whether a
row is *due* is decided by `app.clock` (a ManualClock in tests), so tests move time without
sleeping and the pace stays real.

Throughput: sends run as tasks, up to `concurrency` at once, so API latency does not reduce the
pace; the limiter alone decides when the next send starts.

Errors:
- 429 (TelegramRetryAfter): every send pauses for retry_after (the limiter's pause), the row is
  retried; a rate limit is not a failed attempt.
- 403 (blocked, deactivated) and 400 "chat not found": the person is marked unreachable and all
  their pending rows are cancelled; linking again (/start) clears the mark.
- other 400s cannot succeed on retry: dead letter at once.
- 5xx, network errors, timeouts, renderer failures: exponential backoff with jitter, then a dead
  letter after MAX_ATTEMPTS (visible in /admin, retryable from there).

Rows are leased while being sent (storage.delivery); a crash leaves them pending, so they are
retried after a restart: a send in flight at a crash may be duplicated at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message

from bot.channels import Channel, ChannelPolicy, ChannelRules, DataClass, Route
from bot.clock import Clock
from bot.config import Settings, startup_text
from bot.i18n import Catalog
from bot.max import channel_of
from bot.services.ports import Renderer
from bot.tg.limiter import Priority, SendLimiter, bulk_sends, limiter_of
from bot.tg.policy import pointer_text
from bot.tg.startup import StateLog, write_failure
from storage.db import Database
from storage.delivery import DeliveryRepo, OutboxRow
from storage.messengers import MessengerRepo
from storage.outbox import Payload
from storage.people import PersonRepo

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE = 2.0  # seconds; attempt n waits about BASE**n, jittered by +-50 %
BACKOFF_CAP = 600.0
REQUEST_TIMEOUT = 20  # seconds per Bot API call
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Target:
    """Where one outbox row goes: the wire, its Bot, the chat there, and whether the pointer text
    goes instead of the message (the channel policy forbids the message there)."""

    channel: Channel
    bot: Bot
    chat_id: int
    pointer: bool


@dataclass
class SenderStats:
    sent: int = 0
    rate_limited: int = 0
    retried: int = 0
    dead: int = 0
    unreachable: int = 0


class OutboxSender:
    """``bot`` is the primary wire (Telegram, or MAX for a MAX-only school); ``max_bot`` adds MAX.

    With MAX served, or a ``[channels]`` section in school.toml, every row with a person is routed at
    send time: the person's preferred channel when the policy lets it carry the row's data class,
    else another channel they are reachable on that may, else the pointer text (and, for a code or a
    file, the paper path in the send log). Without either, rows go to their Telegram chat as before.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        db: Database,
        clock: Clock,
        people: PersonRepo,
        catalog: Catalog,
        settings: Settings,
        renderers: Mapping[str, Renderer],
        wakeup: asyncio.Event,
        rules: ChannelRules,
        max_bot: Bot | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.people = people
        self.catalog = catalog
        self.settings = settings
        self.renderers = renderers
        self.wakeup = wakeup
        self.bot = bot
        self.wires: dict[Channel, Bot] = {channel_of(bot): bot}
        if max_bot is not None:
            self.wires[Channel.MAX] = max_bot
        # Read once: the root sets the policy before the sender starts.
        self.policy: ChannelPolicy | None = rules.policy
        self.messengers = MessengerRepo(db)
        self.repo = DeliveryRepo(db)
        shared = limiter_of(bot)
        self.rate = rate or (shared.bulk_rate if shared else settings.outbox_rate)
        # Enough parallel sends to keep the pace with ~1 s of API latency; bounded.
        self.concurrency = concurrency or max(4, int(self.rate) + 1)
        # The session's limiter paces every send; only a plain Bot needs one of the sender's own.
        self._own_limiter = shared is None
        self.limiter = shared or SendLimiter(
            rate=settings.send_rate, bulk_rate=self.rate, per_chat_rate=settings.outbox_per_chat_rate
        )
        self.stats = SenderStats()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._inflight_chats: dict[int, int] = {}  # chat id -> sends in flight
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._health = StateLog(log)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop taking rows, wait (bounded) for the sends in flight, release unsent leases."""
        self._stopping = True
        self.wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pending = [t for t in self._inflight.values() if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            for task in still:
                task.cancel()
            if still:
                log.warning("stopped with %d send(s) unconfirmed; they are retried at the next start", len(still))
                await asyncio.wait(still, timeout=1.0)
        # Rows claimed but not sent (or cancelled mid-send) go back to the queue for the next start.
        with contextlib.suppress(Exception):
            await self.repo.release_own()
        self._inflight.clear()
        self._inflight_chats.clear()
        if self._own_limiter:
            self.limiter.close()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    # --- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        released = await self.repo.release_orphans()
        if released:
            log.info("resuming %d outbox message(s) left in flight by a stopped process", released)
        while not self._stopping:
            try:
                started, wait = await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A full disk or a folder turned read-only is one line until it is fixed, not one
                # per second; anything else keeps its traceback (once per distinct error).
                failure = write_failure(exc, self.settings.database_path)
                if failure is not None:
                    self._health.fail(failure[0], failure[1], level=logging.ERROR)
                elif self._health.state != repr(exc):
                    log.exception("outbox round failed; retrying in 1 s")
                    self._health.state = repr(exc)
                started, wait = 0, 1.0
            else:
                if self._health.state in ("full", "read_only"):
                    self._health.ok(startup_text("write_recovered"))
                self._health.state = None
            if started == 0:
                await self._idle_wait(wait)

    async def _idle_wait(self, wait: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), timeout=max(0.01, min(1.0, wait)))
        self.wakeup.clear()

    async def _wait_pause(self) -> None:
        # A later 429 may extend the pause while we sleep, hence the loop.
        while (left := self.limiter.paused_for()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)

    async def drain_once(self) -> int:
        """One round: start sending every due row that the buckets allow, wait for those sends.
        Returns the number of rows started (tests and the CLI use it; the loop uses _round)."""
        started, _ = await self._round()
        pending = [t for t in self._inflight.values() if not t.done()]
        if pending:
            await asyncio.wait(pending)
        return started

    async def _round(self) -> tuple[int, float]:
        await self._wait_pause()
        # About two seconds of sends per round: a newly enqueued urgent row waits at most that long.
        batch = max(20, int(self.rate * 2))
        rows = await self.repo.due(self.clock.now(), time.time(), batch, set(self._inflight))
        if not rows:
            return 0, 1.0
        # Enqueued for someone who blocked the bot since: never send until they /start again.
        gone = [r.id for r in rows if r.unreachable]
        if gone:
            await self.repo.cancel(gone, "unreachable")
            rows = [r for r in rows if not r.unreachable]
        picked: list[OutboxRow] = []
        chats: set[int] = set()
        soonest = 1.0
        for row in rows:
            if row.chat_id in chats or row.chat_id in self._inflight_chats:
                continue  # one message per chat at a time: the next one waits a second anyway
            delay = self.limiter.chat_delay(row.chat_id)
            if delay > 0:
                soonest = min(soonest, delay)
                continue
            chats.add(row.chat_id)
            picked.append(row)
        if not picked:
            return 0, soonest
        claimed = await self.repo.claim([r.id for r in picked], time.time())
        picked = [r for r in picked if r.id in claimed]
        started = 0
        for index, row in enumerate(picked):
            await self._wait_pause()
            await self._slots.acquire()
            if self._stopping:
                self._slots.release()
                await self.repo.release([r.id for r in picked[index:]])
                break
            self._inflight_chats[row.chat_id] = self._inflight_chats.get(row.chat_id, 0) + 1
            task = asyncio.create_task(self._send(row), name=f"outbox-send-{row.id}")
            self._inflight[row.id] = task
            started += 1
        return started, soonest

    # --- one send -------------------------------------------------------------------------------

    async def _send(self, row: OutboxRow) -> None:
        try:
            await self._attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Recording the outcome failed (e.g. the database closed under us): the lease expires
            # and the row is retried, which is the at-least-once side of the contract.
            log.exception("outbox row %s: could not record the outcome", row.id)
        finally:
            self._inflight.pop(row.id, None)
            left = self._inflight_chats.pop(row.chat_id, 1) - 1
            if left > 0:
                self._inflight_chats[row.chat_id] = left
            self._slots.release()

    async def _target(self, row: OutboxRow) -> Target | None:
        """The wire and chat for ``row`` (None: the person is reachable on no served channel)."""
        if self.policy is None or row.person_id is None:
            return Target(channel_of(self.bot), self.bot, row.chat_id, pointer=False)
        reach = await self.messengers.reach(row.person_id)
        if reach is None:
            return Target(channel_of(self.bot), self.bot, row.chat_id, pointer=False)
        reachable = [c for c in reach.reachable if c in self.wires]
        route: Route = self.policy.route(DataClass(row.data_class), reach.preferred, reachable)
        if route.channel is None:
            return None
        chat = reach.user_id(route.channel)
        assert chat is not None
        return Target(route.channel, self.wires[route.channel], chat, route.pointer)

    async def _attempt(self, row: OutboxRow) -> None:
        now = self.clock.now
        target = await self._target(row)
        if target is None:
            self.stats.unreachable += 1
            await self.repo.cancel([row.id], "unreachable on every channel")
            return
        try:
            with bulk_sends():
                message = await self._deliver(row, target)
        except TelegramRetryAfter as exc:
            self.stats.rate_limited += 1
            if self._own_limiter and target.bot is self.bot:  # a limited session has paused its limiter already
                self.limiter.pause(exc.retry_after)
            log.warning("Telegram asks to wait %s s; the sender pauses", exc.retry_after)
            await self.repo.mark_retry(row.id, f"429 retry after {exc.retry_after}", now(), count=False)
        except TelegramForbiddenError as exc:
            await self._refused(row, target, f"403 {exc.message}")
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                await self._refused(row, target, f"400 {exc.message}")
            else:
                # A malformed message is not fixed by waiting: dead letter now, with the reason.
                self.stats.dead += 1
                log.error("outbox row %s refused by Telegram: %s", row.id, exc.message)
                await self.repo.mark_dead(row.id, f"400 {exc.message}")
        except Exception as exc:  # 5xx, network errors, timeouts, renderer failures
            attempts = row.attempts + 1
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= MAX_ATTEMPTS:
                self.stats.dead += 1
                log.error("outbox row %s dead after %d attempts: %s", row.id, attempts, error)
                await self.repo.mark_dead(row.id, error)
            else:
                self.stats.retried += 1
                delay = min(BACKOFF_CAP, BACKOFF_BASE**attempts) * random.uniform(0.5, 1.5)
                log.info("outbox row %s failed (%s); retry %d in %.0f s", row.id, error, attempts, delay)
                await self.repo.mark_retry(row.id, error, now() + timedelta(seconds=delay))
        else:
            self.stats.sent += 1
            logged = row.data_class if self.policy is not None else ""
            await self.repo.mark_sent(
                row.id, message.message_id, now(), channel=target.channel.value, data_class=logged,
                outcome="pointer" if target.pointer else "sent",
            )
            if target.pointer and DataClass(row.data_class) in (DataClass.CREDENTIAL, DataClass.PERSONAL_FILE):
                # The card goes on paper from the class teacher: the paper path is on record.
                async with self.db.transaction() as conn:
                    await MessengerRepo.log_send(conn, "paper", DataClass(row.data_class), "paper", now())

    async def _refused(self, row: OutboxRow, target: Target, reason: str) -> None:
        """The chat refuses messages. On one channel of several, that channel is marked and the row
        goes round again (to the person's other channel); otherwise as before: unreachable."""
        if self.policy is None or row.person_id is None:
            await self._unreachable(row, reason)
            return
        now = self.clock.now()
        async with self.db.transaction() as conn:
            if target.channel is Channel.MAX:
                await MessengerRepo.mark_max_unreachable(conn, row.person_id, now)
            else:
                await PersonRepo.mark_unreachable(conn, row.person_id, reason, now)
        self.stats.unreachable += 1
        log.info("outbox row %s: %s refuses delivery (%s); routed again", row.id, target.channel.value, reason)
        await self.repo.mark_retry(row.id, reason, now, count=False)

    async def _unreachable(self, row: OutboxRow, reason: str) -> None:
        self.stats.unreachable += 1
        cancelled = await self.repo.mark_unreachable(row.id, row.person_id, row.chat_id, reason, self.clock.now())
        log.info("chat %s unreachable (%s); %d pending message(s) cancelled", row.chat_id, reason, cancelled)

    async def _pointer(self, row: OutboxRow, target: Target) -> Message:
        assert row.person_id is not None
        person = await self.people.get(row.person_id)
        t = self.catalog.bind((person.lang if person is not None else None) or "ru")
        text = pointer_text(t, DataClass(row.data_class))
        return await target.bot.send_message(target.chat_id, text, request_timeout=REQUEST_TIMEOUT)

    async def _deliver(self, row: OutboxRow, target: Target) -> Message:
        if target.pointer:
            return await self._pointer(row, target)
        payload = Payload.from_json(row.payload)
        markup = InlineKeyboardMarkup.model_validate(payload.reply_markup) if payload.reply_markup else None
        bot, chat_id = target.bot, target.chat_id
        if row.kind == "text":
            if bot is self.bot:
                await self._own_pace(row)
            return await bot.send_message(
                chat_id,
                payload.text or "",
                parse_mode=payload.parse_mode,
                reply_markup=markup,
                protect_content=payload.protect_content,
                request_timeout=REQUEST_TIMEOUT,
            )
        file: BufferedInputFile | str
        if payload.file_id is not None:
            file = payload.file_id
        else:
            renderer = self.renderers.get(payload.renderer or "")
            if renderer is None:
                raise LookupError(f"no renderer {payload.renderer!r}")
            data, filename = await renderer(payload.args)
            file = BufferedInputFile(data, filename=payload.filename or filename)
        if bot is self.bot:
            await self._own_pace(row)
        if row.kind == "photo":
            return await bot.send_photo(
                chat_id, file, caption=payload.text, parse_mode=payload.parse_mode, reply_markup=markup,
                protect_content=payload.protect_content, request_timeout=REQUEST_TIMEOUT,
            )
        return await bot.send_document(
            chat_id, file, caption=payload.text, parse_mode=payload.parse_mode, reply_markup=markup,
            protect_content=payload.protect_content, request_timeout=REQUEST_TIMEOUT,
        )

    async def _own_pace(self, row: OutboxRow) -> None:
        if self._own_limiter:
            await self.limiter.acquire(row.chat_id, priority=Priority.BULK)
