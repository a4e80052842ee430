from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.config import EXAMPLE_SCHOOL_CONFIG
from tests.harness import roster_csv


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "ADMIN_IDS"}}
    base.update({"DATABASE_PATH": str(tmp_path / "db.sqlite3"), "SCHOOL_CONFIG": str(EXAMPLE_SCHOOL_CONFIG)})
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=tmp_path, env=base,
        timeout=60, check=False,
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = _run(["--help"], tmp_path).stdout
    for command in ("run", "import", "link", "admin-token"):
        assert command in out


def test_run_without_token_explains_in_one_line(tmp_path: Path) -> None:
    result = _run(["run"], tmp_path)
    assert result.returncode == 2
    assert "@BotFather" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_import_roster_dry_run_and_link(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    result = _run(["import", "roster", "roster.csv", "--dry-run"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "добавлено: 9" in result.stdout
    assert _run(["import", "roster", "roster.csv"], tmp_path).returncode == 0
    link = _run(["link", "Морозов", "--bot-username", "school_bot"], tmp_path)
    assert link.returncode == 0, link.stderr
    assert "https://t.me/school_bot?start=" in link.stdout
    # One line per messenger named, each saying which it is: a t.me link does not open the bot in MAX.
    both = _run(["link", "Морозов", "--bot-username", "school_bot", "--max-bot-username", "school_max_bot"], tmp_path)
    assert both.returncode == 0, both.stderr
    lines = both.stdout.splitlines()
    assert lines[1].startswith("Telegram: https://t.me/school_bot?start=")
    assert lines[2].startswith("MAX: https://max.ru/school_max_bot?start=")
