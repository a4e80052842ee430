"""Reading tables as school staff produce them: CSV from Russian Excel (cp1251 or UTF-8 with BOM,
`;` or `,`; also cp866 and UTF-16 as older tools write them) and XLSX. Rows keep their line
numbers so every error can name its line.

Reading is bounded and never raises anything but `TableError`, whatever the bytes: the file size,
the XLSX's declared unpacked size and compression ratio (checked from the zip central directory
before anything is unpacked), the number of rows and of columns all have limits. It is CPU work:
callers on the event loop use `load_table` (a worker thread), the synchronous functions are for
code already off the loop."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# A file the bot accepts from Telegram is at most this big; the CLI reads through the same limit.
MAX_FILE_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 20_000
# Blank rows are skipped but still cost time: a sheet may declare a row a million lines down.
MAX_BLANK_ROWS = 20_000
MAX_COLUMNS = 100
# XLSX: what the archive says it unpacks to, before a byte is unpacked. A real 20,000-row roster
# unpacks to a few MB with a ratio of 5-20; a zip bomb declares gigabytes at ratios of 1000+.
MAX_XLSX_UNPACKED = 50 * 1024 * 1024
MAX_XLSX_RATIO = 100
_RATIO_FLOOR = 1024 * 1024  # small members (styles, empty sheets) compress well and cost nothing
MAX_XLSX_MEMBERS = 1000
MAX_CELL_CHARS = 32_767  # Excel's own limit for a cell

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc: the old binary Office formats
_RUSSIAN = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ")


class TableError(Exception):
    """The file as a whole cannot be read. `code` is a key of the `import_errors.file` catalog
    table, `params` fill its placeholders; `line` is 0 when the problem is not on one line."""

    def __init__(self, code: str, line: int = 0, **params: str | int) -> None:
        super().__init__(code)
        self.code = code
        self.line = line
        self.params = params

    @property
    def catalog_code(self) -> str:
        """The RowError code (a key under `import_errors`) that reports this problem."""
        return f"file.{self.code}"


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]  # canonical field -> cell text (stripped)
    # More non-empty cells than header columns: usually a separator inside an unquoted cell.
    overflow: bool = False


@dataclass(frozen=True)
class Limits:
    max_rows: int = DEFAULT_MAX_ROWS
    max_bytes: int = MAX_FILE_BYTES
    max_unpacked: int = MAX_XLSX_UNPACKED
    max_ratio: int = MAX_XLSX_RATIO


@dataclass
class _Collector:
    """Headers and data rows, counting against the limits as they come."""

    limits: Limits
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    blank: int = 0

    def add(self, line: int, cells: list[str]) -> None:
        if not any(cells):
            self.blank += 1
            if self.blank > MAX_BLANK_ROWS:
                raise TableError("too_many_rows", limit=self.limits.max_rows)
            return
        if self.headers is None:
            self.headers = cells
            return
        if len(self.rows) >= self.limits.max_rows:
            raise TableError("too_many_rows", limit=self.limits.max_rows)
        self.rows.append((line, cells))


def _number(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


def _megabytes(n: int) -> str:
    return _number(max(1, round(n / (1024 * 1024))))


def _norm_header(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").replace("ё", "е").replace("Ё", "Е").lower().split()).strip(" .:*")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _russian_share(text: str) -> float:
    """Of the characters outside ASCII, the share that are Russian letters: close to 1 for Russian
    text decoded with the right code page, far lower with a wrong one (box drawing, symbols)."""
    wide = [c for c in text if ord(c) > 127]
    if not wide:
        return 1.0
    return sum(c in _RUSSIAN for c in wide) / len(wide)


def _utf16_without_bom(data: bytes) -> str | None:
    """Old tools write UTF-16 without a BOM: every other byte of Latin/Cyrillic text is 0 or 4."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    for encoding, high in (("utf-16-le", odd), ("utf-16-be", even)):
        if sum(b in (0, 4) for b in high) >= 0.9 * len(high):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    return None


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TableError("encoding", _line_of(data, exc.start + 3), byte=f"0x{data[exc.start + 3]:02X}") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise TableError("encoding_utf16") from None
    if b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is None:
            raise TableError("binary")
        return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    # Not UTF-8: Russian Excel's "CSV (разделители - запятые)" writes Windows-1251; DOS-era tools
    # and some accounting exports write cp866. Both decode most byte strings, so the one whose text
    # looks Russian wins; neither looking Russian means we cannot tell, and we say so.
    best: tuple[float, str] | None = None
    for encoding in ("cp1251", "cp866"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        share = _russian_share(text)
        if best is None or share > best[0]:
            best = (share, text)
    if best is None or best[0] < 0.6:
        raise TableError("encoding", _line_of(data, first_bad), byte=f"0x{data[first_bad]:02X}")
    return best[1]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _finish(collector: _Collector) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if collector.headers is None:
        raise TableError("no_header")
    return collector.headers, collector.rows


def read_rows(
    data: bytes, filename: str, limits: Limits | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Headers and (line, cells) of the first sheet / the CSV body; blank lines skipped."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise TableError("too_big", limit=_megabytes(limits.max_bytes))
    if not data.strip():
        raise TableError("empty")
    name = filename.lower()
    if data.startswith(_OLE_MAGIC) or name.endswith(".xls"):
        raise TableError("old_excel")
    if data[:2] == b"PK" or name.endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, limits)
    return _read_csv(data, limits)


def _read_csv(data: bytes, limits: Limits) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = _decode(data)
    if not text.strip():
        raise TableError("empty")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(";,\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    collector = _Collector(limits)
    try:
        for cells in reader:
            if len(cells) > MAX_COLUMNS:
                raise TableError("too_many_columns", reader.line_num, limit=MAX_COLUMNS)
            collector.add(reader.line_num, [c.strip() for c in cells])
    except csv.Error:
        # The only errors the lenient reader raises: a cell beyond the field size limit
        # (an unclosed quote swallowing the rest of the file) or a stray NUL.
        raise TableError("csv_quote", reader.line_num + 1) from None
    return _finish(collector)


def _check_zip(data: bytes, limits: Limits) -> None:
    """Refuse a zip bomb from its central directory, before anything is unpacked. zipfile stops
    unpacking a member at its declared size (and then fails its CRC), so the declared sizes bound
    what openpyxl can be made to read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception:  # any malformed archive is the same problem for the user
        raise TableError("xlsx_broken") from None
    if len(members) > MAX_XLSX_MEMBERS:
        raise TableError("xlsx_broken")
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked:
        raise TableError("xlsx_too_big", size=_megabytes(total), limit=_megabytes(limits.max_unpacked))
    for member in members:
        if member.file_size > _RATIO_FLOOR and member.file_size > limits.max_ratio * max(member.compress_size, 1):
            raise TableError("xlsx_ratio", ratio=_number(member.file_size // max(member.compress_size, 1)))


def _read_xlsx(data: bytes, limits: Limits) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl import load_workbook  # slow to import; only XLSX needs it

    _check_zip(data, limits)
    collector = _Collector(limits)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it drops; the cell values are all we read.
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not book.worksheets:
                    raise TableError("xlsx_no_sheet")
                sheet = book.worksheets[0]
                rows: Iterable[tuple[object, ...]] = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
                for index, values in enumerate(rows, start=1):
                    collector.add(index, [_cell(v)[:MAX_CELL_CHARS] for v in values])
            finally:
                book.close()
    except TableError:
        raise
    except Exception:  # openpyxl raises a dozen kinds on a damaged file
        raise TableError("xlsx_broken") from None
    return _finish(collector)


def _column_label(field_name: str, aliases: Mapping[str, Sequence[str]]) -> str:
    names = aliases.get(field_name) or [field_name]
    return f"«{names[0]}»"


def read_table(
    data: bytes,
    filename: str,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    limits: Limits | None = None,
) -> list[Row]:
    """Rows keyed by canonical field names. `aliases` maps a field to the header names it may have."""
    headers, raw_rows = read_rows(data, filename, limits)
    lookup: dict[str, str] = {}
    for field_name, names in aliases.items():
        for name in (field_name, *names):
            lookup.setdefault(_norm_header(name), field_name)
    columns: dict[int, str] = {}
    for index, header in enumerate(headers):
        found = lookup.get(_norm_header(header))
        if found is not None and found not in columns.values():
            columns[index] = found
    missing = [f for f in required if f not in columns.values()]
    if missing:
        raise TableError("missing_columns", 1, columns=", ".join(_column_label(f, aliases) for f in missing))
    rows = []
    for line, cells in raw_rows:
        values = {field_name: (cells[i] if i < len(cells) else "") for i, field_name in columns.items()}
        overflow = any(cell for cell in cells[len(headers):])
        rows.append(Row(line=line, values=values, overflow=overflow))
    return rows


async def load_table(
    data: bytes,
    filename: str,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    limits: Limits | None = None,
) -> list[Row]:
    """`read_table` in a worker thread, for callers on the event loop."""
    return await asyncio.to_thread(read_table, data, filename, aliases, required, limits)
