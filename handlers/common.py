"""Small helpers shared by handlers: refreshing a person's menu and command list."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommandScopeChat

from bot.i18n import Translator
from bot.menu import commands_for
from storage.people import Person

log = logging.getLogger(__name__)


async def set_commands(bot: Bot, chat_id: int, person: Person | None, t: Translator) -> None:
    try:
        await bot.set_my_commands(commands_for(person, t), scope=BotCommandScopeChat(chat_id=chat_id))
    except TelegramAPIError as exc:
        # The command list is a convenience; failing to set it must not break linking.
        log.warning("set_my_commands failed for a chat: %s", exc)
