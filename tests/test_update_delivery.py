"""How updates reach the bot, below the application: the fakes as strict as the platforms (a webhook
silences polling, MAX without a marker gives only the newest update, deliveries by POST with the
secret, retried until accepted), the MAX polling marker kept in the database across a restart, and a
MAX start answered once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import GetUpdates
from aiohttp import web

from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.max import MaxSession, make_max_bot
from bot.max.convert import START_WINDOW_MS, Converter, MidRegistry
from storage.cursors import UpdateCursorRepo
from storage.db import Database


def _max_bot(mx: FakeMax) -> Bot:
    return make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id)


def _session(bot: Bot) -> MaxSession:
    assert isinstance(bot.session, MaxSession)
    return bot.session


async def _poll(bot: Bot) -> list[str]:
    """One poll; the texts of the messages it brought."""
    updates = await bot(GetUpdates(timeout=0))
    return [u.message.text or "" for u in updates if u.message is not None]


class Receiver:
    """A webhook endpoint on 127.0.0.1 answering with the statuses queued in ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answers: list[int] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        self.bodies.append(await request.json())
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


# -- MAX: marker, polling silenced, deliveries -------------------------------------------------------


async def test_max_without_a_marker_gives_only_the_newest_update(mx: FakeMax) -> None:
    olga = mx.user(7001, "Ольга")
    for text in ("первое", "второе", "третье"):
        await olga.send(text)
    bot = _max_bot(mx)
    try:
        assert await _poll(bot) == ["третье"]
    finally:
        await bot.session.close()


async def test_the_marker_is_kept_in_the_database_and_resumed_after_a_restart(mx: FakeMax, tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    olga = mx.user(7001, "Ольга")
    try:
        first = _max_bot(mx)
        _session(first).marker_store = UpdateCursorRepo(db, "max")
        await olga.send("до остановки")
        assert await _poll(first) == ["до остановки"]
        assert await _poll(first) == []  # passes the marker on, saved before
        await first.session.close()
        saved = await UpdateCursorRepo(db, "max").load()
        assert saved is not None

        # Pressed while the bot was down: a new process resumes from the saved marker, all of it.
        for text in ("пока бот стоял 1", "пока бот стоял 2", "пока бот стоял 3"):
            await olga.send(text)
        second = _max_bot(mx)
        _session(second).marker_store = UpdateCursorRepo(db, "max")
        assert await _poll(second) == ["пока бот стоял 1", "пока бот стоял 2", "пока бот стоял 3"]
        await second.session.close()

        # Without the store (the marker in memory, as before): only the newest survives a restart.
        for text in ("снова 1", "снова 2"):
            await olga.send(text)
        forgetful = _max_bot(mx)
        assert await _poll(forgetful) == ["снова 2"]
        await forgetful.session.close()
    finally:
        await db.close()


async def test_a_max_subscription_silences_polling_and_posts_with_the_secret(mx: FakeMax) -> None:
    mx.allow_http_webhooks = True
    bot = _max_bot(mx)
    try:
        async with Receiver() as hook:
            await bot.set_webhook(hook.url, secret_token="max-secret-12345")
            assert (await bot.get_webhook_info()).url == hook.url
            assert [s["url"] for s in (await _list_subscriptions(mx))] == [hook.url]
            hook.answers = [500, 503]  # refused twice: delivered again until accepted
            olga = mx.user(7001, "Ольга")
            await olga.send("через вебхук")
            await mx.wait_delivered()
            assert await _poll(bot) == []  # polling gets nothing while the subscription is active
            assert [b["message"]["body"]["text"] for b in hook.bodies] == ["через вебхук"] * 3
            assert {h.get("X-Max-Bot-Api-Secret") for h in hook.headers} == {"max-secret-12345"}
            assert [d.status for d in mx.deliveries] == [500, 503, 200]

            await bot.delete_webhook()
            assert await _list_subscriptions(mx) == []
            await olga.send("опросом")
            assert await _poll(bot) == ["опросом"]
    finally:
        await bot.session.close()


async def _list_subscriptions(mx: FakeMax) -> list[dict[str, Any]]:
    subs = await mx._get_subscriptions({}, None)
    return list(subs["subscriptions"])


async def test_max_refuses_a_webhook_that_is_not_https(mx: FakeMax) -> None:
    bot = _max_bot(mx)
    try:
        with pytest.raises(Exception, match="HTTPS"):
            await bot.set_webhook("http://example.org/hook", secret_token="max-secret-12345")
        assert await _list_subscriptions(mx) == []
    finally:
        await bot.session.close()


# -- Telegram ------------------------------------------------------------------------------------------


async def test_telegram_refuses_polling_while_a_webhook_is_set_and_posts_with_the_secret(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.webhooks.allow_http = True
    async with Receiver() as hook:
        await bot.set_webhook(hook.url, secret_token="tg-secret-12345")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        hook.answers = [502]
        anna = tg.user(501, "Анна")
        await anna.send("через вебхук")
        await tg.webhooks.wait_delivered()
        assert [b["message"]["text"] for b in hook.bodies] == ["через вебхук"] * 2
        assert {h.get("X-Telegram-Bot-Api-Secret-Token") for h in hook.headers} == {"tg-secret-12345"}
        info = await bot.get_webhook_info()
        assert info.url == hook.url and info.pending_update_count == 0
        await bot.delete_webhook()
        await anna.send("опросом")
        updates = await bot.get_updates(timeout=0)
        assert [u.message.text for u in updates if u.message] == ["опросом"]


async def test_telegram_refuses_a_webhook_that_is_not_https(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(Exception, match="HTTPS"):
        await bot.set_webhook("http://example.org/hook")
    assert (await bot.get_webhook_info()).url == ""


# -- a MAX start answered once ----------------------------------------------------------------------


def _started(user_id: int, ts: int, payload: str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "update_type": "bot_started", "timestamp": ts, "chat_id": 5_000_000_000 + user_id,
        "user": {"user_id": user_id, "first_name": "Ольга", "is_bot": False, "last_activity_time": ts},
    }  # fmt: skip
    if payload is not None:
        update["payload"] = payload
    return update


def _typed(user_id: int, ts: int, text: str, mid: str) -> dict[str, Any]:
    user = {"user_id": user_id, "first_name": "Ольга", "is_bot": False, "last_activity_time": ts}
    return {
        "update_type": "message_created", "timestamp": ts,
        "message": {
            "sender": user, "recipient": {"chat_id": 5_000_000_000 + user_id, "chat_type": "dialog"},
            "timestamp": ts, "body": {"mid": mid, "seq": ts, "text": text},
        },
    }  # fmt: skip


def test_a_start_button_and_a_typed_start_run_start_once() -> None:
    converter = Converter(MidRegistry())
    t = 1_760_000_000_000
    assert converter.update(_started(7001, t)) is not None
    assert converter.update(_typed(7001, t + 800, "/start", "m1")) is None  # the same start, typed too
    # Other people, and later starts, are answered.
    assert converter.update(_typed(7002, t + 900, "/start", "m2")) is not None
    assert converter.update(_typed(7001, t + START_WINDOW_MS + 1000, "/start", "m3")) is not None
    # The other order: typed first, then the button.
    assert converter.update(_started(7002, t + 1500)) is None
    # A start that carries a deep link the first one lacked is never dropped (it links the account).
    assert converter.update(_started(7003, t)) is not None
    link = converter.update(_typed(7003, t + 500, "/start tok123", "m4"))
    assert link is not None and link.message is not None and link.message.text == "/start tok123"
    # Typing /start twice is two starts (a person may mean it); the same update twice is the guard's.
    assert converter.update(_typed(7004, t, "/start", "m5")) is not None
    assert converter.update(_typed(7004, t + 100, "/start", "m6")) is not None


async def test_the_fake_delivers_in_order_after_the_bot_comes_back(mx: FakeMax) -> None:
    """Nobody listening (the bot is down): deliveries fail and are retried; once an endpoint answers,
    every update arrives, in order, once."""
    mx.allow_http_webhooks = True
    async with Receiver() as hook:
        url = hook.url
    bot = _max_bot(mx)
    try:
        await bot.set_webhook(url, secret_token="max-secret-12345")
        olga = mx.user(7001, "Ольга")
        for text in ("раз", "два"):
            await olga.send(text)
        await mx.wait_attempts(2)
        assert [d.status for d in mx.deliveries[:2]] == [None, None]  # refused connection, retried
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        back = Receiver()
        app = web.Application()
        app.router.add_post("/hook", back._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await mx.wait_delivered()
            assert [b["message"]["body"]["text"] for b in back.bodies] == ["раз", "два"]
        finally:
            await runner.cleanup()
    finally:
        await bot.session.close()
