"""A broken plan file, as the IT officer meets it: sent to the bot as a document, or given to
`schoolbot import plan`. Each typical mistake is told in Russian (English with --lang en), on the
line where it is, naming the field as written in the file and saying what it is; nothing is written.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import EditMessageText, SendMessage

from bot.cli import cmd_import
from bot.services.plan import PLAN_PATH
from tests.harness import IT_OFFICER, Harness
from tests.test_cli_quiet import ENGLISH_WORD, NOT_ENGLISH
from tests.test_tasks import seed

SHIPPED = PLAN_PATH.read_text(encoding="utf-8")


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


# name -> (the broken file, the line the report must name, what the report must say)
BROKEN: dict[str, tuple[bytes, int, list[str]]] = {}


def _case(name: str, text: str, line_fragment: str, *expected: str) -> None:
    BROKEN[name] = (text.encode("utf-8"), _line_of(text, line_fragment), list(expected))


_case(
    "unknown_field",
    SHIPPED.replace('number = "3"\n', 'number = "3"\ncolour = "red"\n'),
    'colour = "red"',
    "пункт 3: неизвестное поле «colour»",
)
_case(
    "missing_text",
    SHIPPED.replace('number = "5"\ntext = ', 'number = "5"\n# text = '),
    'number = "5"',  # a missing field: the item's number line
    "пункт 5: нет поля «text» — текст пункта",
)
_case(
    "bad_date",
    SHIPPED.replace('date = 2011-05-31', 'date = "31.05.2011"'),
    'date = "31.05.2011"',
    "пункт 8: непонятная дата срока «31.05.2011» (поле «deadline.date»)",
)
_case(
    "broken_toml",
    SHIPPED.replace('number = "4"', 'number "4"'),
    'number "4"',
    "ошибка записи в столбце 8",
)
# Two items numbered 1.1: the report points to the second one and names the line of the first.
_dup = SHIPPED.replace('number = "1.2"', 'number = "1.1"')
_dup_lines = [n for n, line in enumerate(_dup.splitlines(), start=1) if line == 'number = "1.1"']
BROKEN["duplicate_number"] = (
    _dup.encode("utf-8"), _dup_lines[1], ["пункт 1.1 повторяется", f"уже есть в строке {_dup_lines[0]}"]
)
_latin1 = SHIPPED.encode("utf-8").replace("Анализ текущего".encode(), "Анализ текущего".encode("cp1251"))
BROKEN["not_utf8"] = (_latin1, _line_of(SHIPPED, "Анализ текущего"), ["не в кодировке UTF-8"])


def _assert_russian(report: str) -> None:
    for line in report.splitlines():
        line = re.sub(r"«[^»]*»", "«»", line)  # fields and values as written in the file
        english = [w for w in ENGLISH_WORD.findall(line) if w.lower() not in NOT_ENGLISH]
        assert not english, line


def _assert_report(report: str, name: str) -> None:
    _, line, expected = BROKEN[name]
    assert f"Строка {line}: " in report, report
    for fragment in expected:
        assert fragment in report, report
    assert "Ничего не записано" in report, report
    _assert_russian(report)


async def _plan_rows(harness: Harness) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await harness.app.db.fetchall("SELECT * FROM plan_items ORDER BY number")]


@pytest.mark.parametrize("name", sorted(BROKEN))
async def test_bot_upload_of_a_broken_plan_says_where_in_russian(harness: Harness, name: str) -> None:
    await seed(harness.app)
    await harness.app.services.tasks_import.ensure_plan()
    before = await _plan_rows(harness)
    assert before
    data, _, _ = BROKEN[name]
    calls = await harness.document(IT_OFFICER, data, "план.toml", mime_type="application/toml")
    assert any(isinstance(c, SendMessage) for c in calls)
    calls = await harness.press(IT_OFFICER, "imp:plan:0")
    report = [c.text or "" for c in calls if isinstance(c, EditMessageText | SendMessage)][-1]
    _assert_report(report, name)
    assert await _plan_rows(harness) == before  # nothing half-written


@pytest.mark.parametrize("name", sorted(BROKEN))
async def test_cli_import_of_a_broken_plan_says_where(
    harness: Harness, capsys: Any, tmp_path: Path, name: str
) -> None:
    await harness.app.services.tasks_import.ensure_plan()
    before = await _plan_rows(harness)
    data, line, _ = BROKEN[name]
    path = tmp_path / "plan.toml"
    path.write_bytes(data)
    args = argparse.Namespace(kind="plan", file=str(path), dry_run=False, school_year=2026, confirm_deactivations=False)
    assert await cmd_import(harness.app, args, harness.app.catalog.bind("ru")) != 0
    captured = capsys.readouterr()
    _assert_report(captured.out + captured.err, name)
    assert await _plan_rows(harness) == before

    assert await cmd_import(harness.app, args, harness.app.catalog.bind("en")) != 0
    captured = capsys.readouterr()
    english = captured.out + captured.err
    assert f"Line {line}: " in english and not re.search("[а-яА-Я]", re.sub(r"«[^»]*»", "", english)), english
