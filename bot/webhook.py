"""Receiving updates by webhook (issue #23): what `schoolbot run` does when WEBHOOK_URL is set.

One aiohttp server listens on WEBHOOK_LISTEN:WEBHOOK_PORT (plain HTTP; the reverse proxy in front of
it holds the certificate) with one route per messenger: WEBHOOK_URL/telegram and WEBHOOK_URL/max.
One process serving many bots (a district, bot/multibot.py) has one route per messenger per bot,
WEBHOOK_URL/telegram/<bot key> and WEBHOOK_URL/max/<bot key>, each with its own secret (derived from
WEBHOOK_SECRET and the bot's key), all feeding one Dispatcher with the Bot that received the update.
- Telegram: aiogram's SimpleRequestHandler; setWebhook with ``secret_token``, which Telegram sends
  back in ``X-Telegram-Bot-Api-Secret-Token``.
- MAX: our handler; the update is converted by the MAX session (bot.max.convert, the same code as
  polling) and fed to the same Dispatcher. The subscription (POST /subscriptions with ``secret``, sent
  back in ``X-Max-Bot-Api-Secret``) is made at every start and checked in GET /subscriptions;
  subscriptions to other addresses are reported and deleted.
Every request is checked for its messenger's secret (a wrong or missing one: 403 and one log line,
the secret never in it). Each messenger gets its own secret, derived from WEBHOOK_SECRET, so
neither platform learns the secret that opens the other's door.

An update is answered 200 only after its handlers ran (not in the background): a request cut off by a
stop or a crash gets no 200, so the platform delivers it again, and the update guard
(bot.tg.middlewares.UpdateGuard) keeps a delivery that already had its effects from having them twice.
Nothing is unsubscribed at stop: while the bot is down both platforms keep the updates and retry
(Telegram for a day, MAX for about 8 hours), so a restart loses nothing.

In polling mode (no WEBHOOK_URL) a subscription left over from webhook mode would silence polling
(MAX returns nothing, Telegram answers 409); ``drop_leftover_webhook`` reports it in one line and deletes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.channels import Channel
from bot.config import Settings, webhook_text
from bot.max import MaxSession, channel_of
from bot.tg.startup import StartupError

log = logging.getLogger(__name__)

TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_HEADER = "X-Max-Bot-Api-Secret"
WIRE_NAMES = {Channel.TELEGRAM: "Telegram", Channel.MAX: "MAX"}
# How long running handlers may finish when the server stops; a request cut off gets no 200 and is
# delivered again after the restart.
SHUTDOWN_GRACE = 5.0


def wire_name(bot: Bot) -> str:
    return WIRE_NAMES[channel_of(bot)]


def wire_secret(settings: Settings, channel: Channel, key: str | None = None) -> str:
    """The secret one messenger sends back: HMAC-SHA256 of the channel's name (and, for one of many
    bots, its key: ``telegram/<key>``) under WEBHOOK_SECRET, in hex (within both platforms' alphabet
    and length). Each bot has its own: one bot's platform never learns the secret of another's door."""
    if settings.webhook_secret is None:
        raise StartupError(webhook_text("no_secret"))
    secret = settings.webhook_secret.get_secret_value().encode()
    name = channel.value if key is None else f"{channel.value}/{key}"
    return hmac.new(secret, name.encode(), hashlib.sha256).hexdigest()


def wire_url(settings: Settings, channel: Channel, key: str | None = None) -> str:
    """WEBHOOK_URL/<messenger>, and /<key> after it for one of many bots (bot/multibot.py)."""
    if not settings.webhook_url:
        raise StartupError(webhook_text("bad_url"))
    return f"{settings.webhook_url}/{channel.value}" + (f"/{key}" if key is not None else "")


@dataclass(frozen=True)
class Hook:
    """One bot the server receives for: ``key`` None for a school's one bot (WEBHOOK_URL/telegram),
    else the bot's key among many (WEBHOOK_URL/telegram/<key>)."""

    bot: Bot
    key: str | None = None

    @property
    def channel(self) -> Channel:
        return channel_of(self.bot)


def peer(request: web.Request) -> str:
    """Who sent a request: behind the reverse proxy on this machine, the client it names."""
    remote = request.remote or "?"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and remote in ("127.0.0.1", "::1"):
        return forwarded.split(",")[0].strip()[:64]
    return remote


def _secret_ok(sent: str | None, expected: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and a header may carry anything.
    return hmac.compare_digest((sent or "").encode("utf-8", "surrogateescape"), expected.encode())


class TelegramWebhook(SimpleRequestHandler):
    """aiogram's handler for one Bot, answering after the handlers ran, logging a refused request."""

    def __init__(self, dp: Dispatcher, bot: Bot, secret: str) -> None:
        super().__init__(dp, bot, handle_in_background=False, secret_token=secret)

    async def handle(self, request: web.Request) -> web.Response:
        if not _secret_ok(request.headers.get(TELEGRAM_HEADER), self.secret_token or ""):
            log.warning(webhook_text("refused", wire="Telegram", peer=peer(request)))
            return web.Response(status=403, text="Forbidden")
        return await super().handle(request)

    async def close(self) -> None:
        """aiogram closes the Bot's session here; the application closes it after its own shutdown,
        which still sends (the outbox drains its last rows)."""


class MaxWebhook:
    """The MAX route: secret checked, the update converted by the MAX session, fed to the Dispatcher."""

    def __init__(self, dp: Dispatcher, bot: Bot, secret: str) -> None:
        if not isinstance(bot.session, MaxSession):
            raise TypeError("MaxWebhook needs a Bot with a MaxSession")
        self.dp, self.bot, self.session, self.secret = dp, bot, bot.session, secret

    async def handle(self, request: web.Request) -> web.Response:
        if not _secret_ok(request.headers.get(MAX_HEADER), self.secret):
            log.warning(webhook_text("refused", wire="MAX", peer=peer(request)))
            return web.Response(status=403, text="Forbidden")
        try:
            raw: Any = await request.json()
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            # Answered 200 all the same: MAX would post a body that cannot be read again for hours.
            log.warning(webhook_text("unreadable", wire="MAX", peer=peer(request), detail=type(exc).__name__))
            return web.json_response({"ok": False})
        update = self.session.convert(raw)
        if update is not None:
            await self.dp.feed_webhook_update(self.bot, update)
        return web.json_response({"ok": True})


@dataclass
class WebhookServer:
    """The listening server and the messengers' registrations; ``run`` serves until ``stop`` is set."""

    dp: Dispatcher
    settings: Settings
    hooks: Sequence[Hook]

    def application(self) -> web.Application:
        app = web.Application()
        for hook in self.hooks:
            path = urlsplit(wire_url(self.settings, hook.channel, hook.key)).path
            secret = wire_secret(self.settings, hook.channel, hook.key)
            if hook.channel is Channel.MAX:
                app.router.add_post(path, MaxWebhook(self.dp, hook.bot, secret).handle)
            else:
                TelegramWebhook(self.dp, hook.bot, secret).register(app, path=path)
        return app

    @property
    def listen(self) -> str:
        return f"{self.settings.webhook_listen}:{self.settings.webhook_port}"

    async def register(self, hook: Hook) -> None:
        """setWebhook (MAX: the subscription) and a check that the messenger now holds it."""
        bot, channel = hook.bot, hook.channel
        name, url = WIRE_NAMES[channel], wire_url(self.settings, channel, hook.key)
        try:
            await bot.set_webhook(
                url, secret_token=wire_secret(self.settings, channel, hook.key), drop_pending_updates=False,
                allowed_updates=self.dp.resolve_used_update_types(),
            )  # fmt: skip
            if isinstance(bot.session, MaxSession):
                urls = await bot.session.subscriptions()
                for other in urls:
                    if other != url:
                        log.warning(webhook_text("leftover_other", wire=name, url=other, ours=url))
                        await bot.session.unsubscribe(other)
                confirmed = url if url in urls else ", ".join(urls)
            else:
                confirmed = (await bot.get_webhook_info()).url
        except TelegramAPIError as exc:
            raise StartupError(webhook_text("register_failed", wire=name, url=url, detail=exc.message)) from None
        if confirmed != url:
            raise StartupError(webhook_text("not_registered", wire=name, url=url, actual=confirmed))
        log.info(webhook_text("listening", wire=name, url=url, listen=self.listen))

    async def run(self, stop: asyncio.Event, *, handle_signals: bool) -> None:
        """Listen, register every messenger, serve until ``stop`` is set (or SIGTERM/SIGINT)."""
        runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.settings.webhook_listen, self.settings.webhook_port)
            try:
                await site.start()
            except OSError as exc:
                raise StartupError(
                    webhook_text("listen_failed", listen=self.listen, detail=exc.strerror or type(exc).__name__)
                ) from None
            for hook in self.hooks:
                await self.register(hook)
            loop = asyncio.get_running_loop()
            signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
            for signum in signals:
                loop.add_signal_handler(signum, stop.set)
            try:
                await stop.wait()
            finally:
                for signum in signals:
                    loop.remove_signal_handler(signum)
        finally:
            # Stops accepting, lets running handlers finish (SHUTDOWN_GRACE), then closes.
            await runner.cleanup()


async def drop_leftover_webhook(bot: Bot) -> None:
    """Polling mode: a webhook left over from webhook mode is reported in one line and deleted
    (while it exists MAX gives polling nothing and Telegram answers getUpdates with 409)."""
    name = wire_name(bot)
    try:
        info = await bot.get_webhook_info()
        if info.url:
            log.warning(webhook_text("leftover", wire=name, url=info.url))
            await bot.delete_webhook(drop_pending_updates=False)
    except TelegramAPIError as exc:
        log.warning(webhook_text("check_failed", wire=name, detail=exc.message))


async def serve_webhooks(
    dp: Dispatcher, settings: Settings, bots: Sequence[Bot | Hook], stop: asyncio.Event, *, handle_signals: bool
) -> None:
    """Startup hooks, the server until ``stop``, shutdown hooks: what start_polling does for polling.
    ``bots``: a school's bots (one route per messenger), or the hooks of many (bot/multibot.py)."""
    hooks = [each if isinstance(each, Hook) else Hook(each) for each in bots]
    every = _distinct([hook.bot for hook in hooks])
    primary = every[0]
    workflow = {"dispatcher": dp, "bots": every, **dp.workflow_data}
    try:
        for bot in every:
            await bot.me()  # MAX's session learns its bot id here, as polling's start does
        await dp.emit_startup(bot=primary, **workflow)
        try:
            await WebhookServer(dp, settings, hooks).run(stop, handle_signals=handle_signals)
        finally:
            await dp.emit_shutdown(bot=primary, **workflow)
    finally:
        for bot in every:
            await bot.session.close()


def _distinct(bots: Sequence[Bot]) -> list[Bot]:
    # By identity: aiogram's Bot compares by token, and every MAX Bot carries the same placeholder.
    seen: dict[int, Bot] = {}
    for bot in bots:
        seen.setdefault(id(bot), bot)
    return list(seen.values())
