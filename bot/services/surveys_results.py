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
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.people import Person
from bot.domain.surveys import MIN_GROUP, SurveyRow, questions_of, share
from bot.i18n import Translator
from bot.services.access_log import AccessKind
from bot.services.chart import _RENDER_LOCK, _ensure_fonts
from bot.services.repos import Surveys
from bot.services.surveys_tally import Results, group_results, tally
from bot.services.surveys_xlsx import render_xlsx

if TYPE_CHECKING:
    from bot.services.access_log import AccessLog
    from bot.unit_of_work import UnitOfWork

FONT = "DejaVu Sans"   # the chart's; the workbook uses bot.services.xlsx's face like every other
MAX_TEXTS = 50


def fmt_number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",").removesuffix(",0")


@dataclass(kw_only=True, eq=False)
class SurveyResults:
    access_log: AccessLog
    db: UnitOfWork
    survey_repo: Surveys

    async def results(self, survey: SurveyRow) -> Results:
        repo = self.survey_repo
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
        res.questions = tally(questions, answers)
        res.by_class, hidden_c = group_results(questions, answers, "class_label", anonymous=survey.anonymous)
        res.by_role, hidden_r = group_results(questions, answers, "role", anonymous=survey.anonymous)
        res.groups_hidden, res.classes_hidden = hidden_c + hidden_r, hidden_c
        return res

    async def texts(self, viewer: Person, survey: SurveyRow) -> list[tuple[str, str]] | None:
        """(question, text) of the free-text answers, shuffled: only for the survey's author (None
        for anyone else), and never with a name."""
        if viewer.id != survey.author_id:
            return None
        questions = questions_of(survey.spec)
        found = [(questions[a.question].text, str(a.value)) for a in await self.survey_repo.answers(survey.id)
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
