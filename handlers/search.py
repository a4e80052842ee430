"""Free-text FAQ search: the last router before the fallback.

Text from a linked user that no command, menu button or capability state handler took is a
question: show the top three FAQ answers as buttons plus "none of these — ask the IT officer"
(which asks with the searched text, kept in the FSM data under a short key named by the button).
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.domain.people import Person
from bot.i18n import Catalog, Translator
from bot.services.tickets import TicketsService
from bot.tg.filters import HasContent, IsLinked
from bot.tg.menu import menu_entry_of
from handlers.faq import by_entries, remember_query, results_screen


class NotMenuOrCommand(Filter):
    """Commands and main-menu labels are not questions (the fallback answers those)."""

    async def __call__(self, message: Message, catalog: Catalog) -> bool:
        text = message.text or ""
        if text.startswith("/"):
            return False
        return menu_entry_of(text, catalog) is None


@by_entries
async def free_text(
    message: Message, person: Person, t: Translator, state: FSMContext, *, tickets: TicketsService,
) -> None:
    assert message.text is not None
    key = await remember_query(state, message.text)
    text, markup = await results_screen(person, t, message.text, key, tickets=tickets)
    await message.answer(text, reply_markup=markup)


def build_router() -> Router:
    router = Router(name="search")
    router.message.register(free_text, StateFilter(None), IsLinked(), HasContent("text"), NotMenuOrCommand())
    return router
