"""Print settings shared by the workbooks the bot hands out (registers, reports)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.cell.cell import Cell, MergedCell
    from openpyxl.worksheet.worksheet import Worksheet


def fit_landscape_a4(ws: Worksheet, *, title_rows: str) -> None:
    """Landscape A4, all columns on one page width, `title_rows` (e.g. "1:1") repeated on each page."""
    fit_a4(ws, title_rows=title_rows, landscape=True)


def fit_a4(ws: Worksheet, *, title_rows: str, landscape: bool) -> None:
    """A4 in either orientation, all columns on one page width (as many pages down as it takes),
    `title_rows` repeated on each page, margins of 1.3 cm at the sides: every centimetre of width
    is type printed larger when a sheet is scaled to fit."""
    from openpyxl.worksheet.page import PageMargins

    ws.print_title_rows = title_rows
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.75, bottom=0.75, header=0.3, footer=0.3)
    if ws.sheet_properties.pageSetUpPr is not None:
        ws.sheet_properties.pageSetUpPr.fitToPage = True


# Excel's row height for one line of 11 pt text, in points. LibreOffice and Excel do not grow a
# row for wrapped text that openpyxl wrote, so without an explicit height the lines overlap.
LINE_POINTS = 15.0
DATE_FORMAT = "DD.MM.YYYY"
DATETIME_FORMAT = "DD.MM.YYYY HH:MM"


def words(text: str) -> list[str]:
    """The pieces a line may break between: at spaces and after a hyphen (Excel and LibreOffice both
    break "Константинопольская-Римская" after its hyphen)."""
    return [piece for word in text.split() for piece in re.split(r"(?<=-)(?=.)", word)]


def wrapped_lines(text: str, width: float) -> int:
    """How many lines `text` takes in a column `width` characters wide, wrapped at spaces (a
    word longer than the line is broken). Errs on the generous side: a spare line is blank
    paper, a missing one is text printed over text."""
    per_line = max(1, int(width * 0.9) - 1)
    total = 0
    for paragraph in text.split("\n"):
        lines, used = 1, 0
        for word in words(paragraph):
            length = len(word)
            need = length if used == 0 else used + 1 + length
            if need <= per_line:
                used = need
                continue
            if used:
                lines += 1
            lines += (length - 1) // per_line
            used = length % per_line or per_line
        total += lines
    return total


def fit_rows(ws: Worksheet, *, first_row: int = 1, default_width: float = 8.43) -> None:
    """Real date cells shown as dd.mm.yyyy, and every row tall enough for its wrapped text. A cell
    merged across columns wraps in their width together; one merged down several rows is left to
    them."""
    from datetime import date, datetime

    from openpyxl.utils import get_column_letter

    def width_of(column: int) -> float:
        letter = get_column_letter(column)
        return (ws.column_dimensions[letter].width if letter in ws.column_dimensions else None) or default_width

    spans = {(r.min_row, r.min_col): (r.max_row - r.min_row + 1, r.max_col) for r in ws.merged_cells.ranges}

    def room(cell: Cell | MergedCell) -> tuple[float, int, int]:
        """The cell's width (of every column it is merged across), rows it spans, its last column."""
        column = int(cell.column or 1)
        rows, last = spans.get((int(cell.row or 1), column), (1, column))
        return sum(width_of(c) for c in range(column, last + 1)), rows, last

    # A word is never broken inside: a column narrower than the longest word of a wrapped cell
    # (a header such as "Приглашено" in bold) is widened to hold it.
    for row in ws.iter_rows(min_row=first_row):
        for cell in row:
            if not (isinstance(cell.value, str) and cell.alignment is not None and cell.alignment.wrap_text):
                continue
            longest = max((len(word) for word in words(cell.value)), default=0)
            size = (float(cell.font.sz) if cell.font is not None and cell.font.sz else 11.0) / 11
            bold = 1.15 if cell.font is not None and cell.font.b else 1.0
            need = round(longest * size * bold / 0.9 + 2, 1)
            width, _, last = room(cell)
            if width < need:
                ws.column_dimensions[get_column_letter(last)].width = round(width_of(last) + need - width, 1)
    for row in ws.iter_rows(min_row=first_row):
        height = LINE_POINTS
        for cell in row:
            value = cell.value
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
                continue
            if isinstance(value, date):
                cell.number_format = DATE_FORMAT
                continue
            if not isinstance(value, str) or not value:
                continue
            # Larger type is wider and taller: 13 pt takes 13/11 of the room of 11 pt.
            size = (float(cell.font.sz) if cell.font is not None and cell.font.sz else 11.0) / 11
            width, rows, _ = room(cell)
            if rows > 1:
                continue
            lines = 1
            if cell.alignment is not None and cell.alignment.wrap_text:
                lines = wrapped_lines(value, width / size)
            height = max(height, LINE_POINTS * size * lines + (2 if lines > 1 else 0))
        if row[0].row is not None:
            ws.row_dimensions[row[0].row].height = round(height, 1)


# One sans-serif face and size for every workbook the bot makes: a cell without an explicit font
# prints in whatever the viewer falls back to (LibreOffice picked a serif). Arial is metric-compatible
# with Liberation Sans, which LibreOffice substitutes where Arial is not installed.
FONT_NAME = "Arial"
FONT_SIZE = 10


def new_workbook() -> Workbook:
    """An empty workbook whose default font (the Normal style, font 0) is FONT_NAME at FONT_SIZE.
    Every workbook the bot makes starts here (tests/test_files_print.py finds them by this call).

    Excel and LibreOffice measure column widths in digits of the default font. openpyxl's default is
    Calibri 11, which LibreOffice without Carlito measured in DejaVu Sans: 7 pt a unit instead of
    about 5.5, so every sheet fitted to the page's width printed a fifth smaller than it needed to
    (the consent register at 48 %). Cells without a font of their own print in it too."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils.indexed_list import IndexedList

    wb = Workbook()
    font = Font(name=FONT_NAME, sz=FONT_SIZE, family=2)
    # openpyxl has no public setter for the default font: font 0 of the style sheet is it, and the
    # Normal named style points at font 0.
    wb._fonts = IndexedList([font])  # type: ignore[attr-defined]
    wb._named_styles["Normal"].font = font  # type: ignore[attr-defined]
    return wb


def style_table(ws: Worksheet, *, header_row: int, columns: int) -> None:
    """Explicit fonts (bold header), thin borders around every cell of the table and numbers centred,
    so that neighbouring columns never run into each other on paper ("1 BZ2QQ87N")."""
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for row in ws.iter_rows(min_row=header_row, max_col=columns):
        for cell in row:
            header = cell.row == header_row
            cell.font = Font(name=FONT_NAME, size=FONT_SIZE, bold=header)
            cell.border = border
            if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                wrap = cell.alignment.wrap_text if cell.alignment is not None else False
                cell.alignment = Alignment(horizontal="center", vertical="top", wrap_text=wrap)
    for row in ws.iter_rows(max_row=header_row - 1):
        for cell in row:
            if cell.value is not None and (cell.font is None or cell.font.name != FONT_NAME):
                size = cell.font.sz if cell.font is not None and cell.font.sz else FONT_SIZE
                cell.font = Font(name=FONT_NAME, size=size, bold=bool(cell.font is not None and cell.font.b))


def wrap_across(ws: Worksheet, *, row: int, columns: int) -> None:
    """A long line above a table (a subtitle) merged across the table's width and wrapped, its row
    tall enough: spilled over the empty neighbours, it was cut at the page's edge ("… Только в").
    Call after the column widths are set."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    cell = ws.cell(row=row, column=1)
    text = str(cell.value or "")
    width = 0.0
    for column in range(1, columns + 1):
        letter = get_column_letter(column)
        width += (ws.column_dimensions[letter].width if letter in ws.column_dimensions else None) or 8.43
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=columns)
    cell.font = Font(name=FONT_NAME, size=FONT_SIZE)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    lines = wrapped_lines(text, width)
    ws.row_dimensions[row].height = LINE_POINTS * lines + (2 if lines > 1 else 0)
