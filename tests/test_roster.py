from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.channels import Channel
from bot.clock import ManualClock
from bot.services.imports import RosterImport
from bot.services.people_text import normalize_class, normalize_phone
from bot.services.roster import parse_roster
from storage.accounts import AccountRepo
from storage.db import Database
from storage.people import PersonRepo
from storage.year import YearRepo
from tests.harness import ROSTER_ROWS, csv_bytes, roster_csv

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "db.sqlite3")
    await database.open()
    yield database  # type: ignore[misc]
    await database.close()


def _roster(db: Database) -> RosterImport:
    """The roster import as bot/wiring.py builds it, on this bare database."""
    return RosterImport(clock=ManualClock(NOW), db=db, people=PersonRepo(db), year_repo=YearRepo(db))


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (roster_csv("cp1251", ";"), "r.csv"),
        (roster_csv("utf-8-sig", ";"), "r.csv"),
        (roster_csv("utf-8-sig", ","), "r.csv"),
        (roster_csv("utf-8", ","), "r.csv"),
        (_xlsx(ROSTER_ROWS), "r.xlsx"),
    ],
    ids=["cp1251-semicolon", "utf8bom-semicolon", "utf8bom-comma", "utf8-comma", "xlsx"],
)
def test_every_excel_flavour_reads_the_same(data: bytes, name: str) -> None:
    records, errors = parse_roster(data, name)
    assert errors == []
    by_name = {r.full_name: r for r in records}
    assert by_name["Смирнов Коля Олегович"].class_label == "5А"  # Latin 'A' normalised
    assert by_name["Сидорова Анна Ивановна"].phone == "+79000000002"
    assert by_name["Кузнецова Ольга Николаевна"].roles == {"class_teacher", "teacher"}
    assert len(by_name["Иванова Елена Викторовна"].children) == 2


def test_every_bad_row_is_reported_with_its_line() -> None:
    rows = [
        ROSTER_ROWS[0],
        ["Иванов Миша Андреевич", "ученик", "5А", "", ""],
        ["Петров Пётр", "сторож", "", "+79000000001", ""],  # line 3: unknown role
        ["Сидоров Иван", "учитель", "", "12345", ""],  # line 4: bad phone
        ["Кузьмин Олег", "ученик", "15Я", "", ""],  # line 5: unknown class
        ["Иванов Миша Андреевич", "ученик", "5А", "", ""],  # line 6: duplicate
        ["Орлова Мария", "родитель", "", "+79000000009", "Нетов Нет Нетович"],  # line 7: unknown pupil
    ]
    _, errors = parse_roster(csv_bytes(rows), "r.csv")
    assert [(e.line, e.code) for e in errors] == [
        (3, "role"), (4, "phone"), (5, "class"), (6, "duplicate"), (7, "unknown_child"),
    ]


async def test_bad_file_writes_nothing(db: Database) -> None:
    rows = [*ROSTER_ROWS, ["Плохой Человек", "космонавт", "", "", ""]]
    report = await _roster(db).import_roster(csv_bytes(rows), "r.csv", now=NOW)
    assert not report.ok and report.errors[0].line == len(rows)
    assert await PersonRepo(db).count_active() == 0


async def test_dry_run_then_import_then_reimport_is_a_no_op(db: Database) -> None:
    preview = await _roster(db).import_roster(roster_csv(), "r.csv", now=NOW, dry_run=True)
    assert len(preview.added) == 9 and not preview.applied
    assert await PersonRepo(db).count_active() == 0
    first = await _roster(db).import_roster(roster_csv(), "r.csv", now=NOW)
    assert len(first.added) == 9
    again = await _roster(db).import_roster(roster_csv(), "r.csv", now=NOW)
    assert (again.added, again.updated, again.deactivated, again.unchanged) == ([], [], [], 9)


async def test_changed_file_updates_in_place_and_keeps_the_telegram_link(db: Database) -> None:
    await _roster(db).import_roster(roster_csv(), "r.csv", now=NOW)
    repo = PersonRepo(db)
    parent = (await repo.by_phone("+79000000005"))[0]
    async with db.transaction() as conn:
        await AccountRepo.link(conn, parent.id, Channel.TELEGRAM, 555, None, NOW)
    rows = [list(r) for r in ROSTER_ROWS if not r[0].startswith("Морозов")]
    for r in rows:
        if r[0] == "Иванова Елена Викторовна":
            r[3] = "+7 900 111-22-33"
    # Морозов is staff: his leaving needs an explicit confirmation; without it nothing is written.
    refused = await _roster(db).import_roster(csv_bytes(rows), "r.csv", now=NOW)
    assert refused.needs_confirmation and not refused.applied
    assert refused.deactivated_staff == ["Морозов Игорь Сергеевич"]
    assert (await repo.by_account(Channel.TELEGRAM, 555)).phone == "+79000000005"  # type: ignore[union-attr]
    report = await _roster(db).import_roster(csv_bytes(rows), "r.csv", now=NOW, confirm_deactivations=True)
    assert report.updated == ["Иванова Елена Викторовна"]
    assert report.deactivated == ["Морозов Игорь Сергеевич"]
    again = await repo.by_account(Channel.TELEGRAM, 555)
    assert again is not None and again.id == parent.id and again.phone == "+79001112233"


@pytest.mark.parametrize(
    ("raw", "phone"),
    [("+7 (900) 123-45-67", "+79001234567"), ("8 900 1234567", "+79001234567"), ("9001234567", "+79001234567"),
     ("12345", None), ("+1 202 555 0100", None)],
)
def test_phones(raw: str, phone: str | None) -> None:
    assert normalize_phone(raw) == phone


@pytest.mark.parametrize(
    ("raw", "label"), [("5a", "5А"), ("5 А", "5А"), ("11-б", "11Б"), ("10B", "10В"), ("12А", None)]
)
def test_classes(raw: str, label: str | None) -> None:
    assert normalize_class(raw) == label
