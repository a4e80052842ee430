"""`schoolbot import codes` and `schoolbot print cards` from the command line."""

from __future__ import annotations

from pathlib import Path

from tests.codes_helpers import CODES, codes_csv
from tests.harness import roster_csv
from tests.test_cli import _run


def test_import_codes_and_print_cards(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    (tmp_path / "codes.csv").write_bytes(codes_csv())
    assert _run(["import", "roster", "roster.csv"], tmp_path).returncode == 0
    imported = _run(["import", "codes", "codes.csv"], tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "добавлено: 7" in imported.stdout
    again = _run(["import", "codes", "codes.csv"], tmp_path)
    assert "без изменений: 7" in again.stdout
    # Codes are secrets: the command's output never shows them.
    assert not any(code in imported.stdout + again.stdout for code in CODES.values())

    # No consent yet: nothing may be printed, and the output says who was left out and why.
    printed = _run(["print", "cards", "--class", "5a", "--out", "sheet.pdf"], tmp_path)
    assert printed.returncode == 1 and not (tmp_path / "sheet.pdf").exists()
    assert "Не выдано: 2 кода — нет согласия (нет ответа: 2)" in printed.stdout
    assert not any(code in printed.stdout + printed.stderr for code in CODES.values())
    # (The sheets with consent given are decoded in tests/test_code_gate.py.)
    nothing = _run(["print", "cards", "--class", "11Б"], tmp_path)
    assert nothing.returncode == 1 and "Печатать нечего" in nothing.stderr
