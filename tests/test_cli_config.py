"""SCHOOL_CONFIG naming a file that is not there is an error naming the path, never the example
school started in its place; without SCHOOL_CONFIG the example still starts (the two-command try)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main as cli_main


def test_a_missing_school_config_is_an_error_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    missing = tmp_path / "shkola.toml"
    monkeypatch.setenv("SCHOOL_CONFIG", str(missing))
    assert cli_main(["admin-token"]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: файла настроек школы нет" in err and "SCHOOL_CONFIG" in err
    assert not (tmp_path / "db.sqlite3").exists()   # nothing started

    monkeypatch.delenv("SCHOOL_CONFIG")
    assert cli_main(["admin-token"]) == 0   # school.toml absent, not asked for: the example school
