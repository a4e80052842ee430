"""A fake Telegram Bot API HTTP server for end-to-end tests, benchmarks and the sandbox.

The real bot (aiogram with its real AiohttpSession) long-polls it over HTTP on 127.0.0.1 exactly as it
polls Telegram. Typical use::

    async with FakeTelegram() as tg:
        bot = tg.make_bot()                   # or point Settings at tg.base_url / tg.token
        anna = tg.user(501, "Анна")           # private chat id == user id
        await anna.send("/start")
        reply = await tg.wait_for(anna.id, lambda m: "Привет" in (m.plain or ""))
        await anna.press(reply, "Далее")       # inline button by text or callback_data

Requests are refused the way Telegram refuses them (``bot.fakeapi.rules``, shared with the
handler-level test bot): HTML parse mode with Telegram's tags only and every bare ``<``, ``>``, ``&``
refused; text 1..4096 and captions up to 1024 UTF-16 units after entity parsing; callback_data 1-64
bytes, at most 8 buttons in a row and 100 in an inline keyboard; "message is not modified" for an
identical edit; missing messages to edit, copy or reply to; a callback query answered at most once;
and, with ``rate_limited``, 30 sends/s overall and 1/s per chat for every method that sends (429 with
retry_after). A webhook (setWebhook, HTTPS only unless ``tg.webhooks.allow_http``) gets every update
by POST with ``X-Telegram-Bot-Api-Secret-Token``, again until answered 2xx, and getUpdates answers 409
while it is set (``bot.fakeapi.webhook``). So such bugs fail tests instead of production.
Inspection: ``tg.sent()``, ``tg.requests``, ``tg.stats``,
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
