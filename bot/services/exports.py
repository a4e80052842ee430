"""Exported files that are safe to open: one cell sanitiser for every CSV and XLSX the project
writes, and one way to write a file to disk (created 0600, never half-written).

Spreadsheet programs treat a cell that starts with `=`, `+`, `-`, `@` (and, after a paste, a tab
or carriage return) as a formula, so a roster name such as `=HYPERLINK("http://x","a")` would become
a live link or worse (CSV/formula injection). Every string cell goes through `csv_cell` or
`xlsx_append`; numbers and dates stay what they are.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

# ASCII leads from OWASP's CSV-injection guidance, plus their full-width forms, which some
# spreadsheet programs normalise before parsing.
FORMULA_LEADS = frozenset("=+-@\t\r\n＝＋－＠")
FILE_MODE = 0o600


def looks_like_formula(value: str) -> bool:
    return bool(value) and value[0] in FORMULA_LEADS


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet evaluates: a risky text gets a leading apostrophe (what
    Excel itself shows for text typed as '=...); anything else is returned unchanged."""
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def xlsx_append(ws: Worksheet, values: Iterable[Any]) -> None:
    """Append a row; every string is stored as string data (never a formula, whatever it starts
    with) and keeps its exact value. A formula-looking one is also marked quote-prefixed, so Excel
    keeps it text when someone edits the cell."""
    row = list(values)
    ws.append(row)
    index = ws.max_row  # the row just appended: every writer here only appends
    for column, value in enumerate(row, start=1):
        if isinstance(value, str):
            cell = ws.cell(row=index, column=column)
            cell.data_type = "s"
            if looks_like_formula(value):
                cell.quotePrefix = True


def file_size(t: Any, n: int) -> str:
    """A file's size as a person reads it: "392 КБ", "1,2 МБ"."""
    if n >= 1_048_576:
        return str(t("status.db.size_mb", n=f"{n / 1_048_576:.1f}".replace(".", "," if t.lang == "ru" else ".")))
    return str(t("status.db.size_kb", n=max(1, n // 1024)))


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` as a new file with mode 0600 (blocking: run in a thread).

    The bytes go to a temporary file created 0600 beside the target, which then replaces it: an
    existing 0644 file is not reused, and a crash leaves either the old file or the whole new one.
    A missing parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or Path("."))
    try:
        # mkstemp creates the file 0600 already; fchmod guards against an unusual platform default.
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
