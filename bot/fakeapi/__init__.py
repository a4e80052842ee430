"""A fake Telegram Bot API HTTP server for end-to-end tests, benchmarks and the sandbox.

The real bot (aiogram with its real AiohttpSession) long-polls it over HTTP on 127.0.0.1 exactly as it
polls Telegram; see ``FakeTelegram``.
"""

from bot.fakeapi.errors import ApiError
from bot.fakeapi.markup import parse_html
from bot.fakeapi.models import Edit, RecordedRequest, SentMessage, Stats, StoredFile
from bot.fakeapi.server import FakeTelegram
from bot.fakeapi.user import FakeUser

__all__ = [
    "ApiError",
    "Edit",
    "FakeTelegram",
    "FakeUser",
    "RecordedRequest",
    "SentMessage",
    "Stats",
    "StoredFile",
    "parse_html",
]
