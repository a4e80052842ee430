"""Last router: whatever nobody else handled gets a clear answer, and no button is ever dead."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.config import SchoolConfig
from bot.domain.people import Person
from bot.i18n import Translator
from bot.tg.policy import public


@public
async def unhandled_message(message: Message, person: Person | None, t: Translator, *, school: SchoolConfig) -> None:
    if person is None:
        await message.answer(t("fallback.unknown_user", contact=escape(school.school.it_officer_contact)))
    elif message.text and message.text.startswith("/"):
        await message.answer(t("fallback.unknown_command"))
    else:
        await message.answer(t("fallback.not_understood"))


@public
async def unhandled_callback(query: CallbackQuery, t: Translator) -> None:
    # Reached by stale buttons and by buttons the caller has no right to press.
    await query.answer(t("fallback.button_unavailable"), show_alert=True)


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unhandled_message)
    router.callback_query.register(unhandled_callback)
    return router
