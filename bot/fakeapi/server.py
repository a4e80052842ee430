"""The fake Telegram Bot API server: the ``FakeTelegram`` tests, benchmarks and the sandbox use.

The pieces: ``state`` (the bot, users, chats, messages, update queue, files and records),
``routes`` (the aiohttp app and dispatch through the method table in ``methods``), ``faults``
(forced errors, storms, held and dropped requests, latency) and the methods by concern:
``messages``, ``media``, ``callbacks``, ``updates``, ``profile``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from bot.fakeapi.callbacks import query_id
from bot.fakeapi.faults import Faults
from bot.fakeapi.methods import canonical
from bot.fakeapi.models import SEND_METHODS, RecordedRequest, SentMessage, StoredFile
from bot.fakeapi.profile import scope_key
from bot.fakeapi.routes import MAX_UPLOAD, Routes
from bot.fakeapi.state import FakeState
from bot.fakeapi.user import FakeUser
from bot.fakeapi.webhook import WebhookDelivery

if TYPE_CHECKING:
    from aiogram import Bot


class FakeTelegram(FakeState, Faults):
    """An in-process Telegram Bot API HTTP server for tests, benchmarks and the sandbox.

    Constructed with FakeState's options (token, rate limits, latency, strict chats, clocks); faults
    are injected with ``fail_next`` and ``set_faults`` (Faults).
    """

    base_url = ""  # set by start()
    _runner: web.AppRunner | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # setWebhook, and the POSTs to the webhook it sets (bot.fakeapi.webhook).
        self.webhooks = WebhookDelivery(self)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns the base URL, e.g. ``http://127.0.0.1:38211``."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        app = Routes(self, self).application()
        # access_log=None: the access log would print the bot token, which never reaches logs.
        # handler_cancellation: a client that hangs up (a stopped poller) must not keep a long poll
        # alive on the server, where it would hold updates and delay shutdown.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self.closing = asyncio.Event()
        bound_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        self.webhooks.start()
        return self.base_url

    async def stop(self) -> None:
        """Stop serving. Long polls and held requests return at once; recorded state stays."""
        if self._runner is None:
            return
        self.closing.set()
        self.updates.notify()
        await self.webhooks.stop()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def make_bot(self) -> Bot:
        """A real aiogram Bot (real AiohttpSession) talking to this server. Close its session."""
        # Imported here, not at the top: the fake server itself speaks HTTP only and does not
        # depend on the client library; only this convenience builds a client.
        from aiogram import Bot
        from aiogram.client.default import DefaultBotProperties
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        if not self.base_url:
            raise RuntimeError("start() the server before making a bot")
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(self.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))

    # -- users ----------------------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "ru",
        *,
        phone: str | None = None,
    ) -> FakeUser:
        """Create (or replace) a user; the private chat id equals ``user_id``."""
        user = FakeUser(self, user_id, first_name, last_name, username, language_code, phone)
        self.add_user(user)
        return user

    def callback_answer(self, update_id: int) -> dict[str, Any] | None:
        """The bot's answerCallbackQuery for the press that produced ``update_id`` (None if none yet)."""
        return self.callback_answers.get(query_id(self, update_id))

    async def wait_callback_answer(
        self,
        update_id: int,
        *,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait until the bot answers the callback query of ``update_id``; AssertionError on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while (answer := self.callback_answer(update_id)) is None:
                    await self.messages_changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"the bot did not answer the callback query of update {update_id} within {timeout}s"
            ) from None
        return answer

    # -- inspection -----------------------------------------------------------------------------

    def file(self, file_id: str) -> StoredFile:
        return self.files[file_id]

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands set with setMyCommands for ``scope`` (default scope when None)."""
        return list(self.my_commands.get(scope_key(scope, language_code), []))

    async def wait_for(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> SentMessage:
        """The first message to ``chat_id`` with index >= ``after`` (in ``sent(chat_id)``) that matches
        ``predicate``; messages edited later are re-checked. AssertionError with a dump on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self.messages_changed
            for message in self.sent(chat_id)[after:]:
                if predicate is None or predicate(message):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._dump(chat_id, after, timeout, predicate))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_request(
        self,
        method: str,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> RecordedRequest:
        """The first recorded call of ``method`` with index >= ``after`` in ``requests`` (it may still be
        in flight, e.g. a long poll), waiting for it to arrive; AssertionError on timeout."""
        name = canonical(method)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self.requests_changed
                    for record in self.requests[after:]:
                        if record.method == name:
                            return record
                    await changed.wait()
        except TimeoutError:
            seen = [r.method for r in self.requests[after:]]
            raise AssertionError(f"no {name} call within {timeout}s; calls seen: {seen}") from None

    def _dump(self, chat_id: int, after: int, timeout: float, predicate: Callable[[SentMessage], bool] | None) -> str:
        messages = self.sent(chat_id)
        what = "any message" if predicate is None else f"a message matching {getattr(predicate, '__name__', predicate)}"
        lines = [
            f"timed out after {timeout}s waiting for {what} to chat {chat_id} at index >= {after}; "
            f"the chat got {len(messages)} message(s):"
        ]
        lines += [f"  [{i}] {m.describe()}" for i, m in enumerate(messages)] or ["  (none)"]
        failures = [r for r in self.requests if r.params.get("chat_id") == chat_id and r.status not in (200, None)]
        if failures:
            lines.append("failed calls for this chat:")
            lines += [f"  {r.method} -> {r.status} {r.params!r}" for r in failures[-10:]]
        return "\n".join(lines)


__all__ = ["MAX_UPLOAD", "SEND_METHODS", "FakeTelegram"]
