"""`schoolbot`, `schoolbot --help` and a usage error answer from the catalog without loading the
bot: no aiogram, no renderers, no application (bench/cli_start.py measures the time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot import cli
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
