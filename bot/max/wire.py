"""How ``MaxSession``'s requests and answers look on the wire: query values, targets, text bodies and
reply links built from aiogram's methods, and MAX's error answers turned into aiogram's exceptions."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import DeleteMyCommands, SetMyCommands, TelegramMethod
from aiogram.types import BotCommandScopeDefault

from bot.max.convert import MidRegistry, UnsupportedOnMax, telegram_html_to_max

CHAT_ACTIONS = {"typing": "typing_on", "upload_photo": "sending_photo", "upload_document": "sending_file"}


def query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def error_for(method: TelegramMethod[Any], status: int, description: str) -> Exception:
    """The aiogram exception for a MAX error answer (429 and attachment.not.ready are retried first)."""
    if status == 401:
        return TelegramUnauthorizedError(method=method, message=description)
    if status == 403:
        return TelegramForbiddenError(method=method, message=description)
    if status >= 500:
        return TelegramServerError(method=method, message=description)
    return TelegramBadRequest(method=method, message=description)


def target(chat_id: int | str) -> dict[str, int]:
    value = int(chat_id)
    return {"user_id": value} if value > 0 else {"chat_id": value}


def resolve(bot: Bot, value: Any) -> Any:
    return bot.default[value.name] if isinstance(value, Default) else value


def text_body(bot: Bot, method: TelegramMethod[Any], text: str | None, parse_mode: Any) -> dict[str, Any]:
    mode = resolve(bot, parse_mode)
    mode = getattr(mode, "value", mode)  # ParseMode.HTML or "HTML"
    body: dict[str, Any] = {}
    if text is not None:
        if mode is None:
            body["text"] = text
        elif str(mode).upper() == "HTML":
            body["text"] = telegram_html_to_max(text)
            body["format"] = "html"
        else:
            raise UnsupportedOnMax(f"{type(method).__name__}: parse_mode {mode!r}; MAX takes HTML or plain text")
    return body


def common(bot: Bot, method: Any, body: dict[str, Any], mids: MidRegistry) -> dict[str, Any]:
    """``body`` with what every send may carry: silence and the reply link (``mids`` maps message ids)."""
    if resolve(bot, getattr(method, "disable_notification", None)):
        body["notify"] = False
    reply_to = getattr(method, "reply_to_message_id", None)
    reply_parameters = resolve(bot, getattr(method, "reply_parameters", None))
    if reply_parameters is not None:
        reply_to = reply_parameters.message_id
    if reply_to is not None:
        mid = mids.get(int(reply_to))
        if mid is not None:
            body["link"] = {"type": "reply", "mid": mid}
    return body


def default_scope(method: SetMyCommands | DeleteMyCommands) -> bool:
    return (method.scope is None or isinstance(method.scope, BotCommandScopeDefault)) and not method.language_code


def bot_link(username: str) -> str:
    """A link that opens the bot ``username`` in MAX (the form MAX gives for a bot's page)."""
    return f"https://max.ru/{username}"
