"""Withdrawal ends in destruction (152-FZ art. 21 parts 4-5).

When a representative withdraws a child's consent (in a messenger or on paper), in the same write
transaction as the ledger row:
- every active invitation code of the child is revoked, delivered ones too (a code already in the
  family's hands must stop working on the platform: the IT officer's task says so), and the
  pending messages carrying family codes stop (ConsentService does that for every uncovering);
- a destruction task opens for the IT officer: block the child's account on the journal platform
  and destroy the child's data there by the withdrawal's day + 30 days;
- the representatives hear what happens next and by when.
The IT officer is reminded weekly, then daily once the term has passed, until someone confirms the
destruction (in the bot or `schoolbot consent destroyed`); who confirmed and when is appended,
never edited, and the parents are told. The destruction act (акт об уничтожении персональных
данных) is a PDF built from the task, the ledger row and the confirmation.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.channels import DataClass
from bot.domain.access import ADMIN_ROLE
from bot.domain.consent import DESTRUCTION_DAYS
from bot.domain.destruction import Destruction
from bot.domain.ledger import LedgerRow
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services.access_log import AccessKind, AccessLog
from bot.services.consent_pdf import Para, render
from bot.services.exports import write_private
from bot.services.repos import ConsentLedger, Destructions, InvitationCodes, People
from bot.unit_of_work import Transaction

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork

# Reminders to the IT officer: weekly while the term runs, daily once it has passed.
REMIND_EVERY = timedelta(days=7)
REMIND_OVERDUE = timedelta(days=1)

Confirmed = Literal["confirmed", "already", "unknown", "forbidden"]


@dataclass(kw_only=True, eq=False)
class ConsentWithdrawal:
    """Destruction tasks opened by withdrawals: revocation, reminders, confirmation, the act."""

    access_log: AccessLog
    buttons: Buttons
    catalog: Catalog
    clock: Clock
    code_repo: InvitationCodes
    consent_ledger: ConsentLedger
    db: UnitOfWork
    destructions: Destructions
    outbox: Outbox
    people: People
    school: SchoolConfig

    def due_on(self, withdrawn_at: datetime) -> date:
        """The last day for destruction: the withdrawal's day in the school's time zone + 30 days."""
        return self.school.calendar.local_date(withdrawn_at) + timedelta(days=DESTRUCTION_DAYS)

    async def on_withdrawal(self, conn: Transaction, child: Person, row: LedgerRow, now: datetime) -> None:
        """Called by ConsentService inside the transaction that recorded the withdrawal `row`."""
        codes = await self.code_repo.active_in(conn, [child.id])
        for code in codes:
            await self.code_repo.revoke(conn, code.id, now)
        await self.code_repo.cancel_pending_deliveries(conn, [c.id for c in codes])
        task = await self.destructions.open_for(conn, child.id)
        if task is None:
            # The act names the subject and the family as they are now: the bot's own copy of them is
            # purged 30 days after the withdrawal (retention), the act is kept.
            family = ", ".join(p.full_name for p in await self.people.on(conn).parents(child.id))
            task_id = await self.destructions.insert(
                conn, child_id=child.id, receipt_id=row.receipt_id, now=now, due_on=self.due_on(row.created_at),
                subject_name=child.full_name, subject_class=child.class_label, representatives=family,
            )
            task = await self.destructions.get(conn, task_id)
            assert task is not None
            await self._tell_officers(conn, task, child, now, n=0)
        # The representatives who withdrew (every parent, for a paper form without a known signer).
        parents = [p for p in await self.people.on(conn).parents(child.id) if row.parent_id in (None, p.id)]
        for parent in parents:
            lang = parent.lang or "ru"
            text = self.catalog.text(
                lang, "consent.destroy.parent_opened", child=Named(child.full_name, escape=True),
                due=task.due_on.strftime("%d.%m.%Y"), codes=len(codes), receipt=row.receipt_id,
            )
            await self.outbox.notify(
                conn, parent, key=f"consent-destroy-parent:{row.receipt_id}:{parent.id}",
                data_class=DataClass.CHILD_PERSONAL, kind="text", payload=Payload(text=text), now=now, priority=2,
            )

    async def _tell_officers(
        self, conn: Transaction, task: Destruction, child: Person, now: datetime, *, n: int
    ) -> int:
        """The task (n = 0) or its n-th reminder, with the confirm and act buttons, to every IT officer."""
        overdue = self.school.calendar.local_date(now) > task.due_on
        key = "consent.destroy.task" if n == 0 else ("consent.destroy.overdue" if overdue else "consent.destroy.remind")
        sent = 0
        for officer in await self.people.on(conn).with_role(ADMIN_ROLE):
            lang = officer.lang or "ru"
            t = self.catalog.bind(lang)
            text = t(
                key, task=task.id, child=Named(child.full_name, escape=True), cls=html.escape(child.class_label or "—"),
                platform=html.escape(self.school.platform.name), due=task.due_on.strftime("%d.%m.%Y"),
                receipt=task.receipt_id,
            )
            if await self.outbox.notify(
                conn, officer, key=f"consent-destroy:{task.id}:{n}:{officer.id}",
                data_class=DataClass.CHILD_PERSONAL, kind="text",
                payload=Payload(text=text, reply_markup=self.buttons.consent_destruction(task.id, t)),
                now=now, not_before=self.school.calendar.send_window(now), priority=2,
            ):
                sent += 1
        return sent

    async def sweep(self, now: datetime) -> int:
        """Reminders until confirmed: weekly, then daily once the term has passed. The database is
        the truth: each reminder is a recorded event, so a restart neither loses nor repeats one."""
        count = 0
        async with self.db.transaction() as conn:
            for task in await self.destructions.all_open(conn):
                last = task.last_reminder_at or task.opened_at
                overdue = self.school.calendar.local_date(now) > task.due_on
                if now < last + (REMIND_OVERDUE if overdue else REMIND_EVERY):
                    continue
                n = task.reminders + 1
                if not await self.destructions.record_reminder(conn, task.id, n, now):
                    continue
                child = await self.people.on(conn).get(task.child_id)
                if child is not None:
                    count += await self._tell_officers(conn, task, child, now, n=n)
        return count

    async def confirm(self, task_id: int, *, by: Person | None, channel: str) -> Confirmed:
        """The IT officer confirms the account is blocked and the data destroyed. Appended once; the
        parents are told. `by` None: from the command line."""
        if by is not None and not by.is_admin:
            return "forbidden"
        now = self.clock.now()
        async with self.db.transaction() as conn:
            task = await self.destructions.get(conn, task_id)
            if task is None:
                return "unknown"
            if not await self.destructions.confirm(conn, task_id, by=by.id if by else None, channel=channel, now=now):
                return "already"
            # The reminders still waiting for the officers are moot now.
            await self.destructions.cancel_reminders(conn, task_id)
            child = await self.people.on(conn).get(task.child_id)
            row = await self.consent_ledger.by_receipt(conn, task.receipt_id)
            if child is not None and row is not None:
                day = self.school.calendar.local_date(now).strftime("%d.%m.%Y")
                for parent in await self.people.on(conn).parents(child.id):
                    if row.parent_id not in (None, parent.id):
                        continue
                    lang = parent.lang or "ru"
                    text = self.catalog.text(
                        lang, "consent.destroy.parent_done", child=Named(child.full_name, escape=True), day=day,
                        act=task.id,
                    )
                    await self.outbox.notify(
                        conn, parent, key=f"consent-destroyed-parent:{task_id}:{parent.id}",
                        data_class=DataClass.CHILD_PERSONAL, kind="text", payload=Payload(text=text), now=now,
                    )
        return "confirmed"

    async def tasks(self, child_ids: list[int] | None = None) -> list[Destruction]:
        if child_ids is None:
            return await self.destructions.all_open(self.db.conn)
        return await self.destructions.of_children(self.db.conn, child_ids)

    # --- the act --------------------------------------------------------------------------------------

    async def act_paragraphs(self, task_id: int, t: Translator) -> list[Para] | None:
        """The destruction act as paragraphs (what the PDF prints), or None for an unknown task.
        Its elements follow Roskomnadzor's order No. 179 of 28.10.2022 on confirming destruction:
        the operator and processor, the subject, the categories of data, the information system,
        the method, the reason, the date, and who destroyed it, with room to sign."""
        task = await self.destructions.get(self.db.conn, task_id)
        if task is None:
            return None
        child = await self.people.get(task.child_id)
        row = await self.consent_ledger.by_receipt(self.db.conn, task.receipt_id)
        assert child is not None and row is not None
        # The names the task was opened with (the person may be purged by now).
        parents = task.representatives or ", ".join(p.full_name for p in await self.people.parents(child.id)) or "—"
        subject, subject_class = task.subject_name or child.full_name, task.subject_class or child.class_label
        school = self.school.school
        platform = self.school.platform
        withdrawn = row.created_at.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M")
        confirmed = task.confirmed
        if confirmed is not None:
            who = (await self.people.get(confirmed.by)) if confirmed.by is not None else None
            done_day = confirmed.at.astimezone(self.school.tz).strftime("%d.%m.%Y")
            done = t(
                "consent.act.done", day=done_day,
                when=confirmed.at.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M"),
                who=who.full_name if who else t("consent.act.by_cli"),
                channel=t(f"consent.channel.{confirmed.channel}") if confirmed.channel != "cli" else "CLI",
            )
        else:
            done = t("consent.act.not_done")
        return [
            Para(t("consent.act.title", n=task.id), "title"),
            Para(t("consent.act.place", school=school.name, day=self.school.calendar.local_date(
                confirmed.at if confirmed else self.clock.now()).strftime("%d.%m.%Y"))),
            Para(t("consent.act.operator", school=school.name, address=school.address or "—")),
            Para(t("consent.act.processor", platform=platform.name, url=platform.url,
                   operator=platform.operator or "—", address=platform.operator_address or "—")),
            Para(t("consent.act.subject", child=subject, cls=subject_class or "—", parents=parents)),
            Para(t("consent.act.categories")),
            Para(t("consent.act.system", platform=platform.name, url=platform.url)),
            Para(t("consent.act.method")),
            Para(t("consent.act.reason", receipt=row.receipt_id, when=withdrawn,
                   channel=t(f"consent.channel.{row.channel}"), version=row.version)),
            Para(t("consent.act.term", opened=task.opened_at.astimezone(self.school.tz).strftime("%d.%m.%Y"),
                   due=task.due_on.strftime("%d.%m.%Y"))),
            Para(done),
            Para(t("consent.act.sign_officer"), "sign"),
            Para(t("consent.act.sign_director"), "sign"),
        ]

    async def act_pdf(self, task_id: int, t: Translator) -> tuple[bytes, str] | None:
        """The act as PDF (logged as an export of personal data), or None for an unknown task."""
        paras = await self.act_paragraphs(task_id, t)
        if paras is None:
            return None
        await self.access_log.record(AccessKind.DESTRUCTION_ACT, task_id)
        data = await asyncio.to_thread(render, paras, title=t("consent.act.title", n=task_id))
        return data, f"destruction-act-{task_id}.pdf"

    # --- the command line -------------------------------------------------------------------------------

    async def cmd_destroyed(self, args: argparse.Namespace, t: Translator) -> int:
        outcome = await self.confirm(args.task, by=None, channel="cli")
        print(t(f"consent.destroy.cli_{outcome}", task=args.task), file=sys.stderr if outcome == "unknown" else None)
        return 1 if outcome == "unknown" else 0

    async def cmd_act(self, args: argparse.Namespace, t: Translator) -> int:
        made = await self.act_pdf(args.task, t)
        if made is None:
            print(t("consent.destroy.cli_unknown", task=args.task), file=sys.stderr)
            return 1
        data, name = made
        path = Path(args.out or name)
        await asyncio.to_thread(write_private, path, data)
        print(t("consent.destroy.cli_act", path=path))
        return 0


