"""Free-text FAQ search: the last router before the fallback.

Text from a linked user that no command, menu button or capability state handler took is a
question: show the top three FAQ answers as buttons plus "none of these — ask the IT officer"
(which asks with the searched text, kept in the FSM data under a short key named by the button).
"""

from __future__ import annotations

import secrets
from typing import Any

from aiogram import F, Router
from aiogram.filters import Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.app import App
from bot.filters import IsLinked
from bot.i18n import LANGUAGES, Catalog, Translator
from bot.menu import MENU
from bot.services.tickets import audiences_of, faq_for
from handlers.faq import FaqNav, button_text
from storage.people import Person

QUERIES_KEY = "help_queries"
KEEP_QUERIES = 5
MAX_QUERY = 500


class AskQuery(CallbackData, prefix="tkq"):
    """ "None of these — ask the IT officer": `key` names the searched text in the FSM data."""

    key: str


class NotMenuOrCommand(Filter):
    """Commands and main-menu labels are not questions (the fallback answers those)."""

    async def __call__(self, message: Message, catalog: Catalog) -> bool:
        text = message.text or ""
        if text.startswith("/"):
            return False
        return not any(text == catalog.text(lang, f"menu.{e.id}") for e in MENU for lang in LANGUAGES)


async def remember_query(state: FSMContext, text: str) -> str:
    """Keep the last few searched texts so "none of these" can ask with them; returns the key."""
    data = await state.get_data()
    saved: dict[str, Any] = dict(data.get(QUERIES_KEY) or {})
    key = secrets.token_hex(4)
    saved[key] = text[:MAX_QUERY]
    while len(saved) > KEEP_QUERIES:
        saved.pop(next(iter(saved)))
    await state.update_data({QUERIES_KEY: saved})
    return key


async def recall_query(state: FSMContext, key: str) -> str | None:
    data = await state.get_data()
    value = (data.get(QUERIES_KEY) or {}).get(key)
    return str(value) if value else None


async def free_text(message: Message, app: App, person: Person, t: Translator, state: FSMContext) -> None:
    assert message.text is not None
    faq = await faq_for(app, t.lang)
    found = faq.search(message.text, audiences_of(person), limit=3)
    key = await remember_query(state, message.text)
    rows = [
        [InlineKeyboardButton(text=button_text(e.question), callback_data=FaqNav(v="e", e=e.id).pack())] for e in found
    ]
    ask_label = t("help.search.none_of_these") if found else t("help.search.ask")
    rows.append([InlineKeyboardButton(text=ask_label, callback_data=AskQuery(key=key).pack())])
    text = t("help.search.found") if found else t("help.search.nothing")
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


def build_router() -> Router:
    router = Router(name="search")
    router.message.register(free_text, StateFilter(None), F.text, IsLinked(), NotMenuOrCommand())
    return router
