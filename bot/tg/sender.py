"""The outbox sender: drains due outbox rows at Telegram's pace and survives its errors.

Pacing is not the sender's own: every send passes the one limiter of the Bot's session
(`bot.tg.limiter`), as bulk work, so a direct answer to a user always goes before it. The limiter
applies the global budget (`settings.send_rate`), the bulk cap (`settings.outbox_rate`, default
25/s) and one second per chat. A row addresses a person: each round resolves the account every due
row goes to (bot/tg/sender_row.py), and the sender only avoids picking rows whose chat is not free
yet (or whose person has a send in flight), so a slow chat does not hold a sending slot. A Bot without a limited session
(a test's plain bot) gets a limiter of the sender's own, so there is still exactly one. Whether a
row is *due* is decided by the injected clock (a ManualClock in tests), so tests move time without
sleeping and the pace stays real.

Throughput: sends run as tasks, up to `concurrency` at once, so API latency does not reduce the
pace; the limiter alone decides when the next send starts.

Errors:
- 429 (TelegramRetryAfter): every send pauses for retry_after (the limiter's pause), the row is
  retried; a rate limit is not a failed attempt.
- 403 (blocked, deactivated) and 400 "chat not found" (MAX: 404 chat.not.found): in a district, when
  the school's other bot on that messenger has been written to by the account (the district bot
  beside the school's own), the row goes there instead. Otherwise that account is marked
  unreachable; the row goes to the person's other messenger when they have one served, else all
  their pending rows are cancelled; linking again (/start), or writing to a district's bot, clears
  the mark.
- other 400s cannot succeed on retry: dead letter at once.
- 5xx, network errors, timeouts, renderer failures: exponential backoff with jitter, then a dead
  letter after MAX_ATTEMPTS (visible in /admin, retryable from there).

Several workers (processes, on one host or several) may run a sender each on one database: rows
are claimed under leases (storage/delivery.py, whose docstring states the guarantee and its limit),
so no two workers send a row at once and a dead worker's rows are taken over. While it works, a
sender's keeper renews the leases it holds every KEEP_EVERY seconds and frees those of dead
processes of its host; a crash leaves rows pending, retried by any worker once their lease is
freed: a send in flight at a crash may be duplicated at most once.

The per-row half (route, render, send, and what each answer above means for the row) is
bot/tg/sender_row.py; this module holds the loop: picking, claiming and pacing rows, sends in
flight, start and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime

from aiogram import Bot

from bot.channels import Channel, ChannelPolicy, ChannelRules
from bot.clock import Clock, SystemClock
from bot.config import Settings, startup_text
from bot.i18n import Catalog
from bot.max import channel_of
from bot.services.ports import Renderer
from bot.tg.limiter import SendLimiter, limiter_of
from bot.tg.sender_row import RowSender, SenderStats, Target
from bot.tg.startup import StateLog, write_failure
from bot.unit_of_work import UnitOfWork
from storage.delivery import LEASE, DeliveryRepo, OutboxRow
from storage.messengers import MessengerRepo
from storage.people import PersonRepo

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
# Real seconds between the keeper's rounds: renew the leases held (those with less than half of
# LEASE left), free the leases of dead processes of this host.
KEEP_EVERY = 10.0


class OutboxSender(RowSender):
    """``bot`` is the primary wire (Telegram, or MAX for a MAX-only school); ``max_bot`` adds MAX;
    ``district`` the district's bots beside a school's own in a district (bot/multibot.py).

    Every row is routed at send time to an account of its person on a served wire: the preferred
    channel when the policy lets it carry the row's data class, else another channel they are
    reachable on that may, else the pointer text (and, for a code or a file, the paper path in the
    send log). Without a policy (a Telegram-only school without ``[channels]``) every wire carries
    everything. On that wire the message goes by a bot that reaches the account (bot/reach.py `via`):
    the school's own if the person has written to it, else the district bot, which carries the
    school's name and passes the school's send guard (bot/multibot.py DistrictSession).
    """

    def __init__(
        self,
        bot: Bot,
        *,
        db: UnitOfWork,
        clock: Clock,
        people: PersonRepo,
        catalog: Catalog,
        settings: Settings,
        renderers: Mapping[str, Renderer],
        wakeup: asyncio.Event,
        rules: ChannelRules,
        max_bot: Bot | None = None,
        district: Mapping[Channel, Bot] | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        lease_clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        # Leases measure real time (storage/delivery.py): not the app clock, which tests and the
        # sandbox move by hours. Tests of the leases themselves pass a ManualClock.
        self.lease_clock = lease_clock or SystemClock()
        self.people = people
        self.catalog = catalog
        self.settings = settings
        self.renderers = renderers
        self.wakeup = wakeup
        self.bot = bot
        self.wires: dict[Channel, Bot] = {channel_of(bot): bot}
        if max_bot is not None:
            self.wires[Channel.MAX] = max_bot
        self.district = dict(district or {})
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
        self._inflight_people: dict[int, int] = {}  # person (or -row id) -> sends in flight
        self._held: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._health = StateLog(log)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-sender")
        self._keeper = asyncio.create_task(self._keep(), name="outbox-lease-keeper")

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop taking rows, wait (bounded) for the sends in flight, release unsent leases."""
        self._stopping = True
        self.wakeup.set()
        for task in (self._task, self._keeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._keeper = None
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
        self._inflight_people.clear()
        self._held.clear()
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

    async def _keep(self) -> None:
        """The keeper: renew the leases held before they run short, free dead neighbours' leases."""
        while True:
            await asyncio.sleep(KEEP_EVERY)
            try:
                await self.keep_leases()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The loop's own round reports a database that fails; a renewal that could not be
                # written leaves the leases to run short, and no send starts on a short lease.
                log.debug("outbox lease keeper round failed", exc_info=True)

    async def keep_leases(self) -> None:
        """One keeper round (tests call it after moving the lease clock)."""
        now = self.lease_clock.now()
        short = [row_id for row_id, until in self._held.items() if until - now < LEASE / 2]
        if short:
            renewed = await self.repo.renew(short, now)
            for row_id in short:
                if row_id in renewed:
                    self._held[row_id] = renewed[row_id]
                else:
                    # Taken over (or finished): its send, if not started, will not start.
                    self._held.pop(row_id, None)
        released = await self.repo.release_orphans()
        if released:
            log.info("took over %d outbox message(s) left by a stopped worker", released)
            self.wakeup.set()

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
        rows = await self.repo.due(self.clock.now(), self.lease_clock.now(), batch, set(self._inflight))
        if not rows:
            return 0, 1.0
        # Enqueued for someone who blocked the bot since: never send until they /start again.
        gone = [r.id for r in rows if r.unreachable]
        if gone:
            await self.repo.cancel(gone, "unreachable")
            rows = [r for r in rows if not r.unreachable]
        reaches = await self.messengers.reaches(r.person_id for r in rows if r.person_id is not None)
        picked: list[tuple[OutboxRow, Target]] = []
        nowhere: list[int] = []
        people: set[int] = set()
        soonest = 1.0
        for row in rows:
            target = self._target(row, reaches.get(row.person_id) if row.person_id is not None else None)
            if target is None:
                nowhere.append(row.id)
                continue
            key = _person_key(row)
            if key in people or key in self._inflight_people:
                continue  # one message per person at a time: the next one waits a second anyway
            delay = (limiter_of(target.bot) or self.limiter).chat_delay(target.chat_id)
            if delay > 0:
                soonest = min(soonest, delay)
                continue
            people.add(key)
            picked.append((row, target))
        if nowhere:
            self.stats.unreachable += len(nowhere)
            await self.repo.cancel(nowhere, "unreachable on every channel")
        if not picked:
            return 0, soonest
        claimed = await self.repo.claim([r.id for r, _ in picked], self.clock.now(), self.lease_clock.now())
        self._held.update(claimed)
        picked = [(r, target) for r, target in picked if r.id in claimed]
        started = 0
        for index, (row, target) in enumerate(picked):
            await self._wait_pause()
            await self._slots.acquire()
            if self._stopping:
                self._slots.release()
                left = [r.id for r, _ in picked[index:]]
                for row_id in left:
                    self._held.pop(row_id, None)
                await self.repo.release(left)
                break
            key = _person_key(row)
            self._inflight_people[key] = self._inflight_people.get(key, 0) + 1
            task = asyncio.create_task(self._send(row, target), name=f"outbox-send-{row.id}")
            self._inflight[row.id] = task
            started += 1
        return started, soonest

    # --- one send -------------------------------------------------------------------------------

    async def _send(self, row: OutboxRow, target: Target) -> None:
        try:
            await self._attempt(row, target)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Recording the outcome failed (e.g. the database closed under us): the lease expires
            # and the row is retried, which is the at-least-once side of the contract.
            log.exception("outbox row %s: could not record the outcome", row.id)
        finally:
            self._inflight.pop(row.id, None)
            self._held.pop(row.id, None)
            key = _person_key(row)
            left = self._inflight_people.pop(key, 1) - 1
            if left > 0:
                self._inflight_people[key] = left
            self._slots.release()


def _person_key(row: OutboxRow) -> int:
    return row.person_id if row.person_id is not None else -row.id
