"""The consent register: every child's current decision, by class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.consent import State
from bot.domain.ledger import LedgerRow, Version
from bot.domain.people import class_sort_key
from bot.services.consent_gate import ConsentGate
from bot.services.repos import ConsentLedger, People

if TYPE_CHECKING:
    from bot.services.consent import ConsentService
    from bot.services.consent_paper import ConsentPaper
    from bot.unit_of_work import UnitOfWork


# --- registers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    class_label: str
    child: str
    child_id: int
    state: State
    by: str            # the parent who decided (telegram) or "paper form, entered by ..." parts
    recorded_by: str
    when: datetime | None
    paper_date: date | None
    channel: str
    version: int | None
    receipt_id: str
    original: date | None = None                     # the signed paper original received on
    history: tuple[LedgerRow, ...] = ()              # every decision for the child, oldest first
    conflict: bool = False                           # the representatives disagree: a case to settle
    account: str = ""                                # the messenger account that pressed ("tg:…", "max:…")
    sha256: str = ""                                 # the hash of the exact text the decision was on


def account_of(row: LedgerRow) -> str:
    """The messenger account a decision came from, as the evidence names it."""
    if row.user_id is None or row.channel == "paper":
        return ""
    # "tg:" as the evidence has always named a Telegram account; other messengers by their own name.
    return f"{'tg' if row.channel == 'telegram' else row.channel}:{row.user_id}"


def counts_by_class(rows: Sequence[RegisterRow]) -> dict[str, dict[State, int]]:
    out: dict[str, dict[State, int]] = {}
    for row in rows:
        per = out.setdefault(row.class_label, {"pending": 0, "given": 0, "declined": 0, "withdrawn": 0})
        per[row.state] += 1
    return out


def read_file_text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")


@dataclass(kw_only=True, eq=False)
class ConsentRegisters:
    """The consent register of a class or the school, as rows for print and export."""

    consent: ConsentService
    consent_ledger: ConsentLedger
    consent_gate: ConsentGate
    consent_paper: ConsentPaper
    db: UnitOfWork
    people: People


    async def register(self, class_label: str | None = None) -> tuple[Version, list[RegisterRow]]:
        version = await self.consent.current()
        pupils = await self.people.with_role("student", class_label)
        # The state is the family rule's; the row shown is the newest decision on this version.
        states = {c.child.id: c for c in await self.consent_gate.child_states(self.db.conn, version, pupils)}
        latest = {cid: c.row for cid, c in states.items() if c.row is not None}
        wanted = {p.id for p in pupils}
        history: dict[int, list[LedgerRow]] = {}
        for entry in await self.consent_ledger.ledger_rows(self.db.conn):
            if entry.child_id in wanted:
                history.setdefault(entry.child_id, []).append(entry)
        received = await self.consent_paper.originals(version, list(wanted))
        names: dict[int, str] = {}
        ids = {r.parent_id for r in latest.values() if r.parent_id}
        ids |= {r.recorded_by for r in latest.values() if r.recorded_by}
        for person in await self.people.get_many(i for i in ids if i is not None):
            names[person.id] = person.full_name
        rows = []
        for pupil in pupils:
            row = latest.get(pupil.id)
            rows.append(
                RegisterRow(
                    class_label=pupil.class_label or "",
                    child=pupil.full_name,
                    child_id=pupil.id,
                    state=states[pupil.id].state,
                    by=names.get(row.parent_id, "") if row and row.parent_id else "",
                    recorded_by=names.get(row.recorded_by, "") if row and row.recorded_by else "",
                    when=row.created_at if row else None,
                    paper_date=row.paper_date if row else None,
                    channel=row.channel if row else "",
                    version=row.version if row else None,
                    receipt_id=row.receipt_id if row else "",
                    original=received.get(pupil.id),
                    history=tuple(sorted(history.get(pupil.id, []), key=lambda r: r.id)),
                    conflict=states[pupil.id].conflict,
                    account=account_of(row) if row else "",
                    sha256=row.sha256 if row else "",
                )
            )

        rows.sort(key=lambda r: (class_sort_key(r.class_label), r.child))
        return version, rows
