"""Exports are safe to open: no cell derived from user data is ever a formula (CSV and XLSX, every
writer), and every exported file is created 0600 (CLI outputs and files the sandbox saves)."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest
from aiogram.methods import SendDocument
from openpyxl import load_workbook

from bot.cli import main as cli_main
from bot.services.exports import csv_cell, write_private
from storage.ops import OpsRepo
from tests.codes_helpers import codes_csv
from tests.harness import IT_OFFICER, PARENT_ONE, ROSTER_ROWS, Harness, csv_bytes, make_settings

FORMULA = '=HYPERLINK("http://x","a")'
# The roster wants at least two words in a name: the same live formula with a space in it.
FORMULA_NAME = '=HYPERLINK("http://x", "a")'
EVIL_PARENT = '=HYPERLINK("http://y", "b")'
RISKY = [FORMULA, "+7 900", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "＝1+1"]


def test_csv_cell_neutralises_every_formula_lead() -> None:
    for value in RISKY:
        assert csv_cell(value) == "'" + value
    for value in ("Иванов Иван", "5А", "", "2026-11-30 10:00", "'quoted"):
        assert csv_cell(value) == value
    assert csv_cell(7) == 7


def _roster_with_formula(*, evil_parent: bool = True) -> bytes:
    rows = [list(r) for r in ROSTER_ROWS]
    rows.append([FORMULA_NAME, "ученик", "5А", "", ""])
    if not evil_parent:
        return csv_bytes(rows)
    # A linked parent with a formula for a name (the training roll lists linked invitees).
    oleg = next(r for r in rows if r[0] == "Смирнов Олег Павлович")
    oleg[0] = EVIL_PARENT
    return csv_bytes(rows)


def _xlsx_cells(data: bytes) -> list[tuple[object, str]]:
    wb = load_workbook(io.BytesIO(data))
    return [(c.value, c.data_type) for ws in wb.worksheets for row in ws.iter_rows() for c in row
            if c.value is not None]


def _assert_text_not_formula(data: bytes, value: str) -> None:
    cells = _xlsx_cells(data)
    assert (value, "s") in cells, [c for c in cells if isinstance(c[0], str) and value[1:8] in c[0]]
    assert not any(kind == "f" for _, kind in cells)
    assert b"<f>" not in _sheet_xml(data)


def _sheet_xml(data: bytes) -> bytes:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))


async def test_consent_register_keeps_a_formula_name_as_text(harness: Harness) -> None:
    app = harness.app
    result = await app.services.roster_import.import_roster(_roster_with_formula(), "roster.csv", now=app.clock.now())
    assert result.ok, result.errors
    t = app.catalog.bind("ru")

    data, _, _ = await app.services.consent_export.export("csv", t)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    cells = [c for row in rows for c in row]
    assert "'" + FORMULA_NAME in cells
    assert not any(c and c[0] in "=+-@\t\r" for c in cells)

    data, _, _ = await app.services.consent_export.export("xlsx", t)
    _assert_text_not_formula(data, FORMULA_NAME)


async def test_report_keeps_user_typed_labels_as_text(harness: Harness) -> None:
    app = harness.app
    async with app.db.transaction() as conn:
        await OpsRepo.log_journal_backup(conn, school_year=app.school.school_year.year, quarter=1, medium_label=FORMULA,
                                     logged_by=None, now=app.clock.now())
    data = await app.services.report.render_report(app.catalog.bind("ru"))
    _assert_text_not_formula(data, FORMULA)
    # Numbers stay numbers.
    assert any(kind == "n" for _, kind in _xlsx_cells(data))


async def test_training_attendance_keeps_a_formula_name_as_text(harness: Harness) -> None:
    h = harness
    result = await h.app.services.roster_import.import_roster(_roster_with_formula(), "roster.csv", now=h.clock.now())
    assert result.ok, result.errors
    await h.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    await h.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
    await h.press(IT_OFFICER, "adm:training")
    await h.press(IT_OFFICER, "tra:new:0:0:0:")
    await h.text(IT_OFFICER, FORMULA)
    await h.press(IT_OFFICER, "tra:aud:0:0:0:parents")
    await h.press(IT_OFFICER, "tra:cls:0:0:0:5А")
    await h.text(IT_OFFICER, "02.12.2026 15:00")
    await h.text(IT_OFFICER, "Кабинет 21")
    await h.press(IT_OFFICER, "tra:create:0:0:0:")
    calls = await h.press(IT_OFFICER, "tra:xlsx:1:0:0:")
    doc = next(c for c in calls if isinstance(c, SendDocument))
    data = doc.document.data  # type: ignore[union-attr]
    _assert_text_not_formula(data, EVIL_PARENT)
    assert not any(kind == "f" for _, kind in _xlsx_cells(data))


# --- file modes -------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_creates_0600_even_over_an_existing_0644_file(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        target = tmp_path / "out.csv"
        target.write_bytes(b"old")
        target.chmod(0o644)
        write_private(target, b"new")
        assert target.read_bytes() == b"new" and _mode(target) == 0o600
        fresh = tmp_path / "fresh.xlsx"
        write_private(fresh, b"x")
        assert _mode(fresh) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.xlsx", "out.csv"]  # no temp files left
    finally:
        os.umask(old_umask)


def test_every_cli_export_is_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(settings.database_path))
    monkeypatch.setenv("SCHOOL_CONFIG", str(settings.school_config))
    monkeypatch.chdir(tmp_path)
    old_umask = os.umask(0o022)
    try:
        (tmp_path / "roster.csv").write_bytes(_roster_with_formula(evil_parent=False))
        (tmp_path / "codes.csv").write_bytes(codes_csv())
        assert cli_main(["import", "roster", "roster.csv"]) == 0
        assert cli_main(["import", "codes", "codes.csv"]) == 0
        outputs: list[Path] = []
        for fmt in ("csv", "xlsx", "pdf"):
            out = tmp_path / f"reg.{fmt}"
            out.write_bytes(b"")
            out.chmod(0o644)  # an older export in the way must not keep its mode
            assert cli_main(["export", "consents", "--format", fmt, "--out", str(out)]) == 0
            outputs.append(out)
        assert cli_main(["export", "report", "--out", "report.xlsx"]) == 0
        outputs.append(tmp_path / "report.xlsx")
        # The print sheets' modes are checked in tests/test_code_gate.py (they need consent given).
        assert len(outputs) == 4
        for out in outputs:
            assert _mode(out) == 0o600, out
        text = (tmp_path / "reg.csv").read_bytes().decode("utf-8-sig")
        assert "'" + FORMULA_NAME in [c for row in csv.reader(io.StringIO(text), delimiter=";") for c in row]
        _assert_text_not_formula((tmp_path / "reg.xlsx").read_bytes(), FORMULA_NAME)
    finally:
        os.umask(old_umask)
