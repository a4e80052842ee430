"""Consent reminders to parents (run by the consent sweep) and the class teacher's view and reminder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.ledger import Version
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.russian import Named
from bot.services.consent import MAX_NUDGES, NUDGE_GAP, nudge_key
from bot.services.consent_gate import ChildState, ConsentGate
from bot.services.consent_paper import staff_classes
from bot.services.repos import ConsentLedger, InvitationCodes, People

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.consent import ConsentService
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork


# --- class view and the class teacher's reminder ---------------------------------------------------


@dataclass(frozen=True)
class ClassOverview:
    class_label: str
    pending: list[Person]       # children
    declined: list[ChildState]
    given: int
    reminder_sent: datetime | None


@dataclass(kw_only=True, eq=False)
class ConsentNudges:
    """The consent capability's minute: reminders to parents, overviews for class teachers."""

    buttons: Buttons
    catalog: Catalog
    clock: Clock
    code_repo: InvitationCodes
    consent: ConsentService
    consent_ledger: ConsentLedger
    consent_gate: ConsentGate
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig


    # --- nudges -------------------------------------------------------------------------------------
    def _allowed(self, moment: datetime) -> datetime:
        return self.school.calendar.send_window(moment)

    def _school_day(self, moment: datetime) -> date:
        return self.school.calendar.local_date(moment)

    async def pending_parents(self, version: Version) -> list[Person]:
        """Linked parents with a child that has no decision on `version`, who have themselves made no
        decision on it (a parent who declined is never nagged)."""
        ids = await self.consent_ledger.undecided_parent_ids(self.db.conn, version.number)
        return [p for p in await self.people.get_many(ids) if p.active and p.reachable and p.has_role("parent")]

    async def sweep(self, now: datetime) -> None:
        """The consent capability's minute: the first sweep after start publishes the shipped
        document as version 1 if none exists, then reminds who has not answered."""
        await self.consent.current()
        await self.run_nudges(now)

    async def run_nudges(self, now: datetime) -> int:
        """Schedule reminder n=1 as soon as a parent is pending, n=2 three days after n=1; each in
        working hours. Returns how many were enqueued."""
        version = await self.consent_ledger.current_version(self.db.conn)
        if version is None:
            return 0
        scheduled = await self.consent_ledger.nudges(self.db.conn, version.number)
        ids = await self.consent_ledger.undecided_parent_ids(self.db.conn, version.number)
        # Only those with a reminder due now are loaded: most minutes nobody is.
        due_ids = [
            pid for pid in ids
            if len(scheduled.get(pid, {})) == 0
            or (len(scheduled[pid]) == 1 and now >= scheduled[pid][1] + NUDGE_GAP)
        ]
        candidates = [
            p for p in await self.people.get_many(due_ids) if p.active and p.reachable and p.has_role("parent")
        ]
        if not candidates:
            return 0
        count = 0
        async with self.db.transaction() as conn:
            for parent in candidates:
                done = scheduled.get(parent.id, {})
                n = len(done) + 1
                if n > MAX_NUDGES:
                    continue
                if n == 2 and now < done[1] + NUDGE_GAP:
                    continue
                due = self._allowed(now)
                # One reminder a family a day: when an activation reminder already went to this parent
                # today, the consent reminder waits for tomorrow (the codes sweep folds an activation
                # reminder into a consent reminder still waiting, see codes._fold_into_consent_reminder).
                last_code_nudge = await self.code_repo.last_nudge_to(conn, parent.id)
                if last_code_nudge is not None and self._school_day(last_code_nudge) == self._school_day(due):
                    continue
                if not await self.consent_ledger.record_nudge(conn, version.number, parent.id, n, due):
                    continue
                lang = parent.lang or "ru"
                await self.outbox.notify(
                    conn, parent, key=nudge_key(version.number, parent.id, n),
                    data_class=DataClass.CHILD_PERSONAL,
                    kind="text",
                    payload=Payload(
                        text=self.catalog.text(lang, f"consent.nudge_{n}", name=Named(parent.full_name, escape=True)),
                        reply_markup=self.buttons.consent_open(
                            self.catalog.text(lang, "consent.open_button"), version.number
                        ),
                    ),
                    now=now, not_before=due,
                )
                count += 1
        return count

    async def class_overview(self, class_label: str) -> ClassOverview:
        version = await self.consent.current()
        pupils = await self.people.with_role("student", class_label)
        states = await self.consent_gate.child_states(self.db.conn, version, pupils)
        pending = [s.child for s in states if s.state == "pending"]
        declined = [s for s in states if s.state in ("declined", "withdrawn")]
        given = sum(1 for s in states if s.state == "given")
        sent = await self.consent_ledger.class_reminder(self.db.conn, version.number, class_label)
        return ClassOverview(class_label, pending, declined, given, sent)

    async def remind_class(self, staff: Person, class_label: str) -> int | None:
        """One reminder per class and version to the parents of the class's pending children.
        None when it was already sent (or the caller may not), else how many parents it reaches."""
        if staff_classes(staff, [class_label]) != [class_label]:
            return None
        now = self.clock.now()
        version = await self.consent.current()
        overview = await self.class_overview(class_label)
        declined_parents = await self.consent_ledger.parents_who_declined(self.db.conn, version.number)
        targets: dict[int, Person] = {}
        for child in overview.pending:
            for parent in await self.people.parents(child.id):
                if parent.reachable and parent.id not in declined_parents:
                    targets[parent.id] = parent
        due = self._allowed(now)
        async with self.db.transaction() as conn:
            if not await self.consent_ledger.record_class_reminder(conn, version.number, class_label, staff.id, now):
                return None
            for parent in targets.values():
                lang = parent.lang or "ru"
                await self.outbox.notify(
                    conn, parent, key=f"consent-remind:{version.number}:{parent.id}",
                    data_class=DataClass.CHILD_PERSONAL,
                    kind="text",
                    payload=Payload(
                        text=self.catalog.text(
                            lang, "consent.class_reminder", name=Named(parent.full_name, escape=True),
                            teacher=Named(staff.full_name, escape=True),
                        ),
                        reply_markup=self.buttons.consent_open(
                            self.catalog.text(lang, "consent.open_button"), version.number
                        ),
                    ),
                    now=now, not_before=due,
                )
        return len(targets)
