"""Status at a glance (plan item 17): one snapshot of the rollout, shared by /status, the chart and
the report.

Every section comes from another capability's tables, which land independently; a section whose
tables (or repository) are missing or broken is `None` ("not available") rather than an error, so
/status always answers. A class teacher's snapshot is limited to their class.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from html import escape
from typing import TYPE_CHECKING, TypeVar

from bot.channels import Channel
from bot.domain.access import MANAGER_ROLES
from bot.domain.calendar import Quarter
from bot.domain.ops import DbBackup, JournalBackup
from bot.domain.people import Person, class_sort_key
from bot.i18n import Translator
from bot.services.consent_gate import ConsentGate
from bot.services.repos import Destructions, InvitationCodes, OpsRecords
from bot.services.tickets_escalation import QuestionAges, QuestionEscalation

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.services.codes_print import CodesPrint
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class OverdueTask:
    number: str
    text: str
    due: date
    days: int


@dataclass
class TasksSummary:
    done: int = 0
    open: int = 0
    overdue: int = 0
    worst: list[OverdueTask] = field(default_factory=list)  # most overdue first


@dataclass
class Ratio:
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclass
class ConsentSummary:
    total: Ratio
    per_class: dict[str, Ratio]
    # Children whose representatives disagree, by class: cases for the school to settle.
    conflicts: dict[str, int] = field(default_factory=dict)
    # Destruction tasks after withdrawals still waiting for the IT officer: (open, past the term).
    destructions: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class CodeRow:
    role: str
    class_label: str | None
    imported: int
    delivered: int
    activated: int
    withheld: int = 0  # active codes the consent gate keeps in (no consent yet, declined, withdrawn)


@dataclass
class Unreachable:
    name: str
    class_label: str | None
    reason: str


@dataclass
class TrainingRow:
    title: str
    starts_at: datetime
    invited: int
    rsvp_yes: int
    attended: int


@dataclass
class StatusData:
    now: datetime
    scope_class: str | None  # None: the whole school
    people_total: int
    people_linked: int
    classes: list[str]
    tasks: TasksSummary | None
    consent: ConsentSummary | None
    codes: list[CodeRow] | None
    unreachable: list[Unreachable]
    open_questions: int | None
    last_journal: JournalBackup | None
    next_journal_due: Quarter | None
    journal_done_this_quarter: bool
    last_db_backup: DbBackup | None
    question_ages: QuestionAges | None = None  # unanswered questions by working hours waited
    people_max: int = 0  # linked on MAX (with or without Telegram)
    people_both: int = 0  # linked on both

    # Per messenger, derived (linked = on Telegram or MAX): /status and the report say the same.
    @property
    def people_telegram_only(self) -> int:
        return self.people_linked - self.people_max

    @property
    def people_max_only(self) -> int:
        return self.people_max - self.people_both

    @property
    def people_unlinked(self) -> int:
        return self.people_total - self.people_linked


async def _section(name: str, fn: Callable[[], Awaitable[T]]) -> T | None:
    try:
        return await fn()
    except Exception:
        # A capability's table may be mid-migration or its repository changed shape; /status
        # must still answer, showing this section as not available.
        log.exception("status section %s failed", name)
        return None


# --- the snapshot -----------------------------------------------------------------------------


def scope_for(viewer: Person | None) -> str | None:
    """A class teacher who is not also the IT officer or director sees only their class."""
    if viewer is None or viewer.has_role(*MANAGER_ROLES):
        return None
    return viewer.class_label or "—"


# --- rendering ---------------------------------------------------------------------------------


def _limited(lines: list[str], limit: int, more: Callable[[int], str]) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], more(len(lines) - limit)]


def render(data: StatusData, t: Translator, tz: tzinfo) -> str:
    """The /status message (HTML). Lists are cut with "…and N more"; the text is whole, the wire fits it."""

    def when(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")

    def day(d: date) -> str:
        return d.strftime("%d.%m.%Y")

    def more(n: int) -> str:
        return t.plural("status.and_more", n)

    na = t("status.not_available")
    out: list[str] = []
    title = t("status.title_class", cls=escape(data.scope_class)) if data.scope_class else t("status.title")
    out.append(f"<b>{title}</b> · {when(data.now)}")
    out.append(t("status.people", total=data.people_total, linked=data.people_linked))
    if data.people_max:
        # Per messenger, once anyone is on MAX (issue #17).
        out.append(t("status.people_channels", tg=data.people_telegram_only, max=data.people_max_only,
                     both=data.people_both))

    out.append("")
    out.append(f"<b>{t('status.tasks_h')}</b>")
    if data.tasks is None:
        out.append(na)
    else:
        out.append(t("status.tasks_line", done=data.tasks.done, open=data.tasks.open, overdue=data.tasks.overdue))
        worst = [
            t("status.task_overdue", number=escape(o.number), text=escape(_short(o.text, 70)), days=o.days)
            for o in data.tasks.worst
        ]
        out += _limited(worst, 5, more)

    out.append("")
    out.append(f"<b>{t('status.consent_h')}</b>")
    if data.consent is None:
        out.append(na)
    else:
        c = data.consent.total
        out.append(t("status.consent_total", done=c.done, total=c.total, pct=c.percent))
        per = [
            t("status.class_ratio", cls=escape(k), done=v.done, total=v.total, pct=v.percent)
            for k, v in data.consent.per_class.items()
        ]
        out += _limited(per, 20, more)
        if data.consent.conflicts:
            cases = ", ".join(f"{escape(k)} — {v}" for k, v in data.consent.conflicts.items())
            out.append(t("status.consent_conflicts", cases=cases))
        open_tasks, overdue = data.consent.destructions
        if open_tasks:
            out.append(t("status.consent_destructions", n=open_tasks, overdue=overdue))

    out.append("")
    out.append(f"<b>{t('status.codes_h')}</b>")
    if data.codes is None:
        out.append(na)
    elif not data.codes:
        out.append(t("status.codes_none"))
    else:
        lines = [
            t(
                "status.codes_line" if r.class_label else "status.codes_line_all",
                role=t(f"status.code_role.{r.role}"),
                cls=escape(r.class_label or ""),
                imported=r.imported,
                delivered=r.delivered,
                activated=r.activated,
            )
            + (t.plural("status.codes_withheld", r.withheld) if r.withheld else "")
            for r in data.codes
        ]
        out += _limited(lines, 25, more)

    out.append("")
    out.append(f"<b>{t('status.unreachable_h')}</b>")
    if not data.unreachable:
        out.append(t("status.nobody"))
    else:
        lines = [
            f"• {escape(u.name)}{' (' + escape(u.class_label) + ')' if u.class_label else ''}" for u in data.unreachable
        ]
        out += _limited(lines, 10, more)

    if data.scope_class is None:
        out.append("")
        out.append(
            t("status.questions", n=data.open_questions) if data.open_questions is not None else
            f"{t('status.questions_h')}: {na}"
        )
        if data.question_ages is not None and data.open_questions:
            a = data.question_ages
            out.append(t("status.questions_ages", digest=a.digest_after, fresh=a.fresh, listed=a.listed,
                         escalated=a.escalated))
        out.append("")
        out.append(f"<b>{t('status.backups_h')}</b>")
        if data.last_journal is None:
            out.append(t("status.journal_none"))
        else:
            j = data.last_journal
            out.append(
                t("status.journal_last", when=when(j.logged_at), quarter=j.quarter, label=escape(j.medium_label))
            )
        if data.next_journal_due is not None:
            nxt = data.next_journal_due
            out.append(t("status.journal_next", quarter=nxt.number, due=day(nxt.end)))
        b = data.last_db_backup
        if b is None:
            out.append(t("status.db_none"))
        elif b.ok:
            out.append(t("status.db_last", when=when(b.taken_at), size=_size(b.size_bytes)))
        else:
            out.append(t("status.db_failed", when=when(b.taken_at), detail=escape(_short(b.detail or "", 120))))

    # Whole: the messenger's wire cuts a long status into messages (bot/tg/wire_text.py).
    return "\n".join(out)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{max(1, n // 1024)} KB"


@dataclass(kw_only=True, eq=False)
class StatusService:
    """The /status figures: people, tasks, consent, codes, backups."""

    clock: Clock
    code_repo: InvitationCodes
    codes_print: CodesPrint
    consent_gate: ConsentGate
    db: UnitOfWork
    destructions: Destructions
    ops_repo: OpsRecords
    question_escalation: QuestionEscalation
    school: SchoolConfig
    tasks: TasksService


    # --- sections ---------------------------------------------------------------------------------
    async def _tasks(self, today: date, viewer: Person | None) -> TasksSummary | None:
        ops = self.ops_repo
        if not await ops.table_exists("plan_items") or not await ops.table_exists("task_proofs"):
            return None
        # The plan's one reading (bot.services.tasks.Snapshot): what /tasks, the reminders, the chart
        # and the report say about each occurrence, this says too.
        snap = await self.tasks.snapshot()
        summary = TasksSummary()
        for task in snap.dated_tasks():
            if viewer is not None and "class_teacher" not in task.item.responsible:
                continue
            state = snap.summary_state(task, today)
            if state == "done":
                summary.done += 1
            elif state == "overdue":
                assert task.due is not None
                summary.overdue += 1
                summary.worst.append(OverdueTask(task.item.number, task.item.text, task.due, (today - task.due).days))
            else:
                summary.open += 1
        summary.worst.sort(key=lambda o: (-o.days, o.number))
        return summary

    async def _consent(self, children: dict[int, str | None], scope: str | None) -> ConsentSummary | None:
        if not await self.ops_repo.table_exists("consent_ledger"):
            return None
        # The consent capability's own rule (the same gate that releases invitation codes).

        covered = await self.consent_gate.covered_children(
            self.db.conn, require_original=self.school.consent.codes_wait_for_original
        )
        disagree = await self.consent_gate.conflicts(self.db.conn)
        cases: dict[str, int] = defaultdict(int)
        total = Ratio()
        per_class: dict[str, Ratio] = defaultdict(Ratio)
        for child_id, label in children.items():
            if scope is not None and label != scope:
                continue
            ratio = per_class[label or "—"]
            ratio.total += 1
            total.total += 1
            if child_id in covered:
                ratio.done += 1
                total.done += 1
            if child_id in disagree:
                cases[label or "—"] += 1
        today = self.school.calendar.local_date(self.clock.now())
        pending = [
            d for d in await self.destructions.all_open(self.db.conn)
            if scope is None or children.get(d.child_id) == scope
        ] if await self.ops_repo.table_exists("consent_destructions") else []
        return ConsentSummary(
            total, dict(sorted(per_class.items(), key=lambda kv: class_sort_key(kv[0]))),
            conflicts=dict(sorted(cases.items(), key=lambda kv: class_sort_key(kv[0]))),
            destructions=(len(pending), sum(1 for d in pending if d.due_on < today)),
        )

    async def _codes(self, scope: str | None) -> list[CodeRow] | None:
        ops = self.ops_repo
        if not await ops.table_exists("codes") or not await ops.table_exists("code_deliveries"):
            return None

        withheld = await self.codes_print.withheld_counts()  # asks the consent gate, as every code path does
        rows = [
            CodeRow(
                f.role, f.class_label, f.imported, f.delivered, f.activated, withheld.get((f.class_label, f.role), 0)
            )
            for f in await self.code_repo.funnel()
            if scope is None or f.class_label == scope
        ]
        return sorted(rows, key=lambda r: (r.role, class_sort_key(r.class_label or "")))

    async def _open_questions(self) -> int | None:
        return await self.ops_repo.open_ticket_count()

    async def training_rows(self) -> list[TrainingRow] | None:
        rows = await self.ops_repo.training_attendance()
        if rows is None:
            return None

        return [TrainingRow(r.title, r.starts_at, r.invited, r.yes, r.attended) for r in rows]

    async def collect(self, viewer: Person | None = None) -> StatusData:
        now = self.clock.now()
        today = now.astimezone(self.school.tz).date()
        scope = scope_for(viewer)
        people = await self.ops_repo.roster_rows()
        pairs = await self.ops_repo.guardian_pairs()
        children = {p.id: p.class_label for p in people if "student" in p.roles}
        in_scope: set[int]
        if scope is None:
            in_scope = {p.id for p in people}
        else:
            kids = {cid for cid, label in children.items() if label == scope}
            in_scope = kids | {parent for parent, child in pairs if child in kids}
        scoped = [p for p in people if p.id in in_scope]
        classes = sorted({label for label in children.values() if label}, key=class_sort_key)
        if scope is not None:
            classes = [c for c in classes if c == scope]

        unreachable = [
            Unreachable(p.full_name, p.class_label, p.unreachable_reason or "")
            for p in scoped
            if p.unreachable_reason is not None
        ]
        tasks_viewer = viewer if scope is not None else None
        cq = self.school.calendar.current_quarter(today)
        year = self.school.school_year.year
        done_now = cq is not None and await self.ops_repo.quarter_has_backup(year, cq.number)
        next_due = cq
        if done_now and cq is not None:
            later = [q for q in self.school.calendar.quarters if q.number > cq.number]
            next_due = later[0] if later else None
        return StatusData(
            now=now,
            scope_class=scope,
            people_total=len(scoped),
            people_linked=sum(1 for p in scoped if p.linked),
            people_max=sum(1 for p in scoped if Channel.MAX in p.channels),
            people_both=sum(1 for p in scoped if len(p.channels) > 1),
            classes=classes,
            tasks=await _section("tasks", lambda: self._tasks(today, tasks_viewer)),
            consent=await _section("consent", lambda: self._consent(children, scope)),
            codes=await _section("codes", lambda: self._codes(scope)),
            unreachable=unreachable,
            open_questions=await _section("questions", lambda: self._open_questions()) if scope is None else None,
            last_journal=await self.ops_repo.last_journal_backup(),
            next_journal_due=next_due,
            journal_done_this_quarter=done_now,
            last_db_backup=await self.ops_repo.last_db_backup(),
            question_ages=await _section("questions", lambda: self.question_escalation.ages(now))
            if scope is None else None,
        )
