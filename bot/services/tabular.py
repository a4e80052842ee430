"""Reading tables as school staff produce them: CSV from Russian Excel (cp1251 or UTF-8 with BOM,
`;` or `,`) and XLSX. Rows keep their line numbers so every error can name its line."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class TableError(Exception):
    """The file as a whole cannot be read; the message is for the person who sent it."""


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]  # canonical field -> cell text (stripped)
    # More non-empty cells than header columns: usually a separator inside an unquoted cell.
    overflow: bool = False


def _norm_header(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").replace("ё", "е").replace("Ё", "Е").lower().split()).strip(" .:*")


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Russian Excel's "CSV (разделители - запятые)" writes Windows-1251.
        return data.decode("cp1251")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(data: bytes, filename: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Headers and (line, cells) of the first sheet / the CSV body; blank lines skipped."""
    if data[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data)
    text = _decode(data)
    if not text.strip():
        raise TableError("the file is empty")
    first = text.splitlines()[0]
    delimiter = max(";,\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    headers: list[str] | None = None
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if headers is None:
            headers = [c.strip() for c in cells]
            continue
        rows.append((line, [c.strip() for c in cells]))
    if headers is None:
        raise TableError("the file has no header row")
    return headers, rows


def _read_xlsx(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise TableError(f"not a readable XLSX file ({exc})") from None
    try:
        sheet = book.worksheets[0]
        headers: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        for index, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if not any(cells):
                continue
            if headers is None:
                headers = cells
                continue
            rows.append((index, cells))
    finally:
        book.close()
    if headers is None:
        raise TableError("the sheet has no header row")
    return headers, rows


def read_table(
    data: bytes,
    filename: str,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
) -> list[Row]:
    """Rows keyed by canonical field names. `aliases` maps a field to the header names it may have."""
    headers, raw_rows = read_rows(data, filename)
    lookup: dict[str, str] = {}
    for field, names in aliases.items():
        for name in (field, *names):
            lookup.setdefault(_norm_header(name), field)
    columns: dict[int, str] = {}
    for index, header in enumerate(headers):
        found = lookup.get(_norm_header(header))
        if found is not None and found not in columns.values():
            columns[index] = found
    missing = [f for f in required if f not in columns.values()]
    if missing:
        wanted = "; ".join(f"{f} ({', '.join(aliases.get(f, []))})" for f in missing)
        raise TableError(f"line 1: missing column(s): {wanted}")
    rows = []
    for line, cells in raw_rows:
        values = {field: (cells[i] if i < len(cells) else "") for i, field in columns.items()}
        overflow = any(cell for cell in cells[len(headers):])
        rows.append(Row(line=line, values=values, overflow=overflow))
    return rows
