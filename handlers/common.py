"""Small helpers shared by handlers: the message a button was pressed on, inline buttons, and
refreshing a person's menu and command list."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.domain.people import Person
from bot.i18n import LANGUAGES, Catalog, Translator
from bot.tg.menu import commands_for

log = logging.getLogger(__name__)


def message_of(query: CallbackQuery) -> Message | None:
    """The message a button was pressed on, when the bot can still use it (not an inaccessible one)."""
    return query.message if isinstance(query.message, Message) else None


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def keyboard(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def set_default_commands(bot: Bot, catalog: Catalog) -> None:
    """The command list of people the bot does not know yet, in each language we speak. Raises
    TelegramAPIError: the caller (start-up) reports it once and retries in the background."""
    for lang in LANGUAGES:
        t = catalog.bind(lang)
        await bot.set_my_commands(
            commands_for(None, t), scope=BotCommandScopeDefault(), language_code=None if lang == "ru" else lang
        )


async def set_commands(bot: Bot, chat_id: int, person: Person | None, t: Translator) -> None:
    try:
        await bot.set_my_commands(commands_for(person, t), scope=BotCommandScopeChat(chat_id=chat_id))
    except TelegramAPIError as exc:
        # The command list is a convenience; failing to set it must not break linking.
        log.warning("set_my_commands failed for a chat: %s", exc)
