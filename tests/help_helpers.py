"""Helpers for the help-desk tests (FAQ in the bot, tickets, training): a linked small school."""

from __future__ import annotations

from typing import Any

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, TelegramMethod

from bot.app import App
from bot.channels import Channel
from bot.fakeapi import FakeTelegram, FakeUser
from tests.harness import (
    CLASS_TEACHER,
    DIRECTOR,
    IT_OFFICER,
    PARENT_ONE,
    PARENT_TWO,
    TEACHER,
    Harness,
    roster_csv,
)

PHONES = {
    IT_OFFICER: "+79000000001",
    DIRECTOR: "+79000000002",
    CLASS_TEACHER: "+79000000003",
    TEACHER: "+79000000004",
    PARENT_TWO: "+79000000005",
    PARENT_ONE: "+79000000006",
}


async def linked_school(h: Harness, *who: int) -> None:
    """Import the roster and link the given Telegram ids (all adults by default) by contact."""
    report = await h.app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    for user_id in who or tuple(PHONES):
        await h.contact(user_id, PHONES[user_id], user_id)
        assert await h.app.people.by_account(Channel.TELEGRAM, user_id) is not None


def texts(calls: list[TelegramMethod[Any]]) -> list[str]:
    return [c.text or "" for c in calls if isinstance(c, SendMessage | EditMessageText)]


def buttons(call: TelegramMethod[Any]) -> list[tuple[str, str]]:
    markup = getattr(call, "reply_markup", None)
    rows = getattr(markup, "inline_keyboard", None) or []
    return [(b.text, b.callback_data or "") for row in rows for b in row]


def last_with_buttons(calls: list[TelegramMethod[Any]]) -> TelegramMethod[Any]:
    for call in reversed(calls):
        if buttons(call):
            found: TelegramMethod[Any] = call
            return found
    raise AssertionError(f"no inline keyboard in {calls!r}")


def alerts(calls: list[TelegramMethod[Any]]) -> list[str]:
    return [c.text or "" for c in calls if isinstance(c, AnswerCallbackQuery)]


async def link_e2e(tg: FakeTelegram, app: App, user_id: int, first: str, last: str) -> FakeUser:
    """A roster person's Telegram account, linked by sharing its own contact (end to end)."""
    user = tg.user(user_id, first, last, phone=PHONES[user_id])
    await user.share_contact(PHONES[user_id])
    await tg.wait_for(user_id, lambda m: last in (m.plain or ""))
    assert await app.people.by_account(Channel.TELEGRAM, user_id) is not None
    return user


async def import_school(app: App) -> None:
    report = await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())
    assert report.ok, report.errors
