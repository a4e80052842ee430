"""A survey's results: per question, per class and per role, counts and shares; a chart image and an
XLSX that prints well.

Privacy, as the issue asks: an anonymous survey never shows a breakdown (a class, a role, or its
totals) of fewer than MIN_GROUP answers; free-text answers are shown only to the survey's author,
never quoted in the chart, the XLSX or the summary that goes to the plan.
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.domain.people import Person, class_sort_key
from bot.domain.surveys import Question, questions_of, share
from bot.i18n import Translator
from bot.services.access_log import AccessKind
from bot.services.chart import _RENDER_LOCK, _ensure_fonts
from bot.services.exports import xlsx_append
from bot.services.xlsx import fit_landscape_a4, fit_rows
from storage.surveys import MIN_GROUP, Answer, SurveyRepo, SurveyRow

if TYPE_CHECKING:
    from bot.services.access_log import AccessLog
    from storage.db import Database

FONT = "DejaVu Sans"
MAX_TEXTS = 50


@dataclass(frozen=True)
class QuestionResult:
    index: int
    question: Question
    answered: int
    counts: list[tuple[str, int, int]]  # (choice, count, share %) of a choice or a scale
    numbers: tuple[int, float, float, float, float] | None = None  # n, mean, median, min, max
    texts: int = 0  # how many typed a text (the texts themselves: `texts` for the author only)


@dataclass(frozen=True)
class GroupResult:
    name: str  # a class label or a role; "" for answers kept without one
    sheets: int
    questions: list[QuestionResult]


@dataclass
class Results:
    survey: SurveyRow
    respondents: int
    finished: int
    sheets: int  # how many people answered at least one question
    hidden: bool  # anonymous, and open or fewer than MIN_GROUP: nothing but the counts is shown
    questions: list[QuestionResult] = field(default_factory=list)
    by_class: list[GroupResult] = field(default_factory=list)
    by_role: list[GroupResult] = field(default_factory=list)
    groups_hidden: int = 0  # classes or roles left out for having fewer than MIN_GROUP answers


def _tally(questions: list[Question], answers: list[Answer]) -> list[QuestionResult]:
    by_q: dict[int, list[Any]] = defaultdict(list)
    for a in answers:
        if a.value is not None:
            by_q[a.question].append(a.value)
    out = []
    for i, q in enumerate(questions):
        values = by_q.get(i, [])
        if q.kind in ("single", "multi", "scale"):
            counts = [0] * len(q.choices)
            for v in values:
                for choice in v if isinstance(v, list) else [v - 1 if q.kind == "scale" else v]:
                    if isinstance(choice, int) and 0 <= choice < len(counts):
                        counts[choice] += 1
            out.append(QuestionResult(i, q, len(values), [(c, n, share(n, len(values)))
                                                          for c, n in zip(q.choices, counts, strict=True)]))
        elif q.kind == "number":
            nums = [float(v) for v in values if isinstance(v, int | float)]
            stats = (len(nums), statistics.fmean(nums), statistics.median(nums), min(nums), max(nums)) if nums else None
            out.append(QuestionResult(i, q, len(nums), [], stats))
        else:
            out.append(QuestionResult(i, q, len(values), [], None, len(values)))
    return out


def _groups(
    questions: list[Question], answers: list[Answer], attr: str, *, anonymous: bool
) -> tuple[list[GroupResult], int]:
    grouped: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        grouped[getattr(a, attr) or ""].append(a)
    out, hidden = [], 0
    keys = sorted(grouped, key=class_sort_key) if attr == "class_label" else sorted(grouped)
    for name in keys:
        rows = grouped[name]
        sheets = len({a.sheet for a in rows})
        if anonymous and sheets < MIN_GROUP:
            hidden += 1
            continue
        out.append(GroupResult(name, sheets, _tally(questions, rows)))
    return out, hidden


def fmt_number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",").removesuffix(",0")


@dataclass(kw_only=True, eq=False)
class SurveyResults:
    access_log: AccessLog
    db: Database

    async def results(self, survey: SurveyRow) -> Results:
        repo = SurveyRepo(self.db)
        respondents = await repo.respondents(survey.id)
        answers = await repo.answers(survey.id)
        sheets = len({a.sheet for a in answers})
        questions = questions_of(survey.spec)
        res = Results(survey, len(respondents), sum(r.finished_at is not None for r in respondents), sheets,
                      # While it is open, watching the counts move as one person answers would tell
                      # what that person said: an anonymous survey's results wait for its close.
                      hidden=survey.anonymous and (sheets < MIN_GROUP or survey.closed_at is None))
        if res.hidden:
            return res
        res.questions = _tally(questions, answers)
        res.by_class, hidden_c = _groups(questions, answers, "class_label", anonymous=survey.anonymous)
        res.by_role, hidden_r = _groups(questions, answers, "role", anonymous=survey.anonymous)
        res.groups_hidden = hidden_c + hidden_r
        return res

    async def texts(self, viewer: Person, survey: SurveyRow) -> list[tuple[str, str]] | None:
        """(question, text) of the free-text answers, shuffled: only for the survey's author (None
        for anyone else), and never with a name."""
        if viewer.id != survey.author_id:
            return None
        questions = questions_of(survey.spec)
        found = [(questions[a.question].text, str(a.value)) for a in await SurveyRepo(self.db).answers(survey.id)
                 if a.question < len(questions) and questions[a.question].kind == "text" and a.value]
        random.shuffle(found)
        await self.access_log.record(AccessKind.SURVEY_RESULTS, f"{survey.id}:texts")
        return found[:MAX_TEXTS]

    async def summary_text(self, survey: SurveyRow, t: Translator) -> str:
        """Plain text for the plan item's proof: who answered and the leading choice of each question
        (never a typed text)."""
        res = await self.results(survey)
        lines = [t("surveys.summary.head", title=survey.title, sheets=res.sheets, total=res.respondents,
                   pct=share(res.sheets, res.respondents))]
        if res.hidden:
            lines.append(t("surveys.summary.after_close" if survey.closed_at is None else "surveys.summary.too_few",
                           n=MIN_GROUP))
        for qr in res.questions:
            if qr.counts and qr.answered:
                label, n, pct = max(qr.counts, key=lambda c: c[1])
                lines.append(t("surveys.summary.line", n=qr.index + 1, text=qr.question.text[:80], choice=label,
                               count=n, pct=pct))
            elif qr.numbers is not None:
                lines.append(t("surveys.summary.number", n=qr.index + 1, text=qr.question.text[:80],
                               mean=fmt_number(qr.numbers[1])))
        return "\n".join(lines)

    # --- the chart ------------------------------------------------------------------------------

    async def chart_png(self, survey: SurveyRow, t: Translator) -> bytes | None:
        res = await self.results(survey)
        bars = [(qr.index + 1, qr.question.text, qr.counts, qr.question.attention)
                for qr in res.questions if qr.counts and qr.answered]
        if res.hidden or not bars:
            return None
        title = t("surveys.chart.title", title=survey.title, sheets=res.sheets, total=res.respondents)
        return await asyncio.to_thread(render_png, title, bars, t("surveys.chart.share"))

    # --- the workbook -----------------------------------------------------------------------------

    async def xlsx(self, survey: SurveyRow, t: Translator) -> tuple[bytes, str] | None:
        res = await self.results(survey)
        if res.hidden:
            return None
        data = await asyncio.to_thread(render_xlsx, res, t)
        await self.access_log.record(AccessKind.SURVEY_RESULTS, f"{survey.id}:xlsx")
        return data, f"survey-{survey.id}.xlsx"


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


ChartBars = list[tuple[int, str, list[tuple[str, int, int]], tuple[int, ...]]]


def render_png(title: str, bars: ChartBars, share_label: str) -> bytes:
    """Blocking: run in a thread. One horizontal bar chart of shares per choice question; the choices
    that need the school's attention (the template's `attention`) in orange."""
    _ensure_fonts()
    from matplotlib.figure import Figure

    heights = [max(1.4, 0.42 * len(counts) + 0.9) for _, _, counts, _ in bars]
    with _RENDER_LOCK:
        fig = Figure(figsize=(10, sum(heights) + 0.8), dpi=100)
        fig.set_layout_engine("constrained")
        fig.suptitle(title, fontsize=14, fontweight="bold", fontfamily=FONT)
        grid = fig.add_gridspec(len(bars), 1, height_ratios=heights)
        for row, (number, text, counts, attention) in enumerate(bars):
            ax = fig.add_subplot(grid[row, 0])
            labels = [_wrap(c, 28) for c, _, _ in counts][::-1]
            values = [pct for _, _, pct in counts][::-1]
            found = [n for _, n, _ in counts][::-1]
            colors = ["#DD8452" if i in attention else "#4C72B0" for i in range(len(counts))][::-1]
            bars_drawn = ax.barh(labels, values, color=colors)
            ax.bar_label(bars_drawn, labels=[f"{v}% ({n})" for v, n in zip(values, found, strict=True)],
                         fontsize=9, padding=3, fontfamily=FONT)
            ax.set_xlim(0, 115)
            ax.set_title(_wrap(f"{number}. {text}", 95), fontsize=10, loc="left", fontfamily=FONT)
            ax.spines[["top", "right"]].set_visible(False)
            ax.set_xlabel(share_label if row == len(bars) - 1 else "", fontfamily=FONT)
            for tick in ax.get_yticklabels():
                tick.set_fontfamily(FONT)
                tick.set_fontsize(9)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()


def render_xlsx(res: Results, t: Translator) -> bytes:
    """Blocking: run in a thread. Three sheets (totals, by class, by role), each landscape A4 fitted
    to the page width, an explicit font, thin borders, the header repeated on every page."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    body_font, head_font = Font(name=FONT, size=10), Font(name=FONT, size=10, bold=True)
    title_font = Font(name=FONT, size=12, bold=True)
    fill = PatternFill("solid", fgColor="E6ECF5")
    wb = Workbook()
    sheets = [
        (t("surveys.xlsx.totals"), [("", GroupResult("", res.sheets, res.questions))]),
        (t("surveys.xlsx.by_class"), [(g.name or t("surveys.xlsx.other"), g) for g in res.by_class]),
        (t("surveys.xlsx.by_role"), [(t(f"roles.{g.name}") if g.name else t("surveys.xlsx.other"), g)
                                     for g in res.by_role]),
    ]
    first = True
    for name, groups in sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = name[:31]
        grouped = name != sheets[0][0]
        header = ([t("surveys.xlsx.group"), t("surveys.xlsx.answers")] if grouped else []) + [
            t("surveys.xlsx.question"), t("surveys.xlsx.choice"), t("surveys.xlsx.count"), t("surveys.xlsx.share")]
        xlsx_append(ws, [t("surveys.xlsx.title", title=res.survey.title, sheets=res.sheets, total=res.respondents)])
        ws.cell(row=1, column=1).font = title_font
        xlsx_append(ws, header)
        for cell in ws[2]:
            cell.font, cell.fill, cell.border = head_font, fill, border
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for label, group in groups:
            for qr in group.questions:
                lead = [label, group.sheets] if grouped else []
                qtext = f"{qr.index + 1}. {qr.question.text}"
                if qr.counts:
                    for choice, n, pct in qr.counts:
                        xlsx_append(ws, [*lead, qtext, choice, n, pct / 100])
                elif qr.numbers is not None:
                    n, mean, median, low, high = qr.numbers
                    xlsx_append(ws, [*lead, qtext, t("surveys.xlsx.numbers", mean=fmt_number(mean),
                                                     median=fmt_number(median), low=fmt_number(low),
                                                     high=fmt_number(high)), n, ""])
                else:
                    # Free text is counted, never quoted in a report.
                    xlsx_append(ws, [*lead, qtext, t("surveys.xlsx.texts"), qr.texts, ""])
        if len(groups) == 0 or (grouped and res.groups_hidden):
            xlsx_append(ws, [t("surveys.xlsx.hidden", n=MIN_GROUP)])
        widths = ([14, 10] if grouped else []) + [48, 30, 10, 10]
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[chr(64 + index)].width = width
        for row in ws.iter_rows(min_row=3):
            for cell in row:
                cell.font, cell.border = body_font, border
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                if cell.column == len(widths) and isinstance(cell.value, float):
                    cell.number_format = "0%"
        fit_landscape_a4(ws, title_rows="2:2")
        fit_rows(ws, first_row=2)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
