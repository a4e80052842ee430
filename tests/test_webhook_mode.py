"""`schoolbot run` with WEBHOOK_URL: the bot built as `schoolbot run` builds it receives Telegram and
MAX updates by webhook, checks each messenger's secret on every request, registers and checks both
webhooks at start; in polling mode a leftover webhook is reported in one line and deleted. Updates
delivered twice have their effects once, and a MAX start is answered once."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from bot import webhook
from bot.app import build_bots, create_app, serve
from bot.clock import ManualClock
from bot.config import ConfigError, load_settings
from bot.fakeapi import FakeTelegram
from bot.fakeapi.webhook import Webhook
from bot.fakemax import FakeMax
from bot.fakemax.webhooks import Subscription
from bot.tg.startup import StartupError
from scheduler.base import ManualScheduler
from tests.harness import (
    DEFAULT_START,
    PARENT_TWO,
    TEACHER,
    WEBHOOK_SECRET,
    free_port,
    make_settings,
    roster_csv,
    running_bot,
)

ASK = "Чтобы бот узнал вас"
# The welcome, or the policy's pointer where Telegram may not carry it (MAX served).
WELCOME = ("Ваши роли", "Персональные данные")


def welcome(text: str) -> bool:
    return any(part in text for part in WELCOME)



def _derived(channel: str) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), channel.encode(), hashlib.sha256).hexdigest()


async def test_both_messengers_by_webhook_with_their_own_secrets(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    async with running_bot(tg, tmp_path, mx=mx, webhook_port=port):
        base = f"http://127.0.0.1:{port}/hook"
        hook = tg.webhooks.webhook
        assert hook is not None and hook.url == f"{base}/telegram"
        assert list(mx.subscriptions) == [f"{base}/max"]
        # Each messenger has its own secret, neither of them WEBHOOK_SECRET itself.
        assert hook.secret_token == _derived("telegram")
        assert mx.subscriptions[f"{base}/max"].secret == _derived("max")
        assert len({hook.secret_token, _derived("max"), WEBHOOK_SECRET}) == 3
        # Polling is refused/silent while the webhooks are set: what arrives, arrives by POST.
        anna = tg.user(TEACHER, "Игорь", "Морозов")
        await anna.send("/start")
        await tg.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        olga = mx.user(77_001, "Ольга", "Иванова")
        await olga.send("/start")
        await mx.wait_for(olga.id, lambda m: ASK in m.plain)
        await tg.webhooks.wait_delivered()
        await mx.wait_delivered()
        assert tg.webhooks.deliveries and mx.deliveries
        assert not [r for r in tg.requests if r.method == "getUpdates"]
        assert not [r for r in mx.requests if r.operation_id == "getUpdates"]

        # A forged request: no secret, a wrong one, the other messenger's, or the root secret.
        async with aiohttp.ClientSession() as http:
            for path, header in (("telegram", "X-Telegram-Bot-Api-Secret-Token"), ("max", "X-Max-Bot-Api-Secret")):
                other = _derived("max" if path == "telegram" else "telegram")
                for headers in ({}, {header: "wrong-secret-1234567"}, {header: other}, {header: WEBHOOK_SECRET}):
                    headers = {**headers, "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}  # as nginx adds it
                    async with http.post(f"{base}/{path}", json={"update_id": 1}, headers=headers) as resp:
                        assert resp.status == 403
    refused = [r.getMessage() for r in caplog.records if "отклонён запрос к вебхуку" in r.getMessage()]
    assert len(refused) == 8 and all("с 203.0.113.7:" in line for line in refused), refused
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (WEBHOOK_SECRET, _derived("telegram"), _derived("max")):
        assert secret not in logged
    assert any("обновления принимаются вебхуком" in line for line in logged.splitlines())


async def test_a_leftover_webhook_while_polling_is_reported_and_deleted(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Left from webhook mode: MAX would give polling nothing and Telegram would answer 409."""
    old = "http://127.0.0.1:9/old-hook"
    tg.webhooks.allow_http, mx.allow_http_webhooks = True, True
    tg.webhooks.webhook = Webhook(old, "old-secret-12345")
    mx.subscriptions[old] = Subscription(old, 0, "old-secret-12345", None)
    caplog.set_level(logging.INFO)
    async with running_bot(tg, tmp_path, mx=mx):
        leftover = [r.getMessage() for r in caplog.records if "осталась подписка вебхука" in r.getMessage()]
        assert len(leftover) == 2 and all(old in line for line in leftover)
        assert tg.webhooks.webhook is None and mx.subscriptions == {}
        olga = mx.user(77_001, "Ольга", "Иванова")
        await olga.send("/start")
        await mx.wait_for(olga.id, lambda m: ASK in m.plain)
        anna = tg.user(TEACHER, "Игорь", "Морозов")
        await anna.send("/start")
        await tg.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))


async def test_updates_delivered_twice_have_their_effects_once(tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> None:
    """Each platform posts every update twice (its side missed the 200): the contact links once, every
    answer is sent once."""
    async with running_bot(tg, tmp_path, mx=mx, webhook_port=free_port()) as app:
        assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        tg.webhooks.repeat_deliveries = mx.repeat_deliveries = 100
        elena = tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
        await elena.send("/start")
        ask = await tg.wait_for(PARENT_TWO, lambda m: ASK in (m.plain or ""))
        await elena.press_reply(ask, "📱 Поделиться номером телефона")
        await tg.wait_for(PARENT_TWO, lambda m: welcome(m.plain or ""))
        olga = mx.user(77_004, "Игорь", "Морозов", phone="79000000004")
        await olga.send("/start")
        max_ask = await mx.wait_for(olga.id, lambda m: ASK in m.plain)
        await olga.press(max_ask, "📱 Поделиться номером телефона")
        await mx.wait_for(olga.id, lambda m: "Ваши роли" in m.plain)
        # A later update proves the repeats were consumed (one at a time, in order).
        await elena.send("/help")
        await tg.wait_for(PARENT_TWO, lambda m: "/menu" in (m.plain or ""))
        await olga.send("/help")
        await mx.wait_for(olga.id, lambda m: "/menu" in m.plain)
        await tg.webhooks.wait_delivered()
        await mx.wait_delivered()
        assert len([d for d in tg.webhooks.deliveries if d.status == 200]) >= 6
        assert len([d for d in mx.deliveries if d.status == 200]) >= 6
        tg_texts = [m.plain or "" for m in tg.sent(PARENT_TWO)]
        max_texts = [m.plain for m in mx.sent(olga.id)]
        for texts in (tg_texts, max_texts):
            assert len([t for t in texts if ASK in t]) == 1, texts
            assert len([t for t in texts if welcome(t)]) == 1, texts
            assert len([t for t in texts if "/menu" in t and "Вам доступно" in t]) == 1, texts


async def test_a_start_button_and_a_typed_start_from_one_person_answer_once(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx):
        olga = mx.user(77_001, "Ольга", "Иванова")
        await olga.start()
        await olga.send("/start")  # some MAX clients send the command beside bot_started
        await olga.send("/help")
        # Webhook updates are handled side by side: the quick /help may be answered before the greeting
        # (whose handler first clears the conversation, in Redis on the PostgreSQL + Redis pass).
        await mx.wait_for(olga.id, lambda m: ASK in m.plain)
        await mx.wait_for(olga.id, lambda m: "/start" in m.plain and "обратитесь в школу" in m.plain)
        await mx.wait_delivered()
        assert len([m for m in mx.sent(olga.id) if ASK in m.plain]) == 1


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"WEBHOOK_URL": "https://bot.school.example/hook"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "http://bot.school.example/hook", "WEBHOOK_SECRET": WEBHOOK_SECRET}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://bot.school.example/hook", "WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "https://bot.school.example/h", "WEBHOOK_SECRET": "пароль-пароль-пароль"}, "WEBHOOK_SECRET"),
    ],
)
def test_webhook_settings_are_checked_at_start(
    env: dict[str, str], needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert needle in str(caught.value)
    assert WEBHOOK_SECRET not in str(caught.value)


async def test_a_webhook_the_messenger_refuses_stops_the_start_with_one_line(tg: FakeTelegram, tmp_path: Path) -> None:
    """Telegram posts to HTTPS only (the fake is left strict here): the start stops with one line
    naming the address and what to check, and nothing is left running or open."""
    port = free_port()
    settings = make_settings(
        tmp_path, bot_token=tg.token, bot_api_url=tg.base_url, webhook_url=f"http://127.0.0.1:{port}/hook",
        webhook_port=port, webhook_secret=WEBHOOK_SECRET,
    )  # fmt: skip
    app = create_app(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler())
    bot, _ = build_bots(settings)
    with pytest.raises(StartupError) as caught:
        await serve(app, bot, handle_signals=False)
    line = str(caught.value)
    assert line.startswith(f"Telegram не принял вебхук http://127.0.0.1:{port}/hook/telegram") and "HTTPS" in line
    assert "\n" not in line and WEBHOOK_SECRET not in line
    assert not app.db.is_open
    # The port is free again.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_a_port_in_use_stops_the_start_with_one_line(tg: FakeTelegram, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        tg.webhooks.allow_http = True
        settings = make_settings(
            tmp_path, bot_token=tg.token, bot_api_url=tg.base_url, webhook_url=f"http://127.0.0.1:{port}/hook",
            webhook_port=port, webhook_secret=WEBHOOK_SECRET,
        )  # fmt: skip
        app = create_app(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler())
        bot, _ = build_bots(settings)
        with pytest.raises(StartupError) as caught:
            await serve(app, bot, handle_signals=False)
    assert str(caught.value).startswith(f"не удалось открыть 127.0.0.1:{port} для вебхука")
    assert tg.webhooks.webhook is None  # nothing registered for a server that never listened


async def test_a_body_that_cannot_be_read_is_logged_and_not_asked_for_again(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the right secret but no JSON object: one line, and 200 so that MAX does not post it again
    for hours; an update of a kind the bot does not read is skipped the same way."""
    port = free_port()
    async with running_bot(tg, tmp_path, mx=mx, telegram=False, webhook_port=port):
        url = f"http://127.0.0.1:{port}/hook/max"
        headers = {"X-Max-Bot-Api-Secret": _derived("max")}
        async with aiohttp.ClientSession() as http:
            for body in (b"not json", b"[1, 2]", b'{"update_type": "message_created"}'):
                async with http.post(url, data=body, headers=headers) as resp:
                    assert resp.status == 200
        olga = mx.user(77_001, "Ольга", "Иванова")
        await olga.send("/start")
        await mx.wait_for(olga.id, lambda m: ASK in m.plain)
    lines = [r.getMessage() for r in caplog.records if "MAX" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len([line for line in lines if "не прочитан" in line]) == 2, lines
    assert len([line for line in lines if "could not be read" in line]) == 1, lines


async def test_an_update_cut_off_by_a_stop_is_delivered_again_and_answered_once(
    tg: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot stops while a handler still waits on Telegram: past the grace period the request is cut
    off unanswered, so Telegram keeps the update and posts it again to the restarted bot."""
    monkeypatch.setattr(webhook, "SHUTDOWN_GRACE", 0.2)
    port = free_port()
    async with running_bot(tg, tmp_path, webhook_port=port):
        tg.latency = 2.0  # every answer of the Bot API takes 2 s: the handler's reply is in flight
        anna = tg.user(TEACHER, "Игорь", "Морозов")
        await anna.send("/start")
        await tg.wait_for_request("sendMessage", timeout=5.0)
    tg.latency = 0.0
    assert tg.sent(TEACHER) == []  # the reply was cut off with the request
    assert len(tg.pending_updates()) == 1  # unanswered: Telegram still holds it
    async with running_bot(tg, tmp_path, webhook_port=port):
        await tg.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        await tg.webhooks.wait_delivered()
    assert len([m for m in tg.sent(TEACHER) if ASK in (m.plain or "")]) == 1
