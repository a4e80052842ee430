"""The command line speaks Russian (English by choice) and shows no log lines unless --verbose.

Every `schoolbot` command runs once in one child interpreter (main() called in turn, the real
logging set-up each time), so the test costs one start-up."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bot import cli
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.i18n import Catalog
from tests.harness import roster_csv
from tests.servers import backend_under_test

# One line per command (all of them: a new command must be added here or to SKIPPED).
CASES: dict[str, list[str]] = {
    "import": ["import", "roster", "roster.csv"],
    "import-bad-kind": ["import", "nonsense", "roster.csv"],
    "import-missing": ["import", "roster", "missing.csv"],
    "link": ["link", "Морозов"],
    "link-many": ["link", "Иванов"],
    "link-none": ["link", "Нетакогочеловека"],
    "admin-token": ["admin-token"],
    "export": ["export", "consents", "--format", "pdf", "--out", "consents.pdf"],
    "export-xlsx": ["export", "consents", "--format", "xlsx", "--out", "consents.xlsx"],
    "export-en": ["--lang", "en", "export", "consents", "--format", "csv", "--out", "consents.csv"],
    "export-report": ["export", "report", "--out", "report.xlsx"],
    "export-sends": ["export", "sends", "--format", "csv", "--out", "sends.csv"],
    "consent": ["consent", "publish", "empty.txt"],
    "reminders": ["reminders", "--dry-run", "--at", "2026-12-07 09:00"],
    "reminders-bad": ["reminders", "--dry-run", "--at", "07.12.2026"],
    "print": ["print", "cards", "--class", "5А", "--all", "--out", "cards.pdf"],
    "print-bad": ["print", "cards", "--class", "нет"],
    "new-year": ["new-year", "2027", "--dry-run"],
    "backup": ["backup"],
    "restore": ["restore", "missing.sqlite3"],
    "broadcast": ["broadcast", "--audience", "role:teacher", "--text", "Педсовет", "--yes"],
    "run": ["run"],
    "verify-ledger": ["verify-ledger"],
    "merge-person": ["merge-person", "Морозов", "Нетакогочеловека"],
    "analysis": ["analysis", "--out", "analysis.pdf"],
    "purge": ["purge"],
    "subject-report": ["subject-report", "Морозов", "--out", "my-data.txt"],
    # A one-school install (no DISTRICT_DIR) asked for the district's commands.
    "district": ["district", "list"],
}
SKIPPED = {
    "sandbox": "an interactive session of the whole bot, tested in test_sandbox",
}
# A Latin word that is not a file, a command, a format or a product name.
ENGLISH_WORD = re.compile(r"(?<![\w./:<@_-])[A-Za-z]{3,}(?![\w./:>_-])")
NOT_ENGLISH = {
    "schoolbot", "csv", "xlsx", "pdf", "toml", "telegram", "max", "bot_token", "botfather", "sha", "utc", "ctrl",
    "start", "dry", "run", "apply", "yes", "all", "out", "format", "lang", "parents", "staff", "role",
    "teacher", "class", "restore", "import", "roster", "carry", "over", "force", "msk", "zip", "aes",
    "codes", "activations", "plan", "training", "the", "pdftoppm",
}
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR)")

DRIVER = """
import contextlib, io, json, sys
from bot import cli
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    results[name] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


def _run_all(tmp_path: Path, cases: dict[str, list[str]], **env: str) -> dict[str, list[object]]:
    base = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "ADMIN_IDS", "LOG_LEVEL", "LANG", "LC_ALL"}}
    base.update({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "SCHOOL_CONFIG": str(EXAMPLE_SCHOOL_CONFIG),
                 "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    base.update(env)
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cases)], capture_output=True, text=True, cwd=tmp_path, env=base,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not LOG_LINE.search(done.stderr), done.stderr
    result: dict[str, list[object]] = json.loads(done.stdout)
    return result


def test_every_command_is_quiet_and_russian(tmp_path: Path) -> None:

    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands == {argv[0] for argv in CASES.values() if argv[0] != "--lang"} | set(SKIPPED) - {"--lang"}

    (tmp_path / "roster.csv").write_bytes(roster_csv())
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    results = _run_all(tmp_path, CASES)
    for name, (_, out, err) in results.items():
        # Not one log line at default verbosity (migrations, fonts, aiogram, the bot's own).
        assert not LOG_LINE.search(str(out) + str(err)), (name, out, err)
    def said(name: str) -> str:
        return str(results[name][1]) + str(results[name][2])

    assert "Импорт выполнен" in said("import") and "добавлено: 9" in said("import")
    assert "Неизвестный вид импорта «nonsense»" in said("import-bad-kind")
    # The system's own reason is English whatever the locale ("No such file or directory").
    assert "missing.csv: не удалось прочитать файл (такого файла нет)." in said("import-missing")
    assert "Под «Иванов» подходят 4 человека" in said("link-many")
    assert "Под «Нетакогочеловека» никто не подходит." in said("link-none")
    assert "Одноразовый токен ответственного по информатизации" in said("admin-token")
    assert "Реестр согласий записан в consents.pdf (3 строки)." in said("export")
    assert "Consent register written to consents.csv (3 rows)." in said("export-en")
    assert "Журнал отправок записан в sends.csv (0 строк)." in said("export-sends")
    assert "empty.txt: документ пуст." in said("consent")
    assert "Район не настроен: укажите папку района в переменной DISTRICT_DIR" in said("district")
    assert "будет отправлено" in said("reminders")
    assert "нужно «ГГГГ-ММ-ДД ЧЧ:ММ»" in said("reminders-bad")
    assert "«нет» — это не класс" in said("print-bad")
    assert "BOT_TOKEN" in said("run") and "@BotFather" in said("run") and len(said("run").strip().splitlines()) == 1
    assert (tmp_path / "consents.pdf").exists()
    dump = "pgdump" if backend_under_test() == "postgres" else "sqlite3"  # pg_dump's format on PostgreSQL
    assert re.search(rf"Копия базы бота записана и проверена: .*schoolbot-.*\.{dump} \(\d+ КБ\)\.", said("backup"))
    assert re.search(r"Файл записан: report\.xlsx \(\d+ КБ\)\.", said("export-report"))
    assert "bytes" not in said("backup") + said("export-report")
    # Every line a command prints is Russian: no English word outside names of files, commands and formats.
    for name, (_, out, err) in results.items():
        if name.endswith("-en"):
            continue
        for line in (str(out) + str(err)).splitlines():
            line = re.sub(r"«[^»]*»", "«»", line)   # what the user typed, quoted back
            english = [w for w in ENGLISH_WORD.findall(line) if w.lower() not in NOT_ENGLISH and "." not in w]
            assert not english, (name, line)


def test_verbose_shows_logs_and_config_errors_are_russian(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    loud = _run_all(tmp_path, {"import": ["--verbose", "import", "roster", "roster.csv", "--dry-run"]})
    assert LOG_LINE.search(str(loud["import"][2]))
    (tmp_path / "school.toml").write_text(
        '[school]\nname = "Школа"\ntimezone = "Europe/Moscow"\nadress = "опечатка"\n'
        '[school_year]\nyear = 2026\nquarters = []\n',
        encoding="utf-8",
    )
    bad = _run_all(tmp_path, {"ru": ["reminders", "--dry-run"]}, SCHOOL_CONFIG=str(tmp_path / "school.toml"))
    assert bad["ru"][0] == 2
    assert "неизвестное поле" in str(bad["ru"][2]) and not LOG_LINE.search(str(bad["ru"][2]))


def _help_paths(parser: argparse.ArgumentParser, path: str = "") -> list[str]:
    """Every place `--help` shows a text of ours: commands, options and descriptions."""
    found = [f"{path or 'schoolbot'}.description"] if parser.description else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                sub_path = f"{path}.{name}" if path else name
                found.append(sub_path)
                found.extend(_help_paths(sub, sub_path))
        elif action.help not in (None, argparse.SUPPRESS) and action.dest != "help":
            found.append(f"{path or 'schoolbot'}.{action.dest}")
    return found


def test_help_is_russian_for_every_command_and_option() -> None:

    keys = Catalog.load().keys("ru")
    # A new command or option needs its Russian help in content/i18n/ru/clihelp.toml.
    missing = [p for p in _help_paths(cli.build_parser()) if f"clihelp.{p}" not in keys]
    assert missing == []

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main(["import", "--help"])
    text = out.getvalue()
    assert "использование: schoolbot import" in text and "параметры:" in text
    assert "показать, что изменится, ничего не записывая" in text and "show this help" not in text
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
        cli.main(["import"])
    assert "ошибка: не хватает аргументов: kind, file" in err.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main(["--lang", "en", "import", "--help"])
    assert "usage: schoolbot import" in out.getvalue() and "show what would change" in out.getvalue()
