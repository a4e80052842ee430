"""Every line the sandbox writes around the bot speaks the sandbox's language: the script runner's
summary, the diff of a failed step and its transcript, the demo school's load report, a wrong
`--start` or time and a wrong script. Russian by default, English with --lang en; the words of the
script language itself (`send`, `expect`, the persona keys) stay as a script writes them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.i18n import Catalog
from bot.sandbox import cmd_sandbox
from bot.sandbox.clock_args import parse_start, parse_time_arg
from bot.sandbox.demo import PERSONAS, DemoReport
from bot.sandbox.options import SandboxOptions, SandboxProblem
from bot.sandbox.runner import Sandbox
from bot.sandbox.script import KEYS, Script, ScriptError, load_script, play
from tests.test_sandbox import MSK, START

# A Latin word that is not part of a path, a command, a key or a file name.
ENGLISH_WORD = re.compile(r"(?<![\w./:<@_«'\"-])[A-Za-z]{3,}(?![\w./:>_»'\"-])")
# The script language's own words (its keys, the persona keys, TOML's true), the product, the
# messengers, and the misspelt key the test's script has on purpose.
SCRIPT_WORDS = {*KEYS, *(p.key for p in PERSONAS), "schoolbot", "sandbox", "start", "script", "max", "telegram",
                "toml", "steps", "true", "false", "sned"}


def _english(text: str) -> list[str]:
    return sorted({w for w in ENGLISH_WORD.findall(text) if w.lower() not in SCRIPT_WORDS})


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


async def _everything_said(tmp_path: Path, lang: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Every kind of line the sandbox writes outside the chat, in `lang`."""
    t = Catalog.load().bind(lang)
    said: list[str] = []
    async with Sandbox.running(SandboxOptions(data_dir=tmp_path / "sb", start=START, lang=lang)) as sb:
        said += sb.demo_report.lines(t)
        good = Script("good", tmp_path / "good.toml", [
            {"as": "parent_one", "send": "/start"},
            {"as": "pupil", "contact": True},
            {"time": "+1h"},
        ])
        result = await play(sb, good)
        said += [result.summary(), *result.transcript]
        failing: list[list[dict[str, Any]]] = [
            [{"as": "parent_one", "send": "/menu", "expect": "Этого текста нет", "timeout": 0.3, "note": "N"}],
            [{"as": "parent_one", "send": "/menu", "expect_document": "report", "timeout": 0.3}],
            [{"as": "parent_one", "send": "/menu", "expect_photo": True, "timeout": 0.3}],
            [{"as": "parent_one", "send": "/menu", "expect_buttons": ["Нет такой"], "timeout": 0.3}],
            [{"as": "parent_one", "send": "/menu", "expect_not": "/start"}],
            [{"as": "parent_one", "send": "/menu", "expect_none": True}],
            [{"as": "parent_one", "press": "Нет такой кнопки"}],
            [{"send": "/start"}],
            [{"as": "pupil", "file": "missing.csv"}],
            [{"time": "2020-01-01 10:00"}],
            [{"as": "pupil", "wire": "max", "send": "/start"}],
        ]
        for n, steps in enumerate(failing):
            result = await play(sb, Script(f"bad{n}", tmp_path / "bad.toml", steps))
            assert not result.ok
            said += [result.summary(), *result.transcript]
    # The demo's report when an import failed or is not there.
    problem = SandboxProblem("role", area="import_errors", value="завуч")
    report = DemoReport(skipped={"roster": SandboxProblem("demo.errors", n=2, line=3, message=problem),
                                 "codes": SandboxProblem("demo.no_importer")})
    said += report.lines(t)
    # Times and scripts that are wrong, as the person typed them.
    for bad in ("+3x", "+", "завтра"):
        with pytest.raises(SandboxProblem) as caught:
            parse_time_arg(bad, START, MSK)
        said.append(caught.value.text(t))
    with pytest.raises(SandboxProblem) as caught:
        parse_start("01.12.2026", MSK)
    said.append(caught.value.text(t))
    for body in ('[[steps]]\nas = "pupil"\nsned = "/start"\n', '[[steps]]\nas = "nobody"\n',
                 '[[steps]]\nas = "pupil"\nsend = "/start"\ncontact = true\n', '[[steps]]\nwire = "icq"\n',
                 "steps = 1\n", "[[steps]\n"):
        with pytest.raises(ScriptError) as script_error:
            load_script(_script(tmp_path, "wrong", body))
        said.append(script_error.value.text(t))
    # The command's own lines: a wrong --start, a wrong script.
    capsys.readouterr()
    for argv in (["sandbox", "--lang", lang, "--start", "завтра", "--data-dir", str(tmp_path / "c1")],
                 ["sandbox", "--lang", lang, "--script", str(_script(tmp_path, "wrong", '[[steps]]\nas = "x"\n')),
                  "--data-dir", str(tmp_path / "c2")]):
        assert await cmd_sandbox(build_parser().parse_args(argv)) == 2
    captured = capsys.readouterr()
    said += [captured.out, captured.err]
    return "\n".join(said)


async def test_the_script_runner_and_its_errors_speak_russian(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    text = await _everything_said(tmp_path, "ru", capsys)
    for wanted in ("Сценарий «good» пройден, шагов: 3.", "пишет «/start»", "делится номером телефона",
                   "время → 2026-12-01 11:00", "ошибка на шаге 1 из 1", "--- ожидалось (",
                   "+++ пришло новых сообщений:",
                   "- новое сообщение с текстом «Этого текста нет»", "документ, в имени которого есть «report»",
                   "- фото", "новое сообщение с кнопкой «Нет такой»", "ни одного нового сообщения с текстом",
                   "ожидалась кнопка «Нет такой кнопки»", "человек не выбран", "missing.csv: файла нет",
                   "состав: добавлено", "состав: не загружено (ошибок в файле: 2, первая в строке 3: неизвестная роль",
                   "загрузчик не подключён", "непонятный промежуток «+3x»", "нужно «ГГГГ-ММ-ДД ЧЧ:ММ»",
                   "неизвестные ключи: sned", "человека «nobody» нет в учебной школе", "одно действие",
                   "wire — это «max» или «telegram»", "нужны таблицы [[steps]]", "это не сценарий TOML",
                   "schoolbot sandbox: --start: нужно «ГГГГ-ММ-ДД ЧЧ:ММ» (время школы), а не «завтра»",
                   "schoolbot sandbox: ", "человека «x» нет",
                   "время идёт только вперёд: сейчас 2026-12-01 11:00", "Песочница запущена без MAX"):
        assert wanted in text, wanted
    # The one English a Russian reader may meet is Python's own detail of a broken TOML file.
    toml_detail = re.compile(r"это не сценарий TOML \(.*?\)")
    assert _english(toml_detail.sub("", text)) == [], text


async def test_the_script_runner_speaks_english_with_lang_en(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    text = await _everything_said(tmp_path, "en", capsys)
    for wanted in ("script good: 3 steps passed", "says '/start'", "FAILED at step 1 of 1", "--- expected (",
                   "- a new message containing 'Этого текста нет'", "buttons shown now", "no persona chosen yet",
                   "roster: added", "roster: skipped (2 errors in the file, the first at line 3",
                   "importer not registered", "bad duration '+3x'", "unknown key(s): sned", "unknown persona 'nobody'",
                   "schoolbot sandbox: --start: expected 'YYYY-MM-DD HH:MM' (school time), got 'завтра'",
                   "Time only moves forward", "without MAX"):
        assert wanted in text, wanted
    assert "Сценарий" not in text and "ожидалось" not in text and "непонятный" not in text
