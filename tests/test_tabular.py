"""Reading imported files: any bytes give a clear error naming the problem, never an exception;
zip bombs are refused from the central directory; rows and reported errors are capped; cp866 and
UTF-16 files are read."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from bot.i18n import Catalog
from bot.services.imports import ImportOutcome, render_outcome
from bot.services.roster import ALIASES, REQUIRED, RowError, parse_roster
from bot.services.tabular import Limits, TableError, read_table
from tests.harness import ROSTER_ROWS, Harness, csv_bytes, roster_csv

PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
CATALOG = Catalog.load()


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


VALID_XLSX = _xlsx(ROSTER_ROWS)


def _read(data: bytes, filename: str, limits: Limits | None = None) -> TableError | int:
    """Rows read, or the TableError; anything else escapes and fails the test."""
    try:
        return len(read_table(data, filename, ALIASES, REQUIRED, limits))
    except TableError as exc:
        refusal = exc
    # Every refusal has Russian and English text in the catalog.
    for lang in ("ru", "en"):
        assert CATALOG.text(lang, f"import_errors.{refusal.catalog_code}", **refusal.params)
    return refusal


def _entry(name: str, payload: bytes, raw: bytes, offset: int) -> tuple[bytes, bytes]:
    """A deflated zip member (local header + data) and its central directory record."""
    crc, encoded = zlib.crc32(payload), name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), len(payload), len(encoded), 0)
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw), len(payload), len(encoded), 0, 0, 0, 0, 0,
        offset,
    )
    return local + encoded + raw, central + encoded


def bomb_xlsx(sheet_megabytes: int) -> bytes:
    """A real workbook whose first sheet unpacks to `sheet_megabytes` MB of identical rows."""
    with zipfile.ZipFile(io.BytesIO(VALID_XLSX)) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20_000
    sheet = b"".join([row] * max(1, (sheet_megabytes * 1024 * 1024) // len(row)))
    members["xl/worksheets/sheet1.xml"] = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + sheet + b"</sheetData></worksheet>"
    )
    body, directory = b"", b""
    for name, payload in members.items():
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        local, central = _entry(name, payload, compressor.compress(payload) + compressor.flush(), len(body))
        body += local
        directory += central
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return body + directory + end


# --- any bytes ----------------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=3000))
def test_any_bytes_as_csv_give_rows_or_a_clear_error(data: bytes) -> None:
    _read(data, "состав.csv")


@PROPERTY
@given(
    st.lists(st.lists(st.text(max_size=30), min_size=1, max_size=7), min_size=1, max_size=12),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1251", "cp866", "utf-16", "utf-16-le", "utf-16-be"]),
    st.sampled_from([";", ",", "\t"]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=4),
)
def test_any_table_in_any_encoding_with_damaged_bytes_gives_rows_or_a_clear_error(
    cells: list[list[str]], encoding: str, delimiter: str, damage: list[tuple[int, int]]
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([["ФИО", "Роль"], *cells])
    data = bytearray(buffer.getvalue().encode(encoding, errors="replace"))
    for position, value in damage:
        if data:
            data[position % len(data)] = value
    _read(bytes(data), "состав.csv")


@PROPERTY
@given(st.binary(max_size=3000))
def test_any_bytes_as_xlsx_give_rows_or_a_clear_error(data: bytes) -> None:
    _read(b"PK\x03\x04" + data, "состав.xlsx")
    _read(data, "состав.xlsx")


@PROPERTY
@given(
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8),
    st.integers(min_value=0),
)
def test_a_damaged_workbook_gives_rows_or_a_clear_error(damage: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID_XLSX)
    for position, value in damage:
        data[position % len(data)] = value
    _read(bytes(data), "состав.xlsx")
    _read(bytes(data[: cut % len(data)]), "состав.xlsx")


def test_byte_0x98_no_longer_crashes_the_csv_reader() -> None:
    # 0x98 is the one byte cp1251 leaves undefined; this used to raise UnicodeDecodeError.
    data = csv_bytes(ROSTER_ROWS).replace("Петров".encode("cp1251"), b"\x98\x98\x98")
    result = _read(data, "состав.csv")
    assert not isinstance(result, TableError) or result.code in {"encoding", "missing_columns"}
    assert isinstance(_read(b"\x98\x00\x98" * 3, "r.csv"), TableError)


def test_undecodable_file_names_the_byte_and_says_how_to_save() -> None:
    # Neither UTF-8 nor Russian text in cp1251 (symbols there) or cp866 (box drawing there).
    data = "ФИО;Роль\n".encode() + bytes(range(0xB0, 0xC0)) * 3 + b"\n"
    result = _read(data, "состав.csv")
    assert isinstance(result, TableError) and result.code == "encoding" and result.line == 2
    text = CATALOG.text("ru", f"import_errors.{result.catalog_code}", **result.params)
    assert "Сохраните файл как CSV UTF-8" in text and "0x" in text


# --- encodings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (roster_csv("cp866", ";"), "r.csv"),
        (roster_csv("utf-16", "\t"), "r.txt"),  # Excel's "Unicode text": UTF-16 LE with a BOM, tabs
        (csv_bytes(ROSTER_ROWS, encoding="utf-16-le", delimiter=";"), "r.csv"),  # no BOM
        (csv_bytes(ROSTER_ROWS, encoding="utf-16-be", delimiter=","), "r.csv"),
    ],
    ids=["cp866", "utf16-bom-tabs", "utf16le-no-bom", "utf16be-no-bom"],
)
def test_cp866_and_utf16_files_are_read(data: bytes, name: str) -> None:
    records, errors = parse_roster(data, name)
    assert errors == []
    assert {r.full_name for r in records} >= {"Смирнов Коля Олегович", "Иванова Елена Викторовна"}


def test_old_excel_and_binary_files_are_refused_with_how_to_save() -> None:
    old = _read(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "состав.xls")
    assert isinstance(old, TableError) and old.code == "old_excel"
    assert "Книга Excel (.xlsx)" in CATALOG.text("ru", "import_errors.file.old_excel")
    binary = _read(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "состав.csv")
    assert isinstance(binary, TableError) and binary.code == "binary"


# --- bounds ---------------------------------------------------------------------------------------


def test_zip_bomb_is_refused_from_the_central_directory() -> None:
    bomb = bomb_xlsx(4)  # 4 MB of rows in a few KB: a ratio no real workbook has
    assert len(bomb) < 100_000
    result = _read(bomb, "состав.xlsx")
    assert isinstance(result, TableError) and result.code == "xlsx_ratio", result
    text = CATALOG.text("ru", f"import_errors.{result.catalog_code}", **result.params)
    assert "сжата в" in text and "сохраните заново" in text


def test_declared_unpacked_size_is_checked_before_unpacking() -> None:
    result = _read(bomb_xlsx(2), "состав.xlsx", Limits(max_unpacked=1024 * 1024, max_ratio=10**9))
    assert isinstance(result, TableError) and result.code == "xlsx_too_big"
    assert result.params == {"size": "2", "limit": "1"}


def test_rows_beyond_the_cap_refuse_the_file() -> None:
    rows = [ROSTER_ROWS[0], *(["Иванов Иван Иванович", "учитель", "", "", ""] for _ in range(20))]
    assert _read(csv_bytes(rows), "r.csv", Limits(max_rows=20)) == 20
    refused = _read(csv_bytes([*rows, rows[1]]), "r.csv", Limits(max_rows=20))
    assert isinstance(refused, TableError) and refused.code == "too_many_rows"
    from_xlsx = _read(_xlsx([*rows, rows[1]]), "r.xlsx", Limits(max_rows=20))
    assert isinstance(from_xlsx, TableError) and from_xlsx.code == "too_many_rows"


def test_default_cap_is_20000_rows() -> None:
    rows = [ROSTER_ROWS[0], *([f"Иванов Иван {i}", "учитель", "", "", ""] for i in range(20_001))]
    refused = _read(csv_bytes(rows), "r.csv")
    assert isinstance(refused, TableError) and refused.code == "too_many_rows"
    text = CATALOG.text("ru", f"import_errors.{refused.catalog_code}", **refused.params)
    assert text == "больше 20\u00a0000 строк: разделите файл на части не больше 20\u00a0000 строк"


def test_a_sheet_with_a_row_a_million_lines_down_is_refused_quickly() -> None:
    with zipfile.ZipFile(io.BytesIO(VALID_XLSX)) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    members["xl/worksheets/sheet1.xml"] = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c></row>'
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, payload in members.items():
            out.writestr(name, payload)
    result = _read(buffer.getvalue(), "r.xlsx")
    assert isinstance(result, TableError) and result.code == "too_many_rows"


def test_reported_errors_are_the_first_100_then_a_count() -> None:
    outcome = ImportOutcome(errors=[RowError(n, "name") for n in range(2, 152)])
    t = CATALOG.bind("ru")
    text = render_outcome(outcome, t)
    lines = text.splitlines()
    assert lines[0] == "В файле 150 ошибок:"
    assert lines[1].startswith("Строка 2: ") and lines[100].startswith("Строка 101: ")
    assert lines[101] == "…и ещё 50 ошибок"
    whole = render_outcome(ImportOutcome(errors=[RowError(0, "file.empty")]), t)
    assert whole.splitlines()[1] == "Файл: файл пустой"


# --- through the bot ----------------------------------------------------------------------------


async def test_bot_refuses_a_zip_bomb_with_a_clear_message(harness: Harness) -> None:
    await harness.text(1, "/start")
    await harness.document(1, bomb_xlsx(4), "состав.xlsx", "application/vnd.ms-excel")
    calls = await harness.press(1, "imp:roster:0")
    report = next(c for c in calls if type(c).__name__ == "EditMessageText")
    text = report.text  # type: ignore[attr-defined]
    assert "Файл: книга Excel сжата в" in text and "Ничего не записано" in text
    assert await harness.app.people.count_active() == 1


async def test_bot_reads_a_cp866_roster(harness: Harness) -> None:
    await harness.text(1, "/start")
    await harness.document(1, roster_csv("cp866", ";"), "состав.csv")
    calls = await harness.press(1, "imp:roster:1")
    report = next(c for c in calls if type(c).__name__ == "EditMessageText")
    assert "добавлено: 9" in report.text  # type: ignore[attr-defined]
    assert await harness.app.people.count_active() == 10
