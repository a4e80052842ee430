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

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

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
from bot.tg.callbacks import ProofAct, TaskAct, TaskEdit, TaskPage
from storage import ops
from storage.outbox import Payload, enqueue
from storage.tasks import Proof, TaskRepo

if TYPE_CHECKING:
    import aiosqlite

    from bot.app import App

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


async def import_plan(app: App, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
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


async def ensure_plan(app: App) -> None:
    """Load the shipped plan for the configured school year once, on the first start."""
    if app.extras.get("tasks.plan_checked"):
        return
    if await TaskRepo(app.db).plan_year() is None:
        outcome = await import_plan(app, PLAN_PATH.read_bytes(), PLAN_PATH.name, ImportOptions())
        if not outcome.ok:  # pragma: no cover - the shipped plan is tested
            raise RuntimeError(f"shipped plan does not load: {outcome.errors}")
    app.extras["tasks.plan_checked"] = True


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


def quarters_of(app: App) -> list[Quarter]:
    return [Quarter(i, q.start, q.end) for i, q in enumerate(app.school.school_year.quarters, start=1)]


async def snapshot(app: App) -> Snapshot:
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


def translator(app: App, person: Person) -> Translator:
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


def _status_text(snap: Snapshot, task: Task, today: date, t: Translator) -> str:
    return t(f"tasks.status.{snap.status(task, today)}")


def _proof_expected(item: PlanItem, t: Translator) -> str:
    return item.proof or t("tasks.proof_any")


def render_list(
    snap: Snapshot, person: Person, today: date, page: int, t: Translator
) -> tuple[str, InlineKeyboardMarkup | None]:
    tasks = tasks_for(snap, person, today)
    if not tasks:
        return t("tasks.list.empty"), None
    pages = (len(tasks) + PAGE_SIZE - 1) // PAGE_SIZE
    page = max(0, min(page, pages - 1))
    chunk = tasks[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = [t("tasks.list.title", n=len(tasks), page=page + 1, pages=pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for task in chunk:
        status = snap.status(task, today)
        lines.append(
            t(
                "tasks.list.line",
                mark=t(f"tasks.mark.{status}"),
                label=task_label(task, t),
                text=_esc(shorten(task.item.text, SHORT_TEXT)),
                deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                status=t(f"tasks.status.{status}"),
                proof=_esc(shorten(_proof_expected(task.item, t), 100)),
            )
        )
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("tasks.btn.open_n", label=task_label(task, t)),
                    callback_data=TaskAct(action="open", item=task.item.number, occ=task.key).pack(),
                )
            ]
        )
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(text=t("tasks.btn.prev"), callback_data=TaskPage(page=page - 1).pack()))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(text=t("tasks.btn.next"), callback_data=TaskPage(page=page + 1).pack()))
    if nav:
        rows.append(nav)
    return _fit("\n\n".join(lines)), InlineKeyboardMarkup(inline_keyboard=rows)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit(text: str) -> str:
    return fit_html(text, TEXT_LIMIT)


def _when(app: App, moment: datetime) -> str:
    return moment.astimezone(app.school.tz).strftime("%d.%m.%Y %H:%M")


def render_task(
    app: App, snap: Snapshot, task: Task, viewer: Person, today: date, t: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    item = task.item
    people = snap.people_for(item)
    names = ", ".join(p.full_name for p in people) if people else t("tasks.view.nobody")
    roles = ", ".join(t(f"roles.{r}") for r in item.responsible)
    parts = [
        t(
            "tasks.view.body",
            number=item.number,
            text=_esc(shorten(item.text, 1500)),
            deadline=deadline_words(item.deadline, task.occ, t.lang),
            source=_esc(item.deadline.source or "—"),
            roles=roles,
            people=_esc(names),
            proof=_esc(_proof_expected(item, t)),
            status=_status_text(snap, task, today, t),
        )
    ]
    proofs = snap.proofs_of(task)
    if proofs:
        parts.append(t("tasks.view.proofs_title"))
        for proof in proofs[-10:]:
            parts.append(_proof_line(app, snap, proof, t))
    rows: list[list[InlineKeyboardButton]] = []
    responsible = bool(viewer.roles & set(item.responsible))
    if responsible and not snap.done_by(task, viewer.id):
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("tasks.btn.done"),
                    callback_data=TaskAct(action="done", item=item.number, occ=task.key).pack(),
                )
            ]
        )
    if viewer.roles & REVIEWER_ROLES:
        for proof in proofs:
            if proof.status == "submitted" and proof.person_id != viewer.id:
                rows.append(review_buttons(proof.id, t, with_name=_name(snap, proof.person_id)))
    if viewer.roles & EDITOR_ROLES:
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("tasks.btn.edit_deadline"),
                    callback_data=TaskEdit(action="deadline", item=item.number).pack(),
                ),
                InlineKeyboardButton(
                    text=t("tasks.btn.edit_roles"), callback_data=TaskEdit(action="roles", item=item.number).pack()
                ),
            ]
        )
    rows.append([InlineKeyboardButton(text=t("tasks.btn.back"), callback_data=TaskPage(page=0).pack())])
    return _fit("\n\n".join(parts)), InlineKeyboardMarkup(inline_keyboard=rows)


def _name(snap: Snapshot, person_id: int) -> str:
    for people in snap.by_role.values():
        for p in people:
            if p.id == person_id:
                return p.full_name
    return f"#{person_id}"


def _proof_line(app: App, snap: Snapshot, proof: Proof, t: Translator) -> str:
    what = t(f"tasks.proof_kind.{proof.kind}")
    if proof.body:
        what += f": {_esc(shorten(proof.body, 120))}"
    elif proof.file_name:
        what += f": {_esc(shorten(proof.file_name, 60))}"
    line = t(
        "tasks.view.proof_line",
        name=_esc(_name(snap, proof.person_id)),
        what=what,
        status=t(f"tasks.proof_status.{proof.status}"),
        when=_when(app, proof.created_at),
    )
    if proof.review_comment:
        line += "\n" + t("tasks.view.comment", comment=_esc(shorten(proof.review_comment, 300)))
    return line


def review_buttons(proof_id: int, t: Translator, *, with_name: str | None = None) -> list[InlineKeyboardButton]:
    suffix = f" · {shorten(with_name, 24)}" if with_name else ""
    return [
        InlineKeyboardButton(
            text=t("tasks.btn.accept") + suffix, callback_data=ProofAct(action="accept", proof_id=proof_id).pack()
        ),
        InlineKeyboardButton(
            text=t("tasks.btn.return"), callback_data=ProofAct(action="return", proof_id=proof_id).pack()
        ),
    ]


async def get_proof(app: App, proof_id: int) -> Proof | None:
    return await TaskRepo(app.db).proof(proof_id)


async def get_item(app: App, number: str) -> PlanItem | None:
    await ensure_plan(app)
    return await TaskRepo(app.db).item(number)


# --- actions -------------------------------------------------------------------------------------


class Refused(Exception):
    """The caller may not do this (or the object is gone); `key` is a catalog key for the answer."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def checked_task(app: App, person: Person, number: str, key: str, *, responsible: bool) -> tuple[Snapshot, Task]:
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


async def submit_proof(app: App, person: Person, number: str, key: str, proof: ProofInput) -> int:
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
                what += f": {_esc(shorten(proof.body, excerpt))}"
            elif proof.file_name:
                what += f": {_esc(shorten(proof.file_name, 100))}"
            text = t(
                "tasks.review.new",
                name=Named(shorten(person.full_name, 100), escape=True),
                number=number,
                label=task_label(task, t),
                text=_esc(shorten(task.item.text, excerpt if with_file else 300)),
                deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                what=what,
            )
            markup = InlineKeyboardMarkup(inline_keyboard=[review_buttons(proof_id, t)]).model_dump(exclude_none=True)
            assert reviewer.tg_user_id is not None
            await enqueue(
                conn,
                dedupe_key=f"task:proof:{proof_id}:{reviewer.id}",
                chat_id=reviewer.tg_user_id,
                person_id=reviewer.id,
                kind="photo" if proof.kind == "photo" and with_file else "document" if with_file else "text",
                payload=Payload(
                    text=text if with_file else _fit(text),
                    reply_markup=markup,
                    file_id=proof.file_id if with_file else None,
                ),
                now=now,
                priority=4,
            )
    app.wake_sender()
    return proof_id


async def review(app: App, reviewer: Person, proof_id: int, *, accept: bool, comment: str | None) -> Proof:
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
                text=_esc(shorten(item.text, 300)),
                name=Named(reviewer.full_name, escape=True),
                comment=_esc(comment or ""),
            )
            markup = None
            if not accept:
                markup = InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(
                                text=t("tasks.btn.done"),
                                callback_data=TaskAct(action="done", item=item.number, occ=proof.occurrence_key).pack(),
                            ),
                            InlineKeyboardButton(
                                text=t("tasks.btn.open_task"),
                                callback_data=TaskAct(action="open", item=item.number, occ=proof.occurrence_key).pack(),
                            ),
                        ]
                    ]
                ).model_dump(exclude_none=True)
            assert submitter.tg_user_id is not None
            await enqueue(
                conn,
                dedupe_key=f"task:review:{proof_id}",
                chat_id=submitter.tg_user_id,
                person_id=submitter.id,
                kind="text",
                payload=Payload(text=_fit(text), reply_markup=markup),
                now=now,
                priority=4,
            )
    app.wake_sender()
    found = await repo.proof(proof_id)
    assert found is not None
    return found


def next_working_morning(app: App, now: datetime) -> datetime:
    """Tomorrow's (or the next working day's) start of work."""
    tomorrow = app.school.calendar.local_date(now) + timedelta(days=1)
    cal = app.school.calendar
    return cal.send_window(cal.day_start(tomorrow))


async def snooze(app: App, person: Person, number: str, key: str) -> datetime:
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
    app: App, conn: aiosqlite.Connection, snap: Snapshot, old: PlanItem, new: PlanItem, editor: Person, now: datetime
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
            text=_esc(shorten(new.text, 300)),
            deadline=deadline_words(new.deadline, None, t.lang),
            roles=", ".join(t(f"roles.{r}") for r in new.responsible),
            name=_esc(editor.full_name),
        )
        assert person.tg_user_id is not None
        await enqueue(
            conn,
            dedupe_key=f"task:edit:{new.number}:{stamp}:{person.id}",
            chat_id=person.tg_user_id,
            person_id=person.id,
            kind="text",
            payload=Payload(text=_fit(text)),
            now=now,
        )


async def set_deadline(app: App, editor: Person, number: str, kind: str, day: date | None) -> PlanItem:
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


async def set_roles(app: App, editor: Person, number: str, roles: list[str]) -> PlanItem:
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


def install(app: App) -> None:
    app.importers[PLAN_IMPORTER.kind] = PLAN_IMPORTER
