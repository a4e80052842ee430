"""Plan tasks: the plan in the database, each staff member's tasks, done-with-proof and review,
deadline and responsibility edits.

A task is one occurrence of a plan item (``deadlines.Occurrence``; items without dated
occurrences - whole period, per event, unset - are one task with the key ``"-"``). Responsible
people are never stored: they are the active roster people holding the item's roles at the moment
of asking, so roster changes apply at once.
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.access import EDITOR_ROLES, REVIEWER_ROLES
from bot.domain.calendar import Occurrence, Quarter, deadline_words, occurrences
from bot.domain.people import Person
from bot.domain.plan import Deadline, Plan, PlanItem
from bot.html_fit import fit_html
from bot.i18n import Translator
from bot.russian import Named
from bot.services.imports import Importer, ImportOptions, ImportOutcome
from bot.services.plan import PLAN_PATH, ROLE_CODES, PlanError, parse_plan, shift_plan
from bot.services.roster import RowError
from bot.services.tabular import MAX_FILE_BYTES
from storage import ops
from storage.outbox import Payload, enqueue
from storage.tasks import Proof, TaskRepo

if TYPE_CHECKING:
    import aiosqlite

    from bot.services.core import Core

NO_OCC = "-"
TEXT_LIMIT = 4000  # Telegram allows 4096; keep a margin for entities


# --- callback data (shared by the handlers and the outbox messages this service builds) ----------


# --- plan import ----------------------------------------------------------------------------------


def _error_line(source: str, message: str) -> int:
    """The line of the item a PlanError names ("item 8 (entry 12): ..."), else 1."""
    match = re.match(r"item (\S+) \(entry", message)
    if match:
        wanted = f'"{match.group(1)}"'
        for number, line in enumerate(source.splitlines(), start=1):
            if line.strip().startswith("number") and wanted in line:
                return number
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else 1


def _read_plan(data: bytes, year: int) -> Plan | RowError:
    """Decoding, TOML and validation: CPU work, run in a worker thread."""
    if len(data) > MAX_FILE_BYTES:
        return RowError(0, "file.too_big", {"limit": str(MAX_FILE_BYTES // (1024 * 1024))})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return RowError(line, "file.text_encoding", {"byte": f"0x{data[exc.start]:02X}"})
    try:
        return shift_plan(parse_plan(tomllib.loads(text)), year)
    except tomllib.TOMLDecodeError as exc:
        return RowError(_error_line(text, str(exc)), "table", {"detail": str(exc)})
    except PlanError as exc:
        return RowError(_error_line(text, str(exc)), "table", {"detail": str(exc)})


async def import_plan(app: Core, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
    """All-or-nothing: a bad file writes nothing; importing the same file twice changes nothing."""
    year = options.school_year or app.school.school_year.year
    parsed = await asyncio.to_thread(_read_plan, data, year)
    if isinstance(parsed, RowError):
        return ImportOutcome(errors=[parsed])
    plan = parsed
    now = app.clock.now()
    async with app.db.transaction() as conn:
        existing = await TaskRepo.existing_items(conn)
        added = updated = unchanged = 0
        for item in plan.items:
            old = existing.get(item.number)
            if old is None:
                added += 1
            elif old != (item, True):
                updated += 1
            else:
                unchanged += 1
        incoming = {item.number for item in plan.items}
        removed = sum(1 for number, (_, active) in existing.items() if number not in incoming and active)
        if not options.dry_run:
            await TaskRepo.save_plan(conn, plan.items, title=plan.title, order=plan.order, school_year=year, now=now)
    counts = {"added": added, "updated": updated, "unchanged": unchanged, "deactivated": removed}
    return ImportOutcome(counts=counts, applied=not options.dry_run)


PLAN_IMPORTER = Importer(kind="plan", label_key="tasks.import_kind", run=import_plan)


async def ensure_plan(app: Core) -> None:
    """Load the shipped plan for the configured school year once, on the first start."""
    if app.plan_checked:
        return
    if await TaskRepo(app.db).plan_year() is None:
        outcome = await import_plan(app, PLAN_PATH.read_bytes(), PLAN_PATH.name, ImportOptions())
        if not outcome.ok:  # pragma: no cover - the shipped plan is tested
            raise RuntimeError(f"shipped plan does not load: {outcome.errors}")
    app.plan_checked = True


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


def quarters_of(app: Core) -> list[Quarter]:
    return [Quarter(i, q.start, q.end) for i, q in enumerate(app.school.school_year.quarters, start=1)]


async def snapshot(app: Core) -> Snapshot:
    await ensure_plan(app)
    repo = TaskRepo(app.db)
    year = await repo.plan_year() or app.school.school_year.year
    items = await repo.items()
    # One read of the active roster, grouped by role (cheaper than a query per role every minute).
    by_role: dict[str, list[Person]] = {}
    for person in await app.people.active():
        for role in person.roles:
            by_role.setdefault(role, []).append(person)
    journal: dict[tuple[int, int], datetime] = {}
    for backup in await ops.journal_backups(app.db):
        journal.setdefault((backup.school_year, backup.quarter), backup.logged_at)
    return Snapshot(
        year=year,
        items=items,
        quarters=quarters_of(app),
        by_role=by_role,
        proofs=await repo.proofs(),
        journal=journal,
    )


def translator(app: Core, person: Person) -> Translator:
    return app.translator_for(person)


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


def fit(text: str) -> str:
    return fit_html(text, TEXT_LIMIT)


async def get_proof(app: Core, proof_id: int) -> Proof | None:
    return await TaskRepo(app.db).proof(proof_id)


async def get_item(app: Core, number: str) -> PlanItem | None:
    await ensure_plan(app)
    return await TaskRepo(app.db).item(number)


# --- actions -------------------------------------------------------------------------------------


class Refused(Exception):
    """The caller may not do this (or the object is gone); `key` is a catalog key for the answer."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def checked_task(app: Core, person: Person, number: str, key: str, *, responsible: bool) -> tuple[Snapshot, Task]:
    """The task a callback names, after checking the caller may see (or act on) it."""
    snap = await snapshot(app)
    task = snap.task(number, key)
    if task is None:
        raise Refused("tasks.gone")
    is_responsible = bool(person.roles & set(task.item.responsible))
    if responsible and not is_responsible:
        raise Refused("tasks.not_responsible")
    if not (is_responsible or person.roles & REVIEWER_ROLES):
        raise Refused("tasks.not_responsible")
    return snap, task


@dataclass(frozen=True)
class ProofInput:
    kind: str  # text, link, document, photo
    body: str | None
    file_id: str | None = None
    file_unique_id: str | None = None
    file_name: str | None = None


_LINK = re.compile(r"https?://\S+", re.IGNORECASE)


def text_proof(text: str) -> ProofInput:
    return ProofInput(kind="link" if _LINK.search(text) else "text", body=text.strip()[:3000])


async def submit_proof(app: Core, person: Person, number: str, key: str, proof: ProofInput) -> int:
    snap, task = await checked_task(app, person, number, key, responsible=True)
    if snap.accepted(task):
        raise Refused("tasks.already_accepted")
    now = app.clock.now()
    reviewers = [p for p in snap.reviewers() if p.id != person.id and p.reachable]
    async with app.db.transaction() as conn:
        proof_id = await TaskRepo.add_proof(
            conn,
            item_number=number,
            occurrence_key=key,
            person_id=person.id,
            kind=proof.kind,
            body=proof.body,
            file_id=proof.file_id,
            file_unique_id=proof.file_unique_id,
            file_name=proof.file_name,
            now=now,
        )
        # A file proof travels as the file itself (re-sent by its file_id), captioned and with the
        # review buttons under it: a reviewer must see what they accept, not only its name.
        with_file = proof.kind in ("document", "photo") and proof.file_id is not None
        # A caption holds 1024 characters: shorter excerpts there, cut before escaping.
        excerpt = 200 if with_file else 500
        for reviewer in reviewers:
            t = app.translator_for(reviewer)
            what = t(f"tasks.proof_kind.{proof.kind}")
            if proof.body:
                what += f": {esc(shorten(proof.body, excerpt))}"
            elif proof.file_name:
                what += f": {esc(shorten(proof.file_name, 100))}"
            text = t(
                "tasks.review.new",
                name=Named(shorten(person.full_name, 100), escape=True),
                number=number,
                label=task_label(task, t),
                text=esc(shorten(task.item.text, excerpt if with_file else 300)),
                deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                what=what,
            )
            markup = app.buttons.proof_review(proof_id, t)
            assert reviewer.tg_user_id is not None
            await enqueue(
                conn,
                dedupe_key=f"task:proof:{proof_id}:{reviewer.id}",
                chat_id=reviewer.tg_user_id,
                person_id=reviewer.id,
                kind="photo" if proof.kind == "photo" and with_file else "document" if with_file else "text",
                payload=Payload(
                    text=text if with_file else fit(text),
                    reply_markup=markup,
                    file_id=proof.file_id if with_file else None,
                ),
                now=now,
                priority=4,
            )
    app.wake_sender()
    return proof_id


async def review(app: Core, reviewer: Person, proof_id: int, *, accept: bool, comment: str | None) -> Proof:
    if not reviewer.roles & REVIEWER_ROLES:
        raise Refused("tasks.review.not_allowed")
    repo = TaskRepo(app.db)
    proof = await repo.proof(proof_id)
    if proof is None:
        raise Refused("tasks.gone")
    if proof.status != "submitted":
        raise Refused("tasks.review.already")
    item = await repo.item(proof.item_number)
    submitter = await app.people.get(proof.person_id)
    now = app.clock.now()
    async with app.db.transaction() as conn:
        ok = await TaskRepo.review_proof(
            conn,
            proof_id,
            status="accepted" if accept else "returned",
            reviewer_id=reviewer.id,
            comment=comment,
            now=now,
        )
        if not ok:
            raise Refused("tasks.review.already")
        if submitter is not None and submitter.reachable and submitter.id != reviewer.id and item is not None:
            t = app.translator_for(submitter)
            key = "tasks.review.accepted" if accept else "tasks.review.returned"
            text = t(
                key,
                number=item.number,
                text=esc(shorten(item.text, 300)),
                name=Named(reviewer.full_name, escape=True),
                comment=esc(comment or ""),
            )
            markup = None
            if not accept:
                markup = app.buttons.task_returned(item.number, proof.occurrence_key, t)
            assert submitter.tg_user_id is not None
            await enqueue(
                conn,
                dedupe_key=f"task:review:{proof_id}",
                chat_id=submitter.tg_user_id,
                person_id=submitter.id,
                kind="text",
                payload=Payload(text=fit(text), reply_markup=markup),
                now=now,
                priority=4,
            )
    app.wake_sender()
    found = await repo.proof(proof_id)
    assert found is not None
    return found


def next_working_morning(app: Core, now: datetime) -> datetime:
    """Tomorrow's (or the next working day's) start of work."""
    tomorrow = app.school.calendar.local_date(now) + timedelta(days=1)
    cal = app.school.calendar
    return cal.send_window(cal.day_start(tomorrow))


async def snooze(app: Core, person: Person, number: str, key: str) -> datetime:
    _snap, task = await checked_task(app, person, number, key, responsible=True)
    now = app.clock.now()
    at = next_working_morning(app, now)
    async with app.db.transaction() as conn:
        await TaskRepo.add_snooze(conn, number, task.key, person.id, at, now)
    return at


DATE_KINDS = frozenset({"date", "from_date", "month", "yearly_month"})
EDIT_KINDS = ("date", "month", "from_date", "each_quarter", "yearly_month", "whole_period", "per_event", "unset")


def parse_day(text: str) -> date | None:
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*", text)
    if not match:
        return None
    try:
        return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    except ValueError:
        return None


def make_deadline(kind: str, day: date | None, source: str) -> Deadline:
    if kind in ("date", "from_date"):
        return Deadline(kind=kind, date=day, year=None, month=None, source=source)
    if kind == "month":
        assert day is not None
        return Deadline(kind=kind, date=None, year=day.year, month=day.month, source=source)
    if kind == "yearly_month":
        assert day is not None
        return Deadline(kind=kind, date=None, year=None, month=day.month, source=source)
    return Deadline(kind=kind, date=None, year=None, month=None, source=source)


async def _notify_change(
    app: Core, conn: aiosqlite.Connection, snap: Snapshot, old: PlanItem, new: PlanItem, editor: Person, now: datetime
) -> None:
    affected: dict[int, Person] = {}
    for role in set(old.responsible) | set(new.responsible):
        for person in snap.by_role.get(role, []):
            affected.setdefault(person.id, person)
    stamp = now.strftime("%Y%m%d%H%M%S%f")
    for person in affected.values():
        if person.id == editor.id or not person.reachable:
            continue
        t = app.translator_for(person)
        still = bool(person.roles & set(new.responsible))
        text = t(
            "tasks.edit.notify" if still else "tasks.edit.notify_removed",
            number=new.number,
            text=esc(shorten(new.text, 300)),
            deadline=deadline_words(new.deadline, None, t.lang),
            roles=", ".join(t(f"roles.{r}") for r in new.responsible),
            name=esc(editor.full_name),
        )
        assert person.tg_user_id is not None
        await enqueue(
            conn,
            dedupe_key=f"task:edit:{new.number}:{stamp}:{person.id}",
            chat_id=person.tg_user_id,
            person_id=person.id,
            kind="text",
            payload=Payload(text=fit(text)),
            now=now,
        )


async def set_deadline(app: Core, editor: Person, number: str, kind: str, day: date | None) -> PlanItem:
    if not editor.roles & EDITOR_ROLES:
        raise Refused("tasks.edit.not_allowed")
    if kind not in EDIT_KINDS or (kind in DATE_KINDS) != (day is not None):
        raise Refused("tasks.edit.bad_kind")
    snap = await snapshot(app)
    old = snap.item(number)
    if old is None:
        raise Refused("tasks.gone")
    t = app.catalog.bind("ru")
    source = t("tasks.edit.source", when=app.clock.now().astimezone(app.school.tz).strftime("%d.%m.%Y"))
    deadline = make_deadline(kind, day, source)
    new = PlanItem(
        number=old.number,
        text=old.text,
        deadline=deadline,
        responsible=old.responsible,
        responsible_text=old.responsible_text,
        proof=old.proof,
    )
    now = app.clock.now()
    async with app.db.transaction() as conn:
        await TaskRepo.update_deadline(conn, number, deadline, now)
        await _notify_change(app, conn, snap, old, new, editor, now)
    app.wake_sender()
    return new


async def set_roles(app: Core, editor: Person, number: str, roles: list[str]) -> PlanItem:
    if not editor.roles & EDITOR_ROLES:
        raise Refused("tasks.edit.not_allowed")
    roles = [r for r in ROLE_CODES if r in set(roles)]
    if not roles:
        raise Refused("tasks.edit.no_roles")
    snap = await snapshot(app)
    old = snap.item(number)
    if old is None:
        raise Refused("tasks.gone")
    # People of newly added roles may not be in the snapshot yet.
    for role in roles:
        if role not in snap.by_role:
            snap.by_role[role] = await app.people.with_role(role)
    new = PlanItem(
        number=old.number,
        text=old.text,
        deadline=old.deadline,
        responsible=tuple(roles),
        responsible_text=old.responsible_text,
        proof=old.proof,
    )
    now = app.clock.now()
    async with app.db.transaction() as conn:
        await TaskRepo.update_roles(conn, number, roles, now)
        await _notify_change(app, conn, snap, old, new, editor, now)
    app.wake_sender()
    return new


STAFF_EDIT_ROLES = tuple(r for r in ROLE_CODES if r not in ("parent", "student"))
