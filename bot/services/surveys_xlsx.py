"""A survey's results as a workbook that prints compactly: the totals on a portrait page, each
breakdown (by class, by role) as a table with the groups side by side.

Before, every choice was a row repeating its question's text, and every group repeated every
question: a 5-question survey with 10 answers printed on 9 pages. Now a question is one bold row
(its text once, how many answered it) followed by a one-line row per choice, and a breakdown puts
up to GROUPS_PER_BLOCK groups in the columns of one table (count and share of each), the next ones
in a table below it, on a page of its own.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.surveys import MIN_GROUP
from bot.i18n import Translator
from bot.services.exports import xlsx_append
from bot.services.surveys_tally import GroupResult, QuestionResult, Results
from bot.services.xlsx import FONT_NAME, FONT_SIZE, fit_a4, fit_rows, new_workbook

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

# The totals: a question or a choice (wrapped), the count, the share; 80 characters, portrait A4.
TOTAL_WIDTHS = (62, 10, 8)
# A breakdown: the question column, then a count and a share per group; five groups on a landscape
# A4 page at full size (about 135 characters).
QUESTION_WIDTH, COUNT_WIDTH, SHARE_WIDTH = 50.0, 8.0, 8.0
GROUPS_PER_BLOCK = 5

# Row kinds, each with its look.
HEAD, GROUP, QUESTION, CHOICE, NOTE = "head", "group", "question", "choice", "note"
FILLS = {HEAD: "DDE5F0", GROUP: "DDE5F0", QUESTION: "F2F4F7"}


def _rows(qr: QuestionResult, t: Translator) -> list[tuple[str, list[tuple[float | int | None, float | None]]]]:
    """A question's rows after its own: (label, [(count, share)]) for one group; numbers questions give
    their statistics, free text its count (never the texts)."""
    if qr.counts:
        return [(choice, [(n, pct / 100)]) for choice, n, pct in qr.counts]
    if qr.numbers is not None:
        _, mean, median, low, high = qr.numbers
        return [(t(f"surveys.xlsx.{key}"), [(value, None)])
                for key, value in (("mean", mean), ("median", median), ("low", low), ("high", high))]
    return [(t("surveys.xlsx.texts"), [(qr.texts, None)])]


def render_xlsx(res: Results, t: Translator) -> bytes:
    """Blocking: run in a thread. Three sheets: totals, by class, by role."""
    wb = new_workbook()
    ws = wb.active
    assert ws is not None
    title = t("surveys.xlsx.title", title=res.survey.title, sheets=res.sheets, total=res.respondents)
    _totals(ws, t("surveys.xlsx.totals"), title, GroupResult("", res.sheets, res.questions), t)
    # The answers kept without a class or a role come last.
    by_class = sorted(res.by_class, key=lambda g: not g.name)
    by_role = sorted(res.by_role, key=lambda g: not g.name)
    for name, groups, hidden in (
        (t("surveys.xlsx.by_class"), [(g.name or t("surveys.xlsx.other"), g) for g in by_class], res.classes_hidden),
        (t("surveys.xlsx.by_role"), [(t(f"roles.{g.name}") if g.name else t("surveys.xlsx.other"), g)
                                     for g in by_role], res.groups_hidden - res.classes_hidden),
    ):
        _breakdown(wb.create_sheet(), name, title, groups, hidden > 0, t)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _title(ws: Worksheet, name: str, title: str, columns: int) -> None:
    from openpyxl.styles import Alignment, Font

    ws.title = name[:31]
    xlsx_append(ws, [title])
    ws.cell(row=1, column=1).font = Font(name=FONT_NAME, size=12, bold=True)
    ws.cell(row=1, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=columns)


def _totals(ws: Worksheet, name: str, title: str, group: GroupResult, t: Translator) -> None:
    from openpyxl.utils import get_column_letter

    for column, width in enumerate(TOTAL_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width
    _title(ws, name, title, len(TOTAL_WIDTHS))
    xlsx_append(ws, [t("surveys.xlsx.item"), t("surveys.xlsx.count"), t("surveys.xlsx.share")])
    kinds = {ws.max_row: HEAD}
    for qr in group.questions:
        xlsx_append(ws, [f"{qr.index + 1}. {qr.question.text}", qr.answered, None])
        kinds[ws.max_row] = QUESTION
        for label, [(count, part)] in _rows(qr, t):
            xlsx_append(ws, [label, count, part])
    _style(ws, kinds, len(TOTAL_WIDTHS))
    ws.freeze_panes = "A3"
    fit_a4(ws, title_rows="2:2", landscape=False)
    fit_rows(ws)
    _footer(ws)


def _breakdown(
    ws: Worksheet, name: str, title: str, groups: Sequence[tuple[str, GroupResult]], some_hidden: bool,
    t: Translator,
) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.pagebreak import Break

    width = min(GROUPS_PER_BLOCK, max(1, len(groups)))
    ws.column_dimensions["A"].width = QUESTION_WIDTH
    for i in range(width):
        ws.column_dimensions[get_column_letter(2 + 2 * i)].width = COUNT_WIDTH
        ws.column_dimensions[get_column_letter(3 + 2 * i)].width = SHARE_WIDTH
    columns = 1 + 2 * width
    _title(ws, name, title, columns)
    kinds: dict[int, str] = {}
    heads: list[int] = []
    for start in range(0, len(groups), GROUPS_PER_BLOCK):
        block = groups[start:start + GROUPS_PER_BLOCK]
        if start:
            xlsx_append(ws, [])
            # Each further table starts a page: its own header row is then at the top.
            ws.row_breaks.append(Break(id=ws.max_row))
        # The header: the groups (with how many answered in each) over their two columns.
        xlsx_append(ws, [t("surveys.xlsx.item"), *[x for label, g in block
                                                  for x in (t("surveys.xlsx.group_head", name=label, n=g.sheets),
                                                            None)]])
        top = ws.max_row
        heads.append(top)
        kinds[top] = GROUP
        xlsx_append(ws, [None, *[x for _ in block for x in (t("surveys.xlsx.count"), t("surveys.xlsx.share"))]])
        kinds[ws.max_row] = HEAD
        ws.merge_cells(start_row=top, start_column=1, end_row=top + 1, end_column=1)
        for i in range(len(block)):
            ws.merge_cells(start_row=top, start_column=2 + 2 * i, end_row=top, end_column=3 + 2 * i)
        for q, qr in enumerate(block[0][1].questions):
            xlsx_append(ws, [f"{qr.index + 1}. {qr.question.text}",
                             *[x for _, g in block for x in (g.questions[q].answered, None)]])
            kinds[ws.max_row] = QUESTION
            per_group = [_rows(g.questions[q], t) for _, g in block]
            for r, (label, _) in enumerate(per_group[0]):
                xlsx_append(ws, [label, *[x for rows in per_group for x in rows[r][1][0]]])
    if not groups or some_hidden:
        xlsx_append(ws, [t("surveys.xlsx.hidden", n=MIN_GROUP), *[None] * (columns - 1)])
        kinds[ws.max_row] = NOTE
    _style(ws, kinds, columns)
    # One table: its header repeats on every page it runs to. Several: each begins a page.
    if len(heads) == 1:
        # Two groups fit a portrait page at full size (82 characters); three or more turn it.
        fit_a4(ws, title_rows=f"{heads[0]}:{heads[0] + 1}", landscape=columns > 5)
        ws.freeze_panes = f"B{heads[0] + 2}"
    else:
        fit_a4(ws, title_rows="1:1", landscape=True)
    fit_rows(ws)
    _footer(ws)


def _style(ws: Worksheet, kinds: dict[int, str], columns: int) -> None:
    """Thin borders on every cell of the tables, one face, bold headers and questions, counts on the
    right, shares as per cent, statistics with one decimal when they have one."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    body, bold = Font(name=FONT_NAME, size=FONT_SIZE), Font(name=FONT_NAME, size=FONT_SIZE, bold=True)
    for row in ws.iter_rows(min_row=2, max_col=columns):
        number = row[0].row or 0
        if all(cell.value is None for cell in row) and number not in kinds:
            continue   # the blank line between two tables
        kind = kinds.get(number, CHOICE)
        for cell in row:
            cell.border = border
            cell.font = bold if kind in (HEAD, GROUP, QUESTION) else body
            if kind in FILLS:
                cell.fill = PatternFill("solid", fgColor=FILLS[kind])
            column = int(cell.column or 1)
            if column == 1 or kind == NOTE:
                cell.alignment = Alignment(wrap_text=True, vertical="center" if kind in (HEAD, GROUP) else "top",
                                           indent=1 if kind == CHOICE else 0)
            else:
                cell.alignment = Alignment(horizontal="center" if kind in (HEAD, GROUP) else "right",
                                           vertical="top", wrap_text=kind in (HEAD, GROUP))
            if isinstance(cell.value, float):
                # Columns C, E, G… hold shares; a statistic in a count column keeps its decimal.
                share = column % 2 == 1
                cell.number_format = "0%" if share else ("0.0" if cell.value % 1 else "0")
    # A merged cell's hidden neighbours carry the borders of its edges (Excel draws those).
    for merged in ws.merged_cells.ranges:
        if merged.min_row > 1:
            merged.format()


def _footer(ws: Worksheet) -> None:
    if ws.oddFooter is not None:
        ws.oddFooter.center.text = "&A · &P / &N"
