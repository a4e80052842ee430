"""Shared setup for the consent tests: the harness school, linked, with helpers to read calls."""

from __future__ import annotations

from typing import Any

from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod

from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness, roster_csv

PHONES = {
    IT_OFFICER: "+79000000001",
    CLASS_TEACHER: "+79000000003",
    PARENT_TWO: "+79000000005",
    PARENT_ONE: "+79000000006",
}


async def school(h: Harness, *who: int) -> None:
    report = await h.app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    for user in who or tuple(PHONES):
        await h.contact(user, PHONES[user], user)


def texts(calls: list[TelegramMethod[Any]]) -> list[str]:
    return [str(getattr(c, "text", "") or "") for c in calls if hasattr(c, "text")]


def buttons(call: TelegramMethod[Any]) -> dict[str, str]:
    """Inline button text -> callback data of a sent/edited message."""
    markup = getattr(call, "reply_markup", None)
    if markup is None or not hasattr(markup, "inline_keyboard"):
        return {}
    return {b.text: b.callback_data for row in markup.inline_keyboard for b in row if b.callback_data}


def last_with_buttons(calls: list[TelegramMethod[Any]]) -> TelegramMethod[Any]:
    return [c for c in calls if buttons(c)][-1]


def sent(calls: list[TelegramMethod[Any]]) -> list[SendMessage]:
    return [c for c in calls if isinstance(c, SendMessage)]


def answer(calls: list[TelegramMethod[Any]]) -> AnswerCallbackQuery:
    return next(c for c in calls if isinstance(c, AnswerCallbackQuery))


async def consent_menu(h: Harness, user: int) -> dict[str, str]:
    """/consent, then open every child's document (the agree buttons appear only after that):
    the buttons of the menu that follows."""
    keys = buttons(last_with_buttons(await h.text(user, "/consent")))
    for label, data in keys.items():
        if label.startswith("📄"):
            keys = buttons(last_with_buttons(await h.press(user, data)))
    return keys
