"""Files a school prints and opens in Excel: real date and number cells in the school's time,
rows tall enough for their wrapped text, names never cut, meaningful sheet titles; the PDF
register in local time with each child's history. (Rendered and looked at through LibreOffice
while writing this; the tests check the properties without it.)"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook

from bot.channels import Channel
from bot.services.xlsx import LINE_POINTS, fit_rows, wrapped_lines
from tests.codes_helpers import person_id
from tests.harness import ROSTER_ROWS, Harness, csv_bytes

LONG = "Константинопольская-Римская Александра-Виктория Владиславовна"
LONG_PARENT = "Константинопольский Владислав Ильич"


def test_wrapped_lines_counts_words_and_breaks_long_ones() -> None:
    assert wrapped_lines("Иванов Миша Андреевич", 34) == 1
    assert wrapped_lines(LONG, 34) >= 2
    assert wrapped_lines("a\nb\nc", 20) == 3
    assert wrapped_lines("x" * 40, 10) >= 4


async def _school(h: Harness) -> None:
    rows = [list(r) for r in ROSTER_ROWS]
    rows.append([LONG, "ученица", "5А", "", ""])
    rows.append([LONG_PARENT, "родитель", "", "+7 900 000-00-09", LONG])
    assert (await h.app.services.roster_import.import_roster(csv_bytes(rows), "r.csv", now=h.clock.now())).ok
    app = h.app
    parent = await app.people.get(await person_id(app, LONG_PARENT))
    child = await app.people.get(await person_id(app, LONG))
    assert parent is not None and child is not None
    version = await app.services.consent.current()
    await app.services.consent.open_document(parent, child, "ru")
    for i, decision in enumerate(("given", "withdrawn", "given")):
        await app.services.consent.decide(
                         parent=parent, child_ids=[child.id], decision=decision, version=version.number,
                         channel=Channel.TELEGRAM, user_id=9, update_id=None, callback_id=f"cb{i}")


async def test_consent_register_xlsx_has_real_cells_and_rows_that_fit(harness: Harness) -> None:
    await _school(harness)
    t = harness.app.catalog.bind("ru")
    data, _, _ = await harness.app.services.consent_export.export("xlsx", t)
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None and ws.title == "Реестр согласий"
    assert ws["E3"].value == "Когда (время школы)"
    row = next(r for r in ws.iter_rows(min_row=4) if r[1].value == LONG)
    # The full name, never cut; a date-time cell in Moscow time (the clock is 07:00 UTC), shown dd.mm.yyyy.
    when = row[4]
    assert isinstance(when.value, datetime) and when.value == datetime(2026, 11, 30, 10, 0)
    assert when.number_format == "DD.MM.YYYY HH:MM"
    assert isinstance(row[7].value, int)  # the version is a number
    assert row[1].alignment.wrap_text
    # Tall enough for the wrapped name; single-line rows one line high.
    assert ws.row_dimensions[row[0].row].height >= 2 * LINE_POINTS
    short = next(r for r in ws.iter_rows(min_row=4) if r[1].value == "Иванов Миша Андреевич")
    assert ws.row_dimensions[short[0].row].height == LINE_POINTS
    # One class: the sheet says so, within Excel's 31 characters.
    data, _, _ = await harness.app.services.consent_export.export("xlsx", t, "5А")
    one = load_workbook(io.BytesIO(data)).active
    assert one is not None and one.title == "Согласия 5А" and len(one.title) <= 31


async def test_paper_date_is_a_date_cell(harness: Harness) -> None:
    await _school(harness)
    officer_rows = await harness.app.people.with_role("it_officer")
    kolya = await person_id(harness.app, "Смирнов Коля Олегович")
    await harness.app.services.consent_paper.record_paper(staff=officer_rows[0], child_id=kolya, decision="given",
                           paper_date=date(2026, 11, 27))
    data, _, _ = await harness.app.services.consent_export.export("xlsx", harness.app.catalog.bind("ru"))
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    row = next(r for r in ws.iter_rows(min_row=4) if r[1].value == "Смирнов Коля Олегович")
    assert row[5].value == datetime(2026, 11, 27) and row[5].number_format == "DD.MM.YYYY"
    # Who entered the paper form, under the parent's name on the register; in its own column on
    # the sheet of proofs.
    assert "внесено: Петров Пётр Петрович" in str(row[3].value)
    proof = load_workbook(io.BytesIO(data))["Подтверждения"]
    header = [c.value for c in proof[3]]
    line = next(r for r in proof.iter_rows(min_row=4, values_only=True) if r[1] == "Смирнов Коля Олегович")
    assert line[header.index("Кто внёс")] == "Петров Пётр Петрович"


async def test_pdf_register_shows_local_time_history_and_whole_names(harness: Harness, tmp_path: Path) -> None:
    await _school(harness)
    data, _, _ = await harness.app.services.consent_export.export("pdf", harness.app.catalog.bind("ru"))
    assert data.startswith(b"%PDF")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        return
    path = tmp_path / "register.pdf"
    path.write_bytes(data)
    done = await asyncio.to_thread(
        subprocess.run, [pdftotext, str(path), "-"], capture_output=True, text=True, check=True
    )
    flat = "".join(done.stdout.split())
    # Every part of the long name is there (wrapped, not cut with "…"), the time is Moscow's,
    # and the child's three decisions are listed.
    # (Broken after its hyphen, not inside "Римская": pdftotext joins the two lines without it.)
    assert "КонстантинопольскаяРимская" in flat.replace("-", "") and "Владиславовна" in flat
    assert "…" not in done.stdout
    assert "30.11.202610:00" in flat
    assert flat.count("(Telegram,в.1)") >= 3 and "согласиеотозвано" in flat


async def test_report_sheets_fit_and_are_titled(harness: Harness) -> None:
    await _school(harness)
    data = await harness.app.services.report.render_report(harness.app.catalog.bind("ru"))
    wb = load_workbook(io.BytesIO(data))
    for ws in wb.worksheets:
        assert 0 < len(ws.title) <= 31
        for row in ws.iter_rows():
            assert ws.row_dimensions[row[0].row].height is not None
            for cell in row:
                if isinstance(cell.value, datetime):
                    assert cell.number_format in ("DD.MM.YYYY HH:MM", "DD.MM.YYYY")


def test_a_word_is_never_broken_inside_a_wrapped_cell() -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font


    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.column_dimensions["A"].width = 6
    ws["A1"] = "Приглашено"
    ws["A1"].font = Font(b=True)
    ws["A1"].alignment = Alignment(wrap_text=True)
    fit_rows(ws)
    width = ws.column_dimensions["A"].width
    assert wrapped_lines("Приглашено", width / 1.15) == 1
