"""Activation reminders (run by the codes sweep): a family's codes in one
message, folded into a consent reminder still waiting."""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from bot.channels import DataClass
from bot.domain.codes import Code
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.russian import Named
from bot.services.codes import MAX_NUDGES, NUDGE_INTERVAL
from bot.services.consent import nudge_key
from bot.services.repos import ConsentLedger, InvitationCodes, OutboxQueue, People
from bot.unit_of_work import Transaction

if TYPE_CHECKING:

    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.codes import CodesService
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork


class _NotToday(Exception):
    """Rolls back an activation reminder's records when it must wait for another day."""


@dataclass(kw_only=True, eq=False)
class CodesNudges:
    """The codes capability's minute: catch-up deliveries and activation reminders."""

    buttons: Buttons
    catalog: Catalog
    code_repo: InvitationCodes
    codes: CodesService
    consent_ledger: ConsentLedger
    db: UnitOfWork
    outbox: Outbox
    outbox_queue: OutboxQueue
    people: People
    school: SchoolConfig


    # --- nudges (run by the sweep) ----------------------------------------------------------------------
    async def sweep(self, now: datetime) -> None:
        """Catch up deliveries the gate now allows (e.g. consent given on paper and entered later) and
        nudge people whose card arrived but who have not activated."""
        async with self.db.transaction() as conn:
            await self.codes.deliver(conn, reason="sweep", now=now, not_before=self.codes.allowed_time(now))
        await self._nudge(now)

    async def _nudge(self, now: datetime) -> None:
        """Activation nudges, one message per recipient: a parent whose own code and children's codes
        are all unactivated hears once about all of them, not once per code."""

        repo = self.code_repo
        due: dict[int, list[tuple[Code, Person, int]]] = {}
        recipients_by_id: dict[int, Person] = {}
        for row in await repo.nudge_candidates():
            n = row.nudges
            if n >= MAX_NUDGES:
                continue
            since = row.since
            if now < self.codes.allowed_time(since + NUDGE_INTERVAL):
                continue
            code = await repo.get(row.code_id)
            recipient = await self.people.get(row.recipient_id)
            if code is None or recipient is None or not recipient.reachable:
                continue
            # The gate may have closed since the card went out (consent withdrawn).
            if not any(r.id == recipient.id for r in await self.codes.recipients(code)):
                continue
            owner = await self.people.get(code.person_id)
            assert owner is not None
            recipients_by_id[recipient.id] = recipient
            due.setdefault(recipient.id, []).append((code, owner, n + 1))
        for recipient_id, items in due.items():
            recipient = recipients_by_id[recipient_id]
            with contextlib.suppress(_NotToday):
                await self._nudge_one(recipient, items, now)

    async def _nudge_one(self, recipient: Person, items: list[tuple[Code, Person, int]], now: datetime) -> None:
        t = self.catalog.translator_for(recipient)
        async with self.db.transaction() as conn:
            recorded = [
                item for item in items
                if await self.code_repo.record_nudge(conn, item[0].id, recipient.id, item[2], now)
            ]
            if not recorded:
                return
            first, owner, n = recorded[0]
            if len(recorded) == 1:
                payload = Payload(
                    text=t("codes.nudge", name=Named(owner.full_name, escape=True), who=Named(recipient.full_name)),
                    reply_markup=self.buttons.code_card(first.id, t, recipient),
                )
            else:
                payload = Payload(
                    text=t("codes.nudge_family",
                           names="\n".join(f"• {html.escape(o.full_name)}" for _, o, _ in recorded)),
                    reply_markup=self.buttons.code_family([(code, o) for code, o, _ in recorded], t),
                )
            fold = await self._fold_into_consent_reminder(conn, recipient, payload, now)
            if fold == "wait":
                # This family already had its consent reminder today: one reminder a day is
                # enough, so this one waits for tomorrow (the records roll back with `raise`).
                raise _NotToday
            if fold == "send":
                await self.outbox.notify(
                    conn, recipient, data_class=DataClass.PERSONAL,
                    key=f"code:{first.id}:{recipient.id}:nudge{n}",
                    kind="text",
                    payload=payload,
                    now=now,
                )
        self.outbox.wake()

    async def _fold_into_consent_reminder(
        self, conn: Transaction, recipient: Person, payload: Payload, now: datetime
    ) -> Literal["merged", "wait", "send"]:
        """Consent and code reminders to one family are one message: when the parent's consent
        reminder for today is still waiting in the outbox, the activation reminder is appended to it
        (text and buttons); when it already went out today, the activation reminder waits a day."""
        version = await self.consent_ledger.current_version(conn)
        if version is None:
            return "send"
        today = self.school.calendar.local_date(self.codes.allowed_time(now))
        for n, due in sorted((await self.consent_ledger.nudges_of(conn, version.number, recipient.id)).items()):
            if self.school.calendar.local_date(due) != today:
                continue
            key = nudge_key(version.number, recipient.id, n)
            waiting = await self.outbox_queue.waiting_payload(conn, key)
            if waiting is None:
                return "wait"
            rows = [*(waiting.reply_markup or {}).get("inline_keyboard", []),
                    *(payload.reply_markup or {}).get("inline_keyboard", [])]
            merged = replace(waiting, text=f"{waiting.text}\n\n{payload.text}", reply_markup={"inline_keyboard": rows})
            return "merged" if await self.outbox_queue.amend_waiting(conn, key, merged) else "wait"
        return "send"
