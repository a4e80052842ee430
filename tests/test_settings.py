from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import EXAMPLE_SCHOOL_CONFIG, ConfigError, load_school_config, load_settings


def test_example_school_config_is_valid() -> None:
    config = load_school_config(EXAMPLE_SCHOOL_CONFIG)
    assert config.school.timezone == "Europe/Moscow"
    assert len(config.school_year.quarters) == 4
    assert str(config.hours.quiet_start) == "21:00:00"


def test_bad_school_config_names_the_field(tmp_path: Path) -> None:
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8").replace('"Europe/Moscow"', '"Europe/Atlantis"')
    path = tmp_path / "school.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"school\.timezone: .*unknown time zone"):
        load_school_config(path)


def test_bad_quarters_are_reported(tmp_path: Path) -> None:
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8").replace("{ start = 2027-03-30, end = 2027-05-26 },", "")
    path = tmp_path / "school.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="school_year: .*four quarters"):
        load_school_config(path)


def test_bad_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_RATE", "100")
    with pytest.raises(ConfigError, match="outbox_rate"):
        load_settings(_env_file=None)


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:SECRET-VALUE-abcdefghijklmnop")
    monkeypatch.setenv("ADMIN_IDS", "1, 2 3")
    settings = load_settings(_env_file=None)
    assert "SECRET" not in repr(settings) and "SECRET" not in str(settings.model_dump())
    assert settings.admin_ids == [1, 2, 3]
