"""A Bot whose session records every API call in order and answers it like Telegram would.

Modelled on aiogram's own tests/mocked_bot.py: mocking happens at the session layer, so aiogram's
real request building and response validation still run. Unlike aiogram's, answers are produced
for the known methods instead of being queued by hand; a method the bot is not expected to call
fails the test (UnexpectedCall). Explicitly queued responses (FIFO) take precedence.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import UNSET_PARSE_MODE, Chat, File, Message, PhotoSize, User

from bot.fakeapi import ApiError
from bot.fakeapi.rules import check_caption, check_markup, check_text
from bot.tg.wire_text import WireText

BOT_ID = 42
BOT_USERNAME = "schoolbot_test_bot"


class UnexpectedCall(AssertionError):
    pass


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        # As build_bot sets up the Telegram session: the wire fits texts to Telegram's limits.
        self.middleware(WireText())
        self.calls: list[TelegramMethod[Any]] = []
        self.queued: deque[Response[Any]] = deque()
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1000)

    def add_result(self, response: Response[Any]) -> None:
        self.queued.append(response)

    def _message(self, method: TelegramMethod[Any], **extra: Any) -> Message:
        chat_id = int(getattr(method, "chat_id", 0) or 0)
        return Message(
            message_id=int(getattr(method, "message_id", 0) or next(self._ids)),
            date=int(time.time()),
            chat=Chat(id=chat_id, type="private"),
            from_user=User(id=BOT_ID, is_bot=True, first_name="SchoolBot", username=BOT_USERNAME),
            **extra,
        )

    def _answer(self, method: TelegramMethod[Any]) -> Any:
        name = type(method).__name__
        if name in {"SendMessage", "EditMessageText"}:
            return self._message(method, text=getattr(method, "text", ""))
        if name in {"EditMessageReplyMarkup", "EditMessageCaption"}:
            return self._message(method, text="")
        if name == "SendPhoto":
            return self._message(
                method,
                caption=getattr(method, "caption", None),
                photo=[PhotoSize(file_id="photo-1", file_unique_id="u-photo-1", width=100, height=100)],
            )
        if name == "SendDocument":
            from aiogram.types import Document

            return self._message(
                method,
                caption=getattr(method, "caption", None),
                document=Document(file_id="doc-1", file_unique_id="u-doc-1"),
            )
        if name in {
            "AnswerCallbackQuery", "SetMyCommands", "DeleteMessage", "SendChatAction", "DeleteWebhook",
            "SetChatMenuButton",
        }:
            return True
        if name == "GetMe":
            return User(id=BOT_ID, is_bot=True, first_name="SchoolBot", username=BOT_USERNAME)
        if name == "GetFile":
            file_id = method.file_id  # type: ignore[attr-defined]
            return File(file_id=file_id, file_unique_id=f"u-{file_id}", file_path=f"documents/{file_id}")
        raise UnexpectedCall(f"unexpected Bot API call {name}: {method!r}")

    def _enforce(self, bot: Bot, method: TelegramMethod[TelegramType]) -> None:
        """Refuse what Telegram refuses, with the rules the fake Bot API server applies."""
        name = type(method).__name__
        fields = json.loads(self.prepare_value(method.model_dump(warnings=False), bot=bot, files={}))
        parse_mode = fields.get("parse_mode")
        if name in {"SendMessage", "EditMessageText"}:
            check_text(fields.get("text"), parse_mode)
        if name in {"SendPhoto", "SendDocument", "EditMessageCaption"}:
            check_caption(fields.get("caption"), parse_mode)
        markup = fields.get("reply_markup")
        check_markup(json.loads(markup) if isinstance(markup, str) else markup)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.calls.append(method)
        try:
            self._enforce(bot, method)
        except ApiError as error:
            self.check_response(bot, method, error.status, json.dumps(error.payload()))
        if self.queued:
            response = self.queued.popleft()
        else:
            response = Response[method.__returning__](ok=True, result=self._answer(method))  # type: ignore[name-defined]
        return self.check_response(bot, method, 200, response.model_dump_json()).result  # type: ignore[return-value]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        file_id = url.rsplit("/", 1)[-1]
        if file_id not in self.files:
            raise UnexpectedCall(f"download of an unknown file {file_id}")
        yield self.files[file_id]

    async def close(self) -> None:
        return None


class MockedBot(Bot):
    session: RecordingSession

    def __init__(self) -> None:
        super().__init__(
            "42:TEST",
            session=RecordingSession(),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        self._me = User(id=BOT_ID, is_bot=True, first_name="SchoolBot", username=BOT_USERNAME)

    @property
    def calls(self) -> list[TelegramMethod[Any]]:
        return self.session.calls


__all__ = ["BOT_ID", "BOT_USERNAME", "UNSET_PARSE_MODE", "MockedBot", "RecordingSession", "UnexpectedCall"]
