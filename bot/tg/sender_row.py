"""One outbox row's send, for the outbox sender (bot/tg/sender.py): where the row goes (`Target`: the
person's account on the channel their choice and the policy allow, or the pointer text instead; a
row addresses a person, never a chat), rendering and sending it
(text, photo or document, a file rendered at send time), and what each answer means for the row
(sent, retried with backoff, dead letter, the chat unreachable). `RowSender` holds these methods;
`OutboxSender` inherits them and sets the attributes they read. The error rules are in sender.py's
module docstring."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message

from bot.channels import ALL_CLASSES, Channel, ChannelPolicy, DataClass, Route
from bot.clock import Clock
from bot.i18n import Catalog
from bot.reach import Via, via
from bot.services.ports import Renderer
from bot.tg.limiter import Priority, SendLimiter, bulk_sends
from bot.tg.policy import sending
from bot.tg.send_deadline import SEND_CHECK, LeaseLost, check_send
from bot.unit_of_work import UnitOfWork
from storage.delivery import DeliveryRepo, OutboxRow
from storage.messengers import MessengerRepo, Reach
from storage.outbox import Payload
from storage.people import PersonRepo

# The sender's one logger: these lines read as they did when they were written in sender.py.
log = logging.getLogger("bot.tg.sender")

MAX_ATTEMPTS = 6
BACKOFF_BASE = 2.0  # seconds; attempt n waits about BASE**n, jittered by +-50 %
BACKOFF_CAP = 600.0
REQUEST_TIMEOUT = 20  # seconds per Bot API call
# A send starts only while its lease (storage/delivery.py, LEASE = 120 s) has this long to run:
# asked for before rendering and the limiter's wait (renewed when less is left), then checked again
# as the request leaves (LAST_MARGIN: the request's longest run, plus room for the clocks of two
# hosts to differ). So no other worker can take the row over while its send may still be running.
SEND_MARGIN = timedelta(seconds=60)
LAST_MARGIN = timedelta(seconds=REQUEST_TIMEOUT + 10)

# Without a channel policy (a Telegram-only school without [channels], see bot/app.py serve) every
# served messenger may carry everything; rows are still routed by the person's accounts, so a
# message never goes to a chat that is not an account of theirs.
CARRY_ALL = ChannelPolicy(allowed={channel: ALL_CLASSES for channel in Channel})


@dataclass(frozen=True)
class Target:
    """Where one outbox row goes: the wire, its Bot (and which of the school's bots on that wire it is),
    the account there (its id and the chat, which is the account's user id), and whether the pointer
    text goes instead of the message (the channel policy forbids the message there)."""

    channel: Channel
    bot: Bot
    chat_id: int
    pointer: bool
    account_id: int
    via: Via = Via.OWN


def refuses_chat(message: str) -> bool:
    """A 400/404 that says the chat is not there for this bot (Telegram's "chat not found"; MAX's
    chat.not.found, which MAX answers for a user who never started the bot): as a 403, a refusal."""
    lowered = message.lower()
    return "chat not found" in lowered or "chat.not.found" in lowered


@dataclass
class SenderStats:
    sent: int = 0
    rate_limited: int = 0
    retried: int = 0
    dead: int = 0
    unreachable: int = 0


class RowSender:
    """The per-row half of `OutboxSender`: route, render, send and record one row. The attributes
    are set by `OutboxSender.__init__`."""

    db: UnitOfWork
    clock: Clock
    lease_clock: Clock
    people: PersonRepo
    catalog: Catalog
    renderers: Mapping[str, Renderer]
    bot: Bot
    wires: dict[Channel, Bot]
    # The district bot on each messenger, beside the school's own (bot/multibot.py): it reaches whoever
    # talks to the school through it. Empty for a school alone, or served by the district's bots only.
    district: dict[Channel, Bot]
    policy: ChannelPolicy | None
    messengers: MessengerRepo
    repo: DeliveryRepo
    limiter: SendLimiter
    stats: SenderStats
    _own_limiter: bool
    # The rows this worker holds a lease on (claimed, not yet recorded or released) and where each
    # lease ends; renewed by the sender's keeper, checked before each send.
    _held: dict[int, datetime]

    def _target(self, row: OutboxRow, reach: Reach | None) -> Target | None:
        """The account ``row`` goes to, given its person's ``reach`` (None: the person is reachable on
        no served messenger, or the row addresses nobody)."""
        if row.person_id is None or reach is None:
            return None
        served = [c for c in reach.reachable if self._bots(c)]
        # The policy decides the messenger (and whether the pointer goes instead) before the bot is
        # chosen: the district bot carries on a messenger exactly what the school's own bot would.
        route: Route = (self.policy or CARRY_ALL).route(DataClass(row.data_class), reach.preferred, served)
        if route.channel is None:
            return None
        account = reach.account(route.channel)
        assert account is not None
        bots = self._bots(route.channel)
        chosen = via(account, list(bots))
        assert chosen is not None
        return Target(route.channel, bots[chosen], account.user_id, route.pointer, account.id, chosen)

    def _bots(self, channel: Channel) -> dict[Via, Bot]:
        """The school's bots on ``channel``: its own (for a school without bots of its own, the
        district's, then its only ones), and the district's beside them."""
        bots = {Via.OWN: self.wires[channel]} if channel in self.wires else {}
        if channel in self.district:
            bots[Via.DISTRICT] = self.district[channel]
        return bots

    async def _secure_lease(self, row_id: int) -> bool:
        """Whether the row's lease has SEND_MARGIN left, renewing it (while still ours) if not."""
        now = self.lease_clock.now()
        until = self._held.get(row_id)
        if until is not None and until - now >= SEND_MARGIN:
            return True
        renewed = await self.repo.renew([row_id], now)
        if row_id not in renewed:
            self._held.pop(row_id, None)
            return False
        self._held[row_id] = renewed[row_id]
        return True

    def _check_lease(self, row_id: int) -> None:
        """As the request leaves: the lease must outlast it (see LAST_MARGIN)."""
        until = self._held.get(row_id)
        if until is None or until - self.lease_clock.now() < LAST_MARGIN:
            raise LeaseLost(row_id)

    async def _attempt(self, row: OutboxRow, target: Target) -> None:
        now = self.clock.now
        # Logs name the messenger that refused or throttled a send (an operator reads them).
        wire = target.channel.label
        if not await self._secure_lease(row.id):
            log.warning("outbox row %s: its lease passed to another worker before the send; not sent here", row.id)
            return
        check = SEND_CHECK.set(lambda: self._check_lease(row.id))
        try:
            # The row's class is in force for its send: the session's guard (bot/tg/policy.py) checks
            # it against the channel and logs the send with the notice kind as its purpose.
            with bulk_sends(), sending(DataClass(row.data_class), f"outbox:{row.purpose or row.kind}"):
                message = await self._deliver(row, target)
        except LeaseLost:
            # It waited in the limiter past its lease: not sent, nothing recorded. If the lease is
            # still ours after all, it is handed back so the row goes at the next round.
            log.warning("outbox row %s: its lease ran out while the send waited; not sent", row.id)
            self._held.pop(row.id, None)
            await self.repo.release([row.id])
        except TelegramRetryAfter as exc:
            self.stats.rate_limited += 1
            if self._own_limiter and target.bot is self.bot:  # a limited session has paused its limiter already
                self.limiter.pause(exc.retry_after)
            log.warning("%s asks to wait %s s; the sender pauses", wire, exc.retry_after)
            await self.repo.mark_retry(row.id, f"429 retry after {exc.retry_after}", now(), count=False)
        except TelegramForbiddenError as exc:
            await self._refused(row, target, f"403 {exc.message}")
        except TelegramBadRequest as exc:
            if refuses_chat(exc.message):
                await self._refused(row, target, f"400 {exc.message}")
            else:
                # A malformed message is not fixed by waiting: dead letter now, with the reason.
                self.stats.dead += 1
                log.error("outbox row %s refused by %s: %s", row.id, wire, exc.message)
                await self.repo.mark_dead(row.id, f"400 {exc.message}")
        except Exception as exc:  # 5xx, network errors, timeouts, renderer failures
            attempts = row.attempts + 1
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= MAX_ATTEMPTS:
                self.stats.dead += 1
                log.error("outbox row %s dead after %d attempts on %s: %s", row.id, attempts, wire, error)
                await self.repo.mark_dead(row.id, error)
            else:
                self.stats.retried += 1
                delay = min(BACKOFF_CAP, BACKOFF_BASE**attempts) * random.uniform(0.5, 1.5)
                log.info("outbox row %s failed on %s (%s); retry %d in %.0f s", row.id, wire, error, attempts, delay)
                await self.repo.mark_retry(row.id, error, now() + timedelta(seconds=delay))
        else:
            self.stats.sent += 1
            if not await self.repo.mark_sent(row.id, message.message_id, now(), account_id=target.account_id):
                # Cannot happen while the margins hold (the lease outlasted the request); if the
                # clocks of two hosts drift apart it can: say so, the row may go twice.
                log.error("outbox row %s was sent, but its lease had passed to another worker", row.id)
        finally:
            SEND_CHECK.reset(check)

    async def _refused(self, row: OutboxRow, target: Target, reason: str) -> None:
        """The account refuses messages. When the school's other bot on that messenger reaches it (the
        district bot beside the school's own, or back), the bot that refused no longer counts as
        reaching it and the row goes round again, to the other bot. Else, when the person has another
        served account, this one is marked and the row goes round again (to the other); otherwise the
        person is unreachable and everything pending for them is cancelled."""
        now = self.clock.now()
        reach = await self.messengers.reach(row.person_id) if row.person_id is not None else None
        account = reach.account(target.channel) if reach is not None else None
        other = next((v for v in self._bots(target.channel) if v is not target.via), None)
        if account is not None and account.id == target.account_id and other is not None and (
            account.via_own if other is Via.OWN else account.via_district
        ):
            await self.repo.reroute(row.id, target.account_id, target.via, reason, now)
            log.info(
                "outbox row %s: the %s bot on %s refuses delivery (%s); sent by the %s bot", row.id,
                target.via.value, target.channel.label, reason, other.value,
            )
            return
        others = [c for c in reach.reachable if self._bots(c) and c is not target.channel] if reach else []
        if not others:
            await self._unreachable(row, target, reason)
            return
        await self.repo.mark_account_unreachable(target.account_id, reason, now)
        self.stats.unreachable += 1
        log.info("outbox row %s: %s refuses delivery (%s); routed again", row.id, target.channel.label, reason)
        await self.repo.mark_retry(row.id, reason, now, count=False)

    async def _unreachable(self, row: OutboxRow, target: Target, reason: str) -> None:
        self.stats.unreachable += 1
        cancelled = await self.repo.mark_unreachable(row.id, row.person_id, target.account_id, reason, self.clock.now())
        log.info(
            "person %s unreachable on %s (%s); %d pending message(s) cancelled",
            row.person_id, target.channel.label, reason, cancelled,
        )

    async def _pointer(self, row: OutboxRow, target: Target) -> Message:
        """No rendering for a row its channel may not carry: a bare text goes, which the session's guard
        replaces by the pointer (in the person's language) and logs, with the paper path for a file."""
        assert row.person_id is not None
        person = await self.people.get(row.person_id)
        with sending(DataClass(row.data_class), f"outbox:{row.purpose or row.kind}", person.lang if person else None,
                     staff=person is not None and person.is_staff):
            return await target.bot.send_message(target.chat_id, "🔒", request_timeout=REQUEST_TIMEOUT)

    async def _deliver(self, row: OutboxRow, target: Target) -> Message:
        if target.pointer:
            return await self._pointer(row, target)
        payload = Payload.from_json(row.payload)
        markup = InlineKeyboardMarkup.model_validate(payload.reply_markup) if payload.reply_markup else None
        bot, chat_id = target.bot, target.chat_id
        if row.kind == "text":
            if bot is self.bot:
                await self._own_pace(target)
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
            await self._own_pace(target)
        if row.kind == "photo":
            return await bot.send_photo(
                chat_id, file, caption=payload.text, parse_mode=payload.parse_mode, reply_markup=markup,
                protect_content=payload.protect_content, request_timeout=REQUEST_TIMEOUT,
            )
        return await bot.send_document(
            chat_id, file, caption=payload.text, parse_mode=payload.parse_mode, reply_markup=markup,
            protect_content=payload.protect_content, request_timeout=REQUEST_TIMEOUT,
        )

    async def _own_pace(self, target: Target) -> None:
        if self._own_limiter:
            await self.limiter.acquire(target.chat_id, priority=Priority.BULK)
            check_send()  # as the limited session does once its limiter lets a send go
