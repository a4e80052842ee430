"""A handler that raises: the user gets a short apology (a pressed button stops spinning), the log
names the exception type and place but nothing the exception carried, and the next update works."""

from __future__ import annotations

import logging

import pytest
from aiogram.methods import AnswerCallbackQuery, SendMessage

import handlers.start
from storage.people import PersonRepo
from tests.harness import IT_OFFICER, Harness, roster_csv

SECRET = "KOD-SECRET-123"


@pytest.fixture
async def school(harness: Harness) -> Harness:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    await harness.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    return harness


async def test_a_message_handler_that_raises_gets_an_apology_and_the_bot_goes_on(
    school: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError(f"something with {SECRET}")

    monkeypatch.setattr(handlers.start, "main_keyboard", broken)
    with caplog.at_level(logging.INFO):
        calls = await school.text(IT_OFFICER, "/menu")
    sends = [c for c in calls if isinstance(c, SendMessage)]
    assert [c.text for c in sends] == [school.app.catalog.bind("ru")("fallback.error")]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "start.py" in logged
    assert SECRET not in logged

    monkeypatch.undo()
    calls = await school.text(IT_OFFICER, "/menu")
    assert any(isinstance(c, SendMessage) and c.reply_markup is not None for c in calls)


async def test_a_callback_that_raises_is_answered_once_with_an_apology(
    school: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object) -> None:
        raise ValueError(SECRET)

    monkeypatch.setattr(PersonRepo, "set_lang", broken)
    with caplog.at_level(logging.INFO):
        calls = await school.press(IT_OFFICER, "lang:en")
    answers = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].show_alert
    assert answers[0].text == school.app.catalog.bind("ru")("fallback.error")
    assert SECRET not in "\n".join(r.getMessage() for r in caplog.records)
