"""`schoolbot`, `schoolbot --help` and a usage error answer from the catalog without loading the
bot: no aiogram, no renderers, no application; a command that sends nothing and draws nothing runs
on the services alone (bench/cli_start.py measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot import cli
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.i18n import Catalog

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("aiogram", "fpdf", "openpyxl", "matplotlib", "PIL", "qrcode", "pymorphy3", "bot.app", "bot.cli_app",
         "bot.capabilities", "storage")


def _imported(*argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", *argv], capture_output=True,
                          text=True, env=env, check=False, timeout=120)
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done, names


def test_help_and_a_usage_error_load_nothing_heavy() -> None:
    done, names = _imported("--help")
    assert done.returncode == 0
    assert "использование: schoolbot" in done.stdout and "загрузить файл: состав, план, коды" in done.stdout
    assert not {n for n in names if n.startswith(HEAVY)}
    done, names = _imported("--lang", "en")
    assert done.returncode == 2 and "the following arguments are required: COMMAND" in done.stderr
    assert not {n for n in names if n.startswith(HEAVY)}


def test_the_light_list_of_commands_is_the_full_parsers() -> None:
    full = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for lang in ("ru", "en"):
        light = [name for name, _ in cli.commands(lang)]
        assert sorted(light) == sorted(full), lang
        assert len(set(light)) == len(light)
    catalog = Catalog.load()
    assert all(catalog.text("ru", f"clihelp.{name}") == text for name, text in cli.commands("ru"))


# Commands that send nothing and draw nothing: each must run on the services alone. `export report`
# is the control: it renders (openpyxl), so the check below sees a renderer when one is loaded.
LIGHT_COMMANDS: list[list[str]] = [
    ["backup", "--help"],
    ["import", "roster", "roster.csv"],
    ["backup"],
    ["verify-ledger"],
    ["purge"],
    ["reminders", "--dry-run", "--at", "2026-12-07 09:00"],
    ["link", "Иванов"],
    ["admin-token"],
    ["consent", "destroyed", "1"],
    ["export", "sends", "--format", "csv", "--out", "sends.csv"],
    ["subject-report", "1", "--out", "my-data.txt"],
    ["new-year", "2027", "--dry-run"],
    ["merge-person", "1", "2"],
    # A district's commands (DISTRICT_DIR is set below): a school's store and services, no messenger.
    ["district", "add-school", "alpha", "--title", "Альфа", "--config", str(EXAMPLE_SCHOOL_CONFIG)],
    ["district", "list"],
    ["district", "import", "alpha", "roster", "roster.csv"],
    ["district", "status"],
    ["district", "add-operator", "--full-name", "Районова Анна", "--telegram", "5"],
    ["district", "backup"],
    ["district", "remove-school", "alpha", "--yes"],
]
NOT_FOR_LIGHT = ("aiogram", "aiohttp", "PIL", "qrcode", "openpyxl", "matplotlib", "fpdf", "pymorphy3", "apscheduler",
                 "bot.app", "bot.tg", "bot.max", "handlers", "scheduler", "bot.sandbox", "bot.fakeapi")
# One child interpreter runs the commands in turn (as `schoolbot` would, one after another) and
# reports what was loaded after each: sys.modules only grows, so a command that loads something
# heavy shows it on its own line.
CHILD = """
import json, sys
from bot import cli
heavy = tuple(sys.argv[1].split(","))
report = []
for argv in json.loads(sys.argv[2]):
    try:
        code = cli.main(argv)
    except SystemExit as exit:
        code = exit.code
    report.append([argv, code, sorted(m for m in sys.modules if m.startswith(heavy))])
print("REPORT " + json.dumps(report))
"""


def test_commands_that_send_nothing_load_no_messenger_and_no_renderer(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text(
        "ФИО;Роль;Класс\nИванов Иван Иванович;учитель;\nПетрова Анна Сергеевна;ученик;5А\n", encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "ADMIN_IDS"}},
           "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
           "SCHOOL_CONFIG": str(EXAMPLE_SCHOOL_CONFIG), "DISTRICT_DIR": str(tmp_path / "district")}
    cases = [*LIGHT_COMMANDS, ["export", "report", "--out", "report.xlsx"]]
    done = subprocess.run([sys.executable, "-c", CHILD, ",".join(NOT_FOR_LIGHT), json.dumps(cases)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stderr
    report = json.loads(lines[0].removeprefix("REPORT "))
    for argv, code, loaded in report[:-1]:
        assert code in (0, 1), (argv, code, done.stderr)
        assert loaded == [], f"schoolbot {' '.join(argv)} loaded {loaded}"
    # The renderer is loaded by the command that renders, and only then.
    argv, code, loaded = report[-1]
    assert code == 0 and "openpyxl" in loaded, (argv, code, loaded)
    assert not [m for m in loaded if m.startswith(("aiogram", "bot.app", "handlers"))], loaded


def test_a_command_that_builds_a_keyboard_loads_the_messengers_buttons_then() -> None:
    # bot/core.py hands the services keyboards that load aiogram on first use: a command that
    # enqueues a message with buttons gets the very markup the running bot would make.
    child = ("import json, sys\nfrom bot.core import LazyButtons\nbuttons = LazyButtons()\n"
             "before = any(m.startswith('aiogram') for m in sys.modules)\n"
             "markup = buttons.consent_open('Открыть', 3)\n"
             "from bot.tg.buttons import TelegramButtons\n"
             "print(json.dumps([before, markup == TelegramButtons().consent_open('Открыть', 3), markup]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    before, same, markup = json.loads(done.stdout)
    assert before is False and same is True and markup["inline_keyboard"][0][0]["text"] == "Открыть"
