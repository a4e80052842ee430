from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels import Channel
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
    expected = r"раздел \[school\], поле timezone: неизвестный часовой пояс «Europe/Atlantis»"
    with pytest.raises(ConfigError, match=expected):
        load_school_config(path)


def test_bad_quarters_are_reported(tmp_path: Path) -> None:
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8").replace("{ start = 2027-03-30, end = 2027-05-26 },", "")
    path = tmp_path / "school.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"раздел \[school_year\]: в учебном году ровно четыре четверти, а указано 3"):
        load_school_config(path)


def test_bad_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_RATE", "100")
    with pytest.raises(ConfigError, match="переменная окружения OUTBOX_RATE: должно быть не больше 30"):
        load_settings(_env_file=None)


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:SECRET-VALUE-abcdefghijklmnop")
    monkeypatch.setenv("ADMIN_IDS", "1, 2 3")
    settings = load_settings(_env_file=None)
    assert "SECRET" not in repr(settings) and "SECRET" not in str(settings.model_dump())
    assert settings.admin_ids == [(Channel.TELEGRAM, 1), (Channel.TELEGRAM, 2), (Channel.TELEGRAM, 3)]


def test_admin_ids_name_max_accounts_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # A MAX-only school's IT officer is a MAX account: `max:<id>`; a plain number stays Telegram's.
    monkeypatch.setenv("ADMIN_IDS", "1, max:2 telegram:3")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == [(Channel.TELEGRAM, 1), (Channel.MAX, 2), (Channel.TELEGRAM, 3)]
    assert settings.is_admin(Channel.MAX, 2) and not settings.is_admin(Channel.TELEGRAM, 2)
    assert not settings.is_admin(Channel.MAX, 1)
    for bad in ("max:abc", "vk:5", "12a"):
        monkeypatch.setenv("ADMIN_IDS", f"1 {bad}")
        with pytest.raises(ConfigError) as caught:
            load_settings(_env_file=None)
        assert str(caught.value).startswith(f"переменная окружения ADMIN_IDS: «{bad}» — не номер пользователя")


def _school_toml(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "school.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_overlapping_quarters_are_named_as_people_count_them(tmp_path: Path) -> None:
    path = _school_toml(
        tmp_path, "{ start = 2027-01-12, end = 2027-03-20 }", "{ start = 2026-12-20, end = 2027-03-20 }"
    )
    with pytest.raises(ConfigError) as caught:
        load_school_config(path)
    assert str(caught.value) == (
        f"{path}: раздел [school_year]: 2-я и 3-я четверти пересекаются: 2-я заканчивается 2026-12-28, "
        "3-я начинается 2026-12-20"
    )


def test_a_bad_quarter_is_the_fourth_not_quarters_3(tmp_path: Path) -> None:
    path = _school_toml(
        tmp_path, "{ start = 2027-03-30, end = 2027-05-26 }", "{ start = 2027-06-30, end = 2027-05-26 }"
    )
    with pytest.raises(ConfigError) as caught:
        load_school_config(path)
    message = str(caught.value)
    assert "4-я четверть: начало (2027-06-30) позже конца (2027-05-26)" in message
    assert "quarters.3" not in message and "\n" not in message


def test_quarters_out_of_order_and_unknown_fields_are_explained(tmp_path: Path) -> None:
    path = _school_toml(
        tmp_path,
        "{ start = 2026-11-05, end = 2026-12-28 },\n  { start = 2027-01-12, end = 2027-03-20 },",
        "{ start = 2027-01-12, end = 2027-03-20 },\n  { start = 2026-11-05, end = 2026-12-28 },",
    )
    with pytest.raises(ConfigError, match="3-я четверть начинается раньше, чем 2-я"):
        load_school_config(path)
    path = _school_toml(tmp_path, 'quiet_end = "08:00"', 'quiet_end = "8"\nquiet_hours = 1')
    with pytest.raises(ConfigError) as caught:
        load_school_config(path)
    assert str(caught.value).splitlines() == [
        f"{path}: раздел [hours], поле quiet_end: нужно время вида ЧЧ:ММ, а указано «8»",
        f"{path}: раздел [hours], поле quiet_hours: неизвестное поле (опечатка в названии?)",
    ]
