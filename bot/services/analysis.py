"""Plan item 18: "Анализ текущего состояния и задачи на следующий учебный год", drafted from the bot's
own data - consent, delivery and activation of codes per class, training attendance, plan items
done late or not done, the most frequent questions - with a proposed list of tasks for the next
year that the IT officer edits (in the bot or with `schoolbot analysis --tasks FILE`) before
printing. The same content is the PDF and the first sheet of the XLSX report.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.calendar import deadline_words
from bot.i18n import Translator
from bot.paths import CONTENT_DIR
from bot.services.access_log import AccessKind, AccessLog
from bot.services.exports import write_private
from bot.services.repos import AnalysisRecords
from bot.services.surveys_findings import Findings, SurveyFindings
from bot.services.surveys_findings import lines as finding_lines
from bot.services.surveys_findings import tasks as survey_tasks
from bot.services.tasks import JOURNAL_ITEM, ROMAN, quarter_of, task_label

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.services.faq import Faq, FaqLibrary
    from bot.services.status import StatusService
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

FONTS = CONTENT_DIR / "fonts"
TOP_QUESTIONS = 5
LOW_COVERAGE = 80  # percent: a class below it gets a task of its own
MAX_TASKS_TEXT = 3000
MAX_TASKS = 30


@dataclass(frozen=True)
class ClassRow:
    label: str
    children: int
    consent: int
    codes: int
    delivered: int
    activated: int

    @staticmethod
    def pct(part: int, whole: int) -> int:
        return round(100 * part / whole) if whole else 0


@dataclass(frozen=True)
class TrainingLine:
    title: str
    when: str
    invited: int
    attended: int


@dataclass(frozen=True)
class PlanLine:
    number: str
    period: str | None  # the quarter's roman numeral of a quarterly occurrence
    label: str
    text: str
    deadline: str
    done_on: date | None  # None: not done


@dataclass
class Analysis:
    school: str
    year: int
    made_on: date
    classes: list[ClassRow]
    training: list[TrainingLine]
    late: list[PlanLine]
    not_done: list[PlanLine]
    topics: list[tuple[str, int]]   # (FAQ category title, questions asked), never a question's text
    tasks: list[str]
    tasks_edited: bool
    proposed: list[str] = field(default_factory=list)
    # Surveys and acknowledgements (issue #26): competence, training, equipment, families, coverage.
    findings: Findings = field(default_factory=Findings)


# Every audience: a question is sorted into a topic whoever asked it.
_ALL_AUDIENCES = ("all", "parent", "pupil", "teacher")
OTHER_TOPIC = ""


def topic_counts(texts: list[str], faq: Faq, limit: int = TOP_QUESTIONS) -> list[tuple[str, int]]:
    """Questions counted by topic, most asked first: each question's topic is the FAQ category of
    the entry that answers it best ("" when none does).

    A question is a person's private message: it may name a child, a class or ask for a password
    (152-FZ: the analysis and the report go to staff who have no business reading it). So the
    report counts topics and never quotes a question; the texts stay with the IT officer's tickets."""
    counts: Counter[str] = Counter()
    for text in texts:
        hits = faq.search(text, _ALL_AUDIENCES, limit=1)
        counts[hits[0].category if hits else OTHER_TOPIC] += 1
    return counts.most_common(limit)


def propose_tasks(a: Analysis, t: Translator) -> list[str]:
    """A draft the IT officer edits: one task per weakness the data shows, then the standing ones."""
    tasks: list[str] = list(survey_tasks(a.findings, t))
    low = [c.label for c in a.classes if c.children and ClassRow.pct(c.consent, c.children) < LOW_COVERAGE]
    if low:
        tasks.append(t("analysis.task.consent", classes=", ".join(low)))
    inactive = [c.label for c in a.classes if c.delivered and ClassRow.pct(c.activated, c.delivered) < LOW_COVERAGE]
    if inactive:
        tasks.append(t("analysis.task.activation", classes=", ".join(inactive)))
    if any(line.invited and line.attended < line.invited for line in a.training) or not a.training:
        tasks.append(t("analysis.task.training"))
    # One task per item left undone; the quarterly backup's missed quarters go into its own task.
    seen: set[str] = set()
    for line in a.not_done:
        if line.number == JOURNAL_ITEM or line.number in seen:
            continue
        seen.add(line.number)
        tasks.append(t("analysis.task.not_done", label=t("tasks.label.plain", number=line.number),
                       text=_short(line.text, 90)))
    if a.late:
        tasks.append(t("analysis.task.late", labels=", ".join(line.label for line in a.late)))
    if a.topics:
        tasks.append(t("analysis.task.faq", topic=a.topics[0][0], n=a.topics[0][1]))
    missed = [line.period for line in a.not_done if line.number == JOURNAL_ITEM and line.period]
    if missed:
        tasks.append(t("analysis.task.backups_missed", quarters=", ".join(missed)))
    else:
        tasks.append(t("analysis.task.backups"))
    tasks.append(t("analysis.task.roster"))
    return tasks


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parse_tasks(text: str) -> list[str]:
    """The IT officer's edit: one task per line; list marks ("1.", "-", "•") are dropped."""
    tasks = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-–—•*])\s*", "", line).strip()
        if line:
            tasks.append(line)
    return tasks


class TasksError(Exception):
    """`key` is a catalog key for the user."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def title(a: Analysis, t: Translator) -> str:
    return t("analysis.title")


def rows(a: Analysis, t: Translator) -> list[list[Any]]:
    """The analysis as table rows (section, item, value): the XLSX report's first sheet."""
    out: list[list[Any]] = []
    for c in a.classes:
        out.append([
            t("analysis.sheet.coverage"),
            c.label,
            t("analysis.class_line", children=c.children, consent=c.consent,
              consent_pct=ClassRow.pct(c.consent, c.children), delivered=c.delivered, codes=c.codes,
              activated=c.activated, activated_pct=ClassRow.pct(c.activated, c.delivered)),
        ])
    for s in a.training:
        out.append([t("analysis.sheet.training"), f"{s.title} ({s.when})",
                    t("analysis.training_line", invited=s.invited, attended=s.attended)])
    if not a.training:
        out.append([t("analysis.sheet.training"), t("analysis.none"), ""])
    for line in a.late:
        assert line.done_on is not None
        out.append([t("analysis.sheet.late"), f"{line.label}. {line.text}",
                    t("analysis.late_line", deadline=line.deadline, done=line.done_on.strftime("%d.%m.%Y"))])
    for line in a.not_done:
        out.append([t("analysis.sheet.not_done"), f"{line.label}. {line.text}", line.deadline])
    if not a.late and not a.not_done:
        out.append([t("analysis.sheet.late"), t("analysis.all_on_time"), ""])
    for topic, n in a.topics:
        out.append([t("analysis.sheet.questions"), topic, n])
    if not a.topics:
        out.append([t("analysis.sheet.questions"), t("analysis.none"), ""])
    for part, what, value in finding_lines(a.findings, t):
        out.append([t("surveys.findings.sheet"), f"{part}: {what}", value])
    for i, task in enumerate(a.tasks, start=1):
        out.append([t("analysis.sheet.tasks"), f"{i}. {task}", ""])
    return out


def render_pdf(a: Analysis, t: Translator) -> bytes:
    """Blocking (fpdf): run in a thread. A4 portrait, the school's name, the title, five sections."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title(a, t))
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(width, 5, a.school, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(width, 7, title(a, t), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    made = t("analysis.made_on", year=a.year, next=a.year + 1, day=a.made_on.strftime("%d.%m.%Y"))
    pdf.multi_cell(width, 5, made, align="C", new_x="LMARGIN", new_y="NEXT")
    head = FontFace(emphasis="BOLD", fill_color=(230, 236, 245))

    def section(text: str) -> None:
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 12)
        pdf.multi_cell(width, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font("DejaVu", "", 9)

    def table(header: list[str], body: list[list[str]], widths: tuple[int, ...]) -> None:
        with pdf.table(col_widths=widths, headings_style=head, line_height=5, text_align="LEFT") as tbl:
            for cells in [header, *body]:
                row = tbl.row()
                for cell in cells:
                    row.cell(cell)

    section(t("analysis.section.coverage"))
    if a.classes:
        table(
            [t("analysis.col.class"), t("analysis.col.consent"), t("analysis.col.delivered"),
             t("analysis.col.activated")],
            [[c.label, f"{c.consent} / {c.children} ({ClassRow.pct(c.consent, c.children)}%)",
              f"{c.delivered} / {c.codes}", f"{c.activated} ({ClassRow.pct(c.activated, c.delivered)}%)"]
             for c in a.classes],
            (20, 30, 25, 25),
        )
    else:
        pdf.multi_cell(width, 5, t("analysis.none"), new_x="LMARGIN", new_y="NEXT")

    section(t("analysis.section.training"))
    if a.training:
        table([t("analysis.col.session"), t("analysis.col.date"), t("analysis.col.invited"),
               t("analysis.col.attended")],
              [[s.title, s.when, str(s.invited), str(s.attended)] for s in a.training], (50, 18, 16, 16))
    else:
        pdf.multi_cell(width, 5, t("analysis.none"), new_x="LMARGIN", new_y="NEXT")

    section(t("analysis.section.plan"))
    plan_rows = [[f"{line.label}. {_short(line.text, 160)}", line.deadline,
                  line.done_on.strftime("%d.%m.%Y") if line.done_on else t("analysis.not_done")]
                 for line in [*a.late, *a.not_done]]
    if plan_rows:
        table([t("analysis.col.item"), t("analysis.col.deadline"), t("analysis.col.done")], plan_rows, (60, 25, 15))
    else:
        pdf.multi_cell(width, 5, t("analysis.all_on_time"), new_x="LMARGIN", new_y="NEXT")

    section(t("analysis.section.questions"))
    if a.topics:
        table([t("analysis.col.question"), t("analysis.col.times")],
              [[topic, str(n)] for topic, n in a.topics], (85, 15))
    else:
        pdf.multi_cell(width, 5, t("analysis.none"), new_x="LMARGIN", new_y="NEXT")

    section(t("surveys.findings.section"))
    found = finding_lines(a.findings, t)
    if found:
        table([t("surveys.findings.col.part"), t("surveys.findings.col.what"), t("surveys.findings.col.value")],
              [[part, _short(what, 160), value] for part, what, value in found], (22, 38, 40))
    else:
        pdf.multi_cell(width, 5, t("surveys.findings.none"), new_x="LMARGIN", new_y="NEXT")

    section(t("analysis.section.tasks"))
    pdf.set_font("DejaVu", "", 10)
    for i, task in enumerate(a.tasks, start=1):
        pdf.multi_cell(width, 5.5, f"{i}. {task}", align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.5)
    pdf.ln(10)
    pdf.multi_cell(width, 5, t("analysis.signature"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def filename(a: Analysis) -> str:
    return f"analysis-{a.year}-{a.year + 1}.pdf"


@dataclass(kw_only=True, eq=False)
class AnalysisService:
    """Plan item 18: the year's analysis (classes, training, plan) and next year's task list."""

    access_log: AccessLog
    analysis_repo: AnalysisRecords
    clock: Clock
    db: UnitOfWork
    school: SchoolConfig
    faq_library: FaqLibrary
    status: StatusService
    survey_findings: SurveyFindings
    tasks: TasksService

    def _topics(self, texts: list[str], t: Translator) -> list[tuple[str, int]]:
        faq = self.faq_library.get(t.lang)
        titles = {c.id: c.title for c in faq.all_categories()}
        return [(titles.get(topic, topic) or t("analysis.topic_other"), n) for topic, n in topic_counts(texts, faq)]

    async def save_tasks(self, text: str, *, by: int | None) -> list[str]:
        tasks = parse_tasks(text)
        if not tasks:
            raise TasksError("analysis.tasks_empty")
        if len(text) > MAX_TASKS_TEXT or len(tasks) > MAX_TASKS:
            raise TasksError("analysis.tasks_too_long")
        await self.analysis_repo.save_tasks(
            self.school.school_year.year, "\n".join(tasks), by=by, now=self.clock.now()
        )
        return tasks

    async def collect(self, t: Translator) -> Analysis:
        now = self.clock.now()
        today = now.astimezone(self.school.tz).date()
        data = await self.status.collect(None)
        codes: dict[str, list[int]] = {}
        for row in data.codes or []:
            if row.role == "student" and row.class_label:
                acc = codes.setdefault(row.class_label, [0, 0, 0])
                acc[0] += row.imported
                acc[1] += row.delivered
                acc[2] += row.activated
        classes = []
        per_class = data.consent.per_class if data.consent is not None else {}
        for label in data.classes:
            ratio = per_class.get(label)
            imported, delivered, activated = codes.get(label, [0, 0, 0])
            classes.append(
                ClassRow(label, ratio.total if ratio else 0, ratio.done if ratio else 0, imported, delivered, activated)
            )
        tz = self.school.tz
        training = [
            TrainingLine(s.title, s.starts_at.astimezone(tz).strftime("%d.%m.%Y"), s.invited, s.attended)
            for s in (await self.status.training_rows() or [])
            if s.starts_at <= now
        ]
        snap = await self.tasks.snapshot()
        late: list[PlanLine] = []
        not_done: list[PlanLine] = []
        for task in snap.dated_tasks():
            if task.due is None or task.due >= today:
                continue
            closed = snap.closed_at(task)
            quarter = quarter_of(task)
            line = PlanLine(
                task.item.number,
                ROMAN[quarter - 1] if quarter else None,
                task_label(task, t),
                task.item.text,
                deadline_words(task.item.deadline, task.occ, t.lang),
                closed.astimezone(tz).date() if closed else None,
            )
            if closed is None:
                not_done.append(line)
            elif line.done_on is not None and line.done_on > task.due:
                late.append(line)
        analysis = Analysis(
            school=self.school.school.name,
            year=self.school.school_year.year,
            made_on=today,
            classes=classes,
            training=training,
            late=late,
            not_done=not_done,
            topics=self._topics(await self.analysis_repo.ticket_texts(), t),
            tasks=[],
            tasks_edited=False,
            findings=await self.survey_findings.collect(),
        )
        analysis.proposed = propose_tasks(analysis, t)
        edited = await self.analysis_repo.edited_tasks(analysis.year)
        analysis.tasks = edited.text.splitlines() if edited is not None else analysis.proposed
        analysis.tasks_edited = edited is not None
        return analysis

    async def pdf_bytes(self, t: Translator) -> tuple[bytes, str]:
        a = await self.collect(t)
        await self.access_log.record(AccessKind.ANALYSIS, filename(a))
        return await asyncio.to_thread(render_pdf, a, t), filename(a)

    # --- CLI: schoolbot analysis [--out FILE] [--tasks FILE] ---------------------------------------------
    async def cmd_analysis(self, args: argparse.Namespace, t: Translator) -> int:
        if args.tasks:
            try:
                text = await asyncio.to_thread(Path(args.tasks).read_text, encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                print(t("analysis.cli.bad_file", path=args.tasks, detail=str(exc)), file=sys.stderr)
                return 2
            try:
                tasks = await self.save_tasks(text, by=None)
            except TasksError as exc:
                print(t(exc.key), file=sys.stderr)
                return 2
            print(t("analysis.cli.saved", n=len(tasks)))
        data, name = await self.pdf_bytes(t)
        out = Path(args.out or name)
        # 0600 from creation (the one export writer): the analysis names classes and people's questions.
        await asyncio.to_thread(write_private, out, data)
        print(t("analysis.cli.written", path=str(out)))
        return 0
