"""A person's own data (152-FZ art. 14, #24 item 4): «🗂 Мои данные» in the bot and
`schoolbot subject-report <person>`: everything the database holds about them, as a text document.

The person, their roles and children, their and their children's invitation codes (masked, as
staff see them: the document may be read over someone's shoulder), the consent history with
receipts, their questions, what the bot sent them by date and channel, and an inventory of every
table that names them (found from the schema, bot/storage/subject.py, so nothing added later is
left out); then the purposes, recipients and term, as the consent document states them.

Each request is written to the access log with the day the answer is owed by. Art. 14 part 3 (as
amended by Federal Law No. 266-FZ of 14.07.2022, in force since 01.09.2022) gives the operator ten
working days from the request, extendable by five with a reasoned notice; art. 20 part 1 repeats
the ten days. The bot answers at once; the logged deadline is what an inspector checks it against.
Working days are the school calendar's (its working week and holidays).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.access_log import AccessKind, AccessLog
from bot.services.codes import mask
from bot.services.exports import write_private
from bot.services.people_text import find_people
from bot.services.repos import People, SubjectRecords

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.unit_of_work import UnitOfWork

ANSWER_WORKING_DAYS = 10  # 152-FZ art. 14 part 3 (see the module's docstring)
WHEN = "%d.%m.%Y %H:%M"


@dataclass(kw_only=True, eq=False)
class SubjectReport:
    access_log: AccessLog
    clock: Clock
    db: UnitOfWork
    people: People
    school: SchoolConfig
    subject_repo: SubjectRecords

    def due_on(self, requested: date) -> date:
        return self.school.calendar.add_working_days(requested, ANSWER_WORKING_DAYS)

    def _when(self, moment: datetime | None) -> str:
        return moment.astimezone(self.school.tz).strftime(WHEN) if moment is not None else "—"

    async def build(self, person: Person, t: Translator) -> tuple[bytes, str, date]:
        """(the document as UTF-8 text, its file name, the legal deadline); logs the request."""
        now = self.clock.now()
        due = self.due_on(now.astimezone(self.school.tz).date())
        await self.access_log.record(AccessKind.SUBJECT_REPORT, person.id, due_on=due)
        text = await self.render(person, t, now=now, due=due)
        return text.encode("utf-8"), f"my-data-{person.id}.txt", due

    async def render(self, person: Person, t: Translator, *, now: datetime, due: date) -> str:
        repo = self.subject_repo
        row = await repo.person_row(person.id) or {}
        children = await self.people.children(person.id)
        lines = [
            t("subject.title"),
            t("subject.subtitle", school=self.school.school.name, when=self._when(now),
              requested=now.astimezone(self.school.tz).strftime("%d.%m.%Y"), due=due.strftime("%d.%m.%Y"),
              days=ANSWER_WORKING_DAYS),
            "",
            t("subject.section_person"),
            t("subject.name", name=person.full_name, id=person.id),
            t("subject.class", cls=person.class_label or "—"),
            t("subject.phone", phone=person.phone or "—"),
            t("subject.roles", roles=", ".join(t(f"roles.{r}") for r in sorted(person.roles)) or "—"),
            *[t("subject.account", channel=t(f"subject.channel.{channel}") if channel in ("telegram", "max")
                else channel, id=uid, username=username or "—")
              for channel, uid, username in await repo.accounts(person.id)],
            t("subject.lang", lang=row.get("lang") or "—"),
            "",
            t("subject.section_children"),
        ]
        lines += [t("subject.child", name=c.full_name, cls=c.class_label or "—", id=c.id) for c in children]
        if not children:
            lines.append(t("subject.none"))

        lines += ["", t("subject.section_codes")]
        codes = await repo.codes([person.id, *(c.id for c in children)])
        lines += [t("subject.code", owner=c.owner_name, role=t(f"subject.code_role.{c.role}"), code=mask(c.code),
                    status=t(f"codes.status.{c.status}"), activated=self._when(c.activated_at)) for c in codes]
        if not codes:
            lines.append(t("subject.none"))

        lines += ["", t("subject.section_consent")]
        ledger = await repo.ledger(person.id, [c.id for c in children])
        lines += [t("subject.decision", when=self._when(e.created_at), child=e.child_name,
                    decision=t(f"ledger.decision.{e.decision}"), version=e.version, receipt=e.receipt_id,
                    channel=t(f"subject.channel.{e.channel}"), sha=e.sha256,
                    who=t("subject.by_you" if e.by_self else "subject.by_other")) for e in ledger]
        if not ledger:
            lines.append(t("subject.none"))

        lines += ["", t("subject.section_questions")]
        tickets = await repo.tickets(person.id)
        for q in tickets:
            lines.append(t("subject.question", when=self._when(q.created_at), text=q.text,
                           status=t(f"subject.ticket_status.{q.status}")))
            if q.answer:
                lines.append(t("subject.answer", when=self._when(q.answered_at), text=q.answer))
        if not tickets:
            lines.append(t("subject.none"))

        lines += ["", t("subject.section_sent")]
        sent = await repo.sent(person.id)
        lines += [t("subject.sent", when=self._when(s.sent_at or s.created_at),
                    channel=t(f"subject.channel.{s.channel}") if s.channel else "—",
                    what=t(f"channels.export.class.{s.data_class}"), status=t(f"subject.sent_status.{s.status}"))
                  for s in sent]
        if not sent:
            lines.append(t("subject.none"))

        lines += ["", t("subject.section_records")]
        known = t.catalog.keys(t.lang) | t.catalog.keys("ru")
        for ref in await repo.references(person.id):
            key = f"subject.table.{ref.table}"
            # A table another capability adds later has no words yet: it is named as it is, never left out.
            what = t(key) if key in known else ref.table
            lines.append(t("subject.record", what=what, table=ref.table, column=ref.column, n=ref.rows))

        terms = self.school.retention
        consent = self.school.consent
        lines += [
            "", t("subject.section_purposes"), t("subject.purposes"),
            "", t("subject.section_recipients"),
            t("subject.recipient_school", school=self.school.school.name),
            t("subject.recipient_platform", name=self.school.platform.operator,
              address=self.school.platform.operator_address or "—"),
            t("subject.recipient_hosting", name=consent.hosting_name or self.school.school.name),
            t("subject.recipient_messenger", name=consent.messenger_name),
            "", t("subject.section_term"),
            t("subject.term", leaving=terms.after_leaving_days, withdrawal=terms.after_withdrawal_days,
              backups=terms.backup_days),
            "", t("subject.section_rights"), t("subject.rights"),
        ]
        return "\n".join(lines) + "\n"

    # --- CLI -------------------------------------------------------------------------------------
    async def cmd_subject_report(self, args: argparse.Namespace, t: Translator) -> int:
        query = str(args.person).strip()
        person = await self.people.get(int(query)) if query.isdigit() else None
        if person is None:
            found = await find_people(self.people, query, limit=None)
            if len(found) != 1:
                # Names are listed to pick from: a person search, logged as such (ids only).
                await self.access_log.record(AccessKind.PERSON_SEARCH, ",".join(str(p.id) for p in found))
                print(t("subject.cli_pick", query=query, n=len(found)), file=sys.stderr)
                for p in found[:20]:
                    print(f"  {p.id}: {p.full_name} {p.class_label or ''}", file=sys.stderr)
                return 1
            person = found[0]
        data, name, due = await self.build(person, t)
        out = Path(args.out) if args.out else Path(name)
        await asyncio.to_thread(write_private, out, data)
        print(t("subject.cli_written", path=out, due=due.strftime("%d.%m.%Y")))
        return 0
