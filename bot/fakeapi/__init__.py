"""A fake Telegram Bot API HTTP server for end-to-end tests, benchmarks and the sandbox.

The real bot (aiogram with its real AiohttpSession) long-polls it over HTTP on 127.0.0.1 exactly as it
polls Telegram. Typical use::

    async with FakeTelegram() as tg:
        bot = tg.make_bot()                   # or point Settings at tg.base_url / tg.token
        anna = tg.user(501, "Анна")           # private chat id == user id
        await anna.send("/start")
        reply = await tg.wait_for(anna.id, lambda m: "Привет" in (m.plain or ""))
        await anna.press(reply, "Далее")       # inline button by text or callback_data

Replies are validated the way Telegram validates them (HTML parse mode, inline keyboards,
callback_data size, "message is not modified", replies to missing messages), so such bugs fail
tests instead of production. Inspection: ``tg.sent()``, ``tg.requests``, ``tg.stats``,
``tg.commands()``, ``tg.callback_answer()``. Faults: ``tg.fail_next()``, ``tg.set_faults()``,
``tg.block()``, ``FakeTelegram(rate_limited=True, strict_chats=True, latency=...)``.
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
