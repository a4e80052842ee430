"""A school's edit of its FAQ (content/faq/ru.toml) that does not load, as the IT officer meets it:
the «перечитать FAQ» button through the real Dispatcher, and the start of any `schoolbot` command.
Each typical mistake is told in Russian (English with --lang en), with the file, the line and the
field as written in the file; the working FAQ stays in use (nothing half-loaded).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot import cli
from bot.paths import CONTENT_DIR
from bot.services.faq import FaqLibrary
from bot.tg.callbacks import FaqNav
from tests.harness import IT_OFFICER, Harness
from tests.help_helpers import buttons, last_with_buttons, linked_school, texts
from tests.test_cli_quiet import ENGLISH_WORD, NOT_ENGLISH

SHIPPED = (CONTENT_DIR / "faq" / "ru.toml").read_text(encoding="utf-8")


def _line(text: str, fragment: str, nth: int = 0) -> int:
    return [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line][nth]


def _cases() -> dict[str, tuple[bytes, int, list[str]]]:
    """name -> (the broken ru.toml, the line the message must name, what it must say)."""
    cases: dict[str, tuple[bytes, int, list[str]]] = {}

    def add(name: str, text: str, line: int, *expected: str) -> None:
        cases[name] = (text.encode("utf-8"), line, list(expected))

    text = SHIPPED.replace('id = "password-forgot"\n', 'id = "password-forgot"\ncolour = "red"\n')
    add("unknown_field", text, _line(text, 'colour = "red"'), "вопрос 3 по счёту: неизвестное поле «colour»")
    text = SHIPPED.replace('question = "Как войти в Дневник.ру?"\n', "")
    add("missing_question", text, _line(text, 'id = "login-how"'),
        "вопрос 1 по счёту: нет поля «question» — текст вопроса")
    text = SHIPPED.replace("<b>dnevnik.ru</b>", "<i>dnevnik.ru</i>", 1)
    add("bad_markup", text, _line(text, 'answer = """', 0), "допустим только жирный шрифт", "(поле «answer»)")
    text = SHIPPED.replace('id = "login-gosuslugi"', 'id = "login-how"')
    first, second = _line(text, 'id = "login-how"', 0), _line(text, 'id = "login-how"', 1)
    add("duplicate_id", text, second, "вопрос 2 по счёту: код «login-how» (поле «id»)",
        f"уже есть у вопроса в строке {first}")
    text = SHIPPED.replace('category = "login"', 'category "login"', 1)
    add("broken_toml", text, _line(text, 'category "login"'), "ошибка записи в столбце 10")
    data = SHIPPED.encode("utf-8").replace("Как войти в".encode(), "Как войти в".encode("cp1251"))
    cases["not_utf8"] = (data, _line(SHIPPED, "Как войти в"), ["не в кодировке UTF-8"])
    return cases


BROKEN = _cases()


def _assert_russian(message: str) -> None:
    for line in message.splitlines():
        line = re.sub(r"«[^»]*»", "«»", line)  # fields and values as written in the file
        english = [w for w in ENGLISH_WORD.findall(line) if w.lower() not in NOT_ENGLISH | {"faq"}]
        assert not english, line


def _broken_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "content" / "faq"
    shutil.copytree(CONTENT_DIR / "faq", folder)
    return folder


@pytest.mark.parametrize("name", sorted(BROKEN))
async def test_reload_button_says_file_line_and_field_in_russian(harness: Harness, tmp_path: Path, name: str) -> None:
    folder = _broken_folder(tmp_path)
    harness.app.services.tickets.faq_library = FaqLibrary.load(folder)
    await linked_school(harness, IT_OFFICER)
    data, line, expected = BROKEN[name]
    (folder / "ru.toml").write_bytes(data)
    calls = await harness.press(IT_OFFICER, "adm:faq_reload")
    message = texts(calls)[-1]
    assert "FAQ не перечитан" in message
    assert f"{folder / 'ru.toml'}, строка {line}: " in message, message
    for fragment in expected:
        assert fragment in message, message
    _assert_russian(message)
    # The working FAQ is still served.
    calls = await harness.text(IT_OFFICER, "забыл пароль")
    assert FaqNav.unpack(buttons(last_with_buttons(calls))[0][1]).e == "password-forgot"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_a_command_started_with_a_broken_faq_names_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lang: str
) -> None:
    folder = _broken_folder(tmp_path)
    data, line, expected = BROKEN["missing_question"]
    (folder / "ru.toml").write_bytes(data)
    monkeypatch.setattr("bot.core.CONTENT_DIR", folder.parent)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.delenv("LANG", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    argv = ["--lang", "en"] if lang == "en" else []
    assert cli.main([*argv, "reminders", "--dry-run", "--at", "2026-12-07 09:00"]) == 2
    err = capsys.readouterr().err
    if lang == "ru":
        assert f"{folder / 'ru.toml'}, строка {line}: " in err and expected[0] in err, err
        _assert_russian(err)
        assert "Traceback" not in err
    else:
        assert f"{folder / 'ru.toml'}, line {line}: question 1 in order: no «question» field" in err, err
