"""Plan tasks: the plan in the database, each staff member's tasks, done-with-proof and review,
deadline and responsibility edits.

A task is one occurrence of a plan item (``deadlines.Occurrence``; items without dated
occurrences - whole period, per event, unset - are one task with the key ``"-"``). Responsible
people are never stored: they are the active roster people holding the item's roles at the moment
of asking, so roster changes apply at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.domain.access import REVIEWER_ROLES
from bot.domain.calendar import Occurrence, Quarter, occurrences
from bot.domain.people import Person
from bot.domain.plan import PlanItem, Proof
from bot.i18n import Translator
from bot.services.repos import OpsRecords, People, PlanRecords

if TYPE_CHECKING:
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.tasks_import import TasksImport
    from bot.unit_of_work import UnitOfWork

NO_OCC = "-"


# --- the plan as of now -------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    item: PlanItem
    occ: Occurrence | None

    @property
    def key(self) -> str:
        return self.occ.key if self.occ is not None else NO_OCC

    @property
    def due(self) -> date | None:
        return self.occ.due if self.occ is not None else None


# "Backup of the journal database to external media, at least once a quarter": a logged journal
# backup (the backup log, bot.services.backup.log_journal) closes that quarter's occurrence.
JOURNAL_ITEM = "16"


@dataclass
class Snapshot:
    """Everything a listing, a sweep or a check needs, read once. The one reading of the plan's
    state: /tasks, reminders and digests, /status, the chart and the reports all ask it."""

    year: int
    items: list[PlanItem]
    quarters: list[Quarter]
    by_role: dict[str, list[Person]]
    proofs: list[Proof]
    # (school year, quarter) -> when the first journal backup of that quarter was logged.
    journal: dict[tuple[int, int], datetime] = field(default_factory=dict)

    def people_for(self, item: PlanItem) -> list[Person]:
        seen: dict[int, Person] = {}
        for role in item.responsible:
            for person in self.by_role.get(role, []):
                seen.setdefault(person.id, person)
        return sorted(seen.values(), key=lambda p: p.full_name)

    def reviewers(self) -> list[Person]:
        seen: dict[int, Person] = {}
        for role in sorted(REVIEWER_ROLES):
            for person in self.by_role.get(role, []):
                seen.setdefault(person.id, person)
        return list(seen.values())

    def item(self, number: str) -> PlanItem | None:
        return next((i for i in self.items if i.number == number), None)

    def occurrences(self, item: PlanItem) -> list[Occurrence]:
        return occurrences(item.deadline, school_year=self.year, quarters=self.quarters)

    def task(self, number: str, key: str) -> Task | None:
        item = self.item(number)
        if item is None:
            return None
        if key == NO_OCC:
            return Task(item, None) if not self.occurrences(item) else None
        occ = next((o for o in self.occurrences(item) if o.key == key), None)
        return Task(item, occ) if occ is not None else None

    def proofs_of(self, task: Task) -> list[Proof]:
        return [p for p in self.proofs if p.item_number == task.item.number and p.occurrence_key == task.key]

    def journal_logged(self, task: Task) -> datetime | None:
        if task.item.number != JOURNAL_ITEM:
            return None
        quarter = quarter_of(task)
        return self.journal.get((self.year, quarter)) if quarter is not None else None

    def closed_at(self, task: Task) -> datetime | None:
        """When the task was done: its journal backup was logged or a proof of it was accepted."""
        moments = [p.reviewed_at or p.created_at for p in self.proofs_of(task) if p.status == "accepted"]
        logged = self.journal_logged(task)
        if logged is not None:
            moments.append(logged)
        return min(moments) if moments else None

    def accepted(self, task: Task) -> bool:
        return self.journal_logged(task) is not None or any(p.status == "accepted" for p in self.proofs_of(task))

    def done_by(self, task: Task, person_id: int) -> bool:
        """No more nagging: the task is accepted, or this person's proof waits for review."""
        return self.accepted(task) or any(
            p.person_id == person_id and p.status == "submitted" for p in self.proofs_of(task)
        )

    def status(self, task: Task, today: date) -> str:
        proofs = self.proofs_of(task)
        if self.accepted(task):
            return "accepted"
        if any(p.status == "submitted" for p in proofs):
            return "submitted"
        if proofs and proofs[-1].status == "returned":
            return "returned"
        if task.due is not None and task.due < today:
            return "overdue"
        if task.occ is None:
            return task.item.deadline.kind if task.item.deadline.kind != "whole_period" else "monitored"
        return "open"

    def current_tasks(self, item: PlanItem, today: date) -> list[Task]:
        """What is on the list today: past occurrences not yet accepted, and the next one."""
        occs = self.occurrences(item)
        if not occs:
            return [Task(item, None)]
        result: list[Task] = []
        upcoming_taken = False
        for occ in occs:
            task = Task(item, occ)
            if occ.due is not None and occ.due < today:
                if not self.accepted(task):
                    result.append(task)
            elif not upcoming_taken:
                result.append(task)
                upcoming_taken = True
        return result

    def summary_state(self, task: Task, today: date) -> str:
        """The task in three words, for counts and sheets: "done" (accepted or its backup
        logged), "overdue" (past its due date and not done, whatever waits for review), "open"."""
        if self.accepted(task):
            return "done"
        if task.due is not None and task.due < today:
            return "overdue"
        return "open"

    def dated_tasks(self) -> list[Task]:
        """Every dated occurrence of every item, in plan order."""
        return [Task(item, occ) for item in self.items for occ in self.occurrences(item)]

    def overdue(self, today: date) -> list[Task]:
        found = []
        for item in self.items:
            for occ in self.occurrences(item):
                task = Task(item, occ)
                if occ.due is not None and occ.due < today and not self.accepted(task):
                    found.append(task)
        return found


# --- listing -------------------------------------------------------------------------------------

PAGE_SIZE = 5
SHORT_TEXT = 160


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tasks_for(snap: Snapshot, person: Person, today: date) -> list[Task]:
    """The person's tasks: overdue first (oldest first), then by due date, then undated ones in
    plan order. The IT officer also sees every item with no deadline set, to set one."""
    mine: list[Task] = []
    for item in snap.items:
        responsible = bool(person.roles & set(item.responsible))
        unset_for_admin = person.is_admin and item.deadline.kind == "unset"
        if responsible or unset_for_admin:
            mine.extend(snap.current_tasks(item, today))
    order = {item.number: i for i, item in enumerate(snap.items)}

    def sort_key(task: Task) -> tuple[int, date, int]:
        overdue = task.due is not None and task.due < today and not snap.accepted(task)
        if overdue:
            return (0, task.due or date.max, order[task.item.number])
        if task.due is not None:
            return (1, task.due, order[task.item.number])
        start = task.occ.starts if task.occ is not None and task.occ.starts else date.max
        return (2, start, order[task.item.number])

    return sorted(mine, key=sort_key)


ROMAN = ("I", "II", "III", "IV", "V", "VI")


def quarter_of(task: Task) -> int | None:
    """The quarter number of a quarterly occurrence ("q2-2026" -> 2), else None."""
    key = task.key
    if task.item.deadline.kind != "each_quarter" or not key.startswith("q"):
        return None
    head = key[1:].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def task_label(task: Task, t: Translator) -> str:
    """ "Пункт 16 · II четверть" for a quarterly occurrence, "Пункт 3" otherwise: recurring
    occurrences of one item never look alike in a list, a button or a message."""
    quarter = quarter_of(task)
    if quarter is not None and 1 <= quarter <= len(ROMAN):
        return t("tasks.label.quarter", number=task.item.number, quarter=ROMAN[quarter - 1])
    return t("tasks.label.plain", number=task.item.number)


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(kw_only=True, eq=False)
class TasksService:
    """The plan's tasks as each person sees them (one snapshot per reading)."""

    catalog: Catalog
    db: UnitOfWork
    ops_repo: OpsRecords
    people: People
    plan_repo: PlanRecords
    school: SchoolConfig
    tasks_import: TasksImport


    def quarters_of(self) -> list[Quarter]:
        return [Quarter(i, q.start, q.end) for i, q in enumerate(self.school.school_year.quarters, start=1)]

    async def snapshot(self) -> Snapshot:
        await self.tasks_import.ensure_plan()
        repo = self.plan_repo
        year = await repo.plan_year() or self.school.school_year.year
        items = await repo.items()
        # One read of the active roster, grouped by role (cheaper than a query per role every minute).
        by_role: dict[str, list[Person]] = {}
        for person in await self.people.active():
            for role in person.roles:
                by_role.setdefault(role, []).append(person)
        journal: dict[tuple[int, int], datetime] = {}
        for backup in await self.ops_repo.journal_backups():
            journal.setdefault((backup.school_year, backup.quarter), backup.logged_at)
        return Snapshot(
            year=year,
            items=items,
            quarters=self.quarters_of(),
            by_role=by_role,
            proofs=await repo.proofs(),
            journal=journal,
        )

    def translator(self, person: Person) -> Translator:
        return self.catalog.translator_for(person)

    async def get_proof(self, proof_id: int) -> Proof | None:
        return await self.plan_repo.proof(proof_id)

    async def get_item(self, number: str) -> PlanItem | None:
        await self.tasks_import.ensure_plan()
        return await self.plan_repo.item(number)
