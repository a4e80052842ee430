"""A Telegram-only school without a [channels] section sends personal data through Telegram; a
municipal school may not (149-FZ art. 10 part 8), so every start says so, in one line, and says
what to do. With a [channels] section (or MAX connected) the policy applies and nothing is said."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from tests.harness import running_bot

WARNING = "Муниципальной школе это запрещено (149-ФЗ, ст. 10, ч. 8)"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and WARNING in r.getMessage()]


async def test_telegram_only_start_warns_once(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        async with running_bot(tg, tmp_path) as app:
            assert app.channels.policy is None
    [line] = _lines(caplog)
    assert "MAX_TOKEN" in line and "[channels]" in line


async def test_a_channels_section_applies_the_policy_silently(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    school = tmp_path / "school.toml"
    school.write_text(
        EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8") + '\n[channels]\ntelegram = ["public"]\n', encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        async with running_bot(tg, tmp_path, school_config=school) as app:
            assert app.channels.policy is not None
    assert _lines(caplog) == []
