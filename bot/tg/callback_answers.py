"""A callback query answered too late is not a failed update (#27).

Telegram accepts one answer per inline-button press, within about 15 seconds; after that, or a second
time, answerCallbackQuery is refused ("query is too old and response timeout expired or query ID is
invalid"). Both happen in normal operation: a worker answers a press and is killed before it has
finished the handler, and the messenger delivers the same update again to another worker, whose
answer is then the second; or a handler waits long for the per-chat pace before answering. The answer
only stops the button's spinner: the handler's real work (the screen, the receipt) must still happen.
So this request middleware of the session turns that one refusal into "answered", with one log line;
every other error of every other method goes through unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger(__name__)

# Telegram's words for a press that can no longer be answered (expired, or answered already).
_TOO_LATE = ("query is too old", "query id is invalid")


class LateCallbackAnswers(BaseRequestMiddleware):
    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if not isinstance(method, AnswerCallbackQuery) or not any(w in exc.message.lower() for w in _TOO_LATE):
                raise
            log.info("a button press answered too late or twice (the update was delivered again): left as answered")
            result: Any = True
            return Response[TelegramType](ok=True, result=result)
