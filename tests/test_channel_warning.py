"""Safe by default (issue #22): a school.toml without [channels] is a municipal school's (Telegram
carries public notices only, whether MAX is served or not); wider use of Telegram needs the explicit
statement that the operator is not a state or municipal body; a municipal school asking for more is
refused with a clear message; every start says which rules are in force."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.channels import Channel, DataClass, Operator
from bot.config import EXAMPLE_SCHOOL_CONFIG, ConfigError, load_school_config
from bot.fakeapi import FakeTelegram
from tests.harness import running_bot

RULES = "Правила каналов:"


def _rules(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if RULES in r.getMessage()]


def _without_channels() -> str:
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
    start = text.index("[channels]")
    end = text.index("\n[", start + 1)
    return text[:start] + text[end + 1 :]


async def test_no_channels_section_means_municipal_rules(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    school = tmp_path / "school.toml"
    school.write_text(_without_channels(), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running_bot(tg, tmp_path, school_config=school) as app:
            policy = app.channels.policy
            assert policy is not None and policy.operator is Operator.MUNICIPAL
            assert app.channels.forbids(Channel.TELEGRAM, DataClass.CREDENTIAL)
            assert not app.channels.forbids(Channel.TELEGRAM, DataClass.PUBLIC)
    [line] = _rules(caplog)
    assert "муниципальная школа" in line and "Telegram: общее уведомление;" in line
    assert "MAX: не подключён" in line


async def test_the_private_statement_widens_telegram(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    school = tmp_path / "school.toml"
    school.write_text(_without_channels() + '\n[channels]\noperator = "private"\n', encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running_bot(tg, tmp_path, school_config=school) as app:
            for data_class in DataClass:
                assert not app.channels.forbids(Channel.TELEGRAM, data_class)
    [line] = _rules(caplog)
    assert 'operator = "private"' in line and "учётные данные" in line


def test_a_municipal_school_cannot_open_telegram(tmp_path: Path) -> None:
    school = tmp_path / "school.toml"
    school.write_text(_without_channels() + '\n[channels]\ntelegram = ["public", "credential"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_school_config(school)
    message = str(caught.value)
    assert "[channels] telegram: credential" in message and 'operator = "private"' in message
    school.write_text(_without_channels() + '\n[channels]\noperator = "частная"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_school_config(school)
    assert "[channels] operator: «частная»" in str(caught.value)


def test_the_example_carries_the_section_with_the_safe_choice() -> None:
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
    assert "[channels]" in text and 'operator = "municipal"' in text and "149-ФЗ" in text
    policy = load_school_config(EXAMPLE_SCHOOL_CONFIG).channel_policy
    assert policy.allowed[Channel.TELEGRAM] == frozenset({DataClass.PUBLIC})

