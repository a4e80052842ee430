"""Paper consent recorded by staff, and signed originals (a pressed decision's receipt: consent_gate.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.domain.consent import PENDING, Decision, Outcome
from bot.domain.ledger import Version
from bot.domain.people import Person
from bot.services.consent import Result
from bot.services.consent_gate import ConsentGate
from bot.services.repos import ConsentForms, People

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.services.consent import ConsentService
    from bot.unit_of_work import UnitOfWork


# --- paper --------------------------------------------------------------------------------------


def may_record_for(staff: Person, child: Person) -> bool:
    if staff.is_admin:
        return True
    return staff.has_role("class_teacher") and staff.class_label is not None and staff.class_label == child.class_label


def staff_classes(staff: Person, all_classes: Sequence[str]) -> list[str]:
    if staff.is_admin:
        return list(all_classes)
    if staff.has_role("class_teacher") and staff.class_label in all_classes:
        return [staff.class_label] if staff.class_label else []
    return []


def parse_paper_date(text: str, today: date) -> date | None:
    """dd.mm.yyyy, not in the future and not before 2000."""
    try:
        value = datetime.strptime(text.strip(), "%d.%m.%Y").date()
    except ValueError:
        return None
    if value > today or value.year < 2000:
        return None
    return value


@dataclass(kw_only=True, eq=False)
class ConsentPaper:
    """Paper consents recorded by staff, and signed originals."""

    clock: Clock
    consent: ConsentService
    consent_forms: ConsentForms
    consent_gate: ConsentGate
    db: UnitOfWork
    people: People
    school: SchoolConfig


    async def record_paper(
        self, *, staff: Person, child_id: int, decision: Decision, paper_date: date
    ) -> Result:
        child = await self.people.get(child_id)
        if child is None or not child.active or "student" not in child.roles or not may_record_for(staff, child):
            return Result(Outcome.FORBIDDEN, child_id)
        parents = await self.people.parents(child.id)
        # One representative in the roster: they signed. Several: the form's signer is not identified.
        signer = parents[0] if len(parents) == 1 else None
        return await self.consent.record_paper(
            staff=staff, child=child, signer=signer, decision=decision, paper_date=paper_date
        )

    async def record_original(self, *, staff: Person, child_id: int) -> Outcome:
        """Staff received the child's signed paper original (today, in the school's time zone).
        When codes wait for it, a consent already given now releases them."""
        now = self.clock.now()
        version = await self.consent.current()
        child = await self.people.get(child_id)
        if child is None or not child.active or "student" not in child.roles or not may_record_for(staff, child):
            return Outcome.FORBIDDEN
        today = now.astimezone(self.school.tz).date()
        async with self.db.transaction() as conn:
            if not await self.consent_forms.record_original(
                conn, child_id=child.id, version=version.number, received_on=today, by=staff.id, now=now
            ):
                return Outcome.UNCHANGED
            family = (await self.consent_gate.family_states(conn, version.number, [child.id])).get(child.id, PENDING)
            if self.school.consent.codes_wait_for_original and family.covered:
                await self.consent.release_codes(conn, child, None, now)
        return Outcome.RECORDED

    async def originals(self, version: Version, child_ids: Sequence[int] | None = None) -> dict[int, date]:
        """child id -> the day its signed original was received."""
        found = await self.consent_forms.originals(self.db.conn, version.number, child_ids)
        return {cid: o.received_on for cid, o in found.items()}
