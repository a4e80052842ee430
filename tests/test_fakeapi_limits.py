"""The fake Bot API server, driven by a real aiogram Bot over real HTTP: long polling and update
delivery, blocked users, refusals, injected faults and rate limits."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.fakeapi import FakeTelegram

pytestmark = pytest.mark.bare_fake

CHAT = 1001





async def test_long_poll_wakes_on_update_and_offset_confirms(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна", "Петрова", username="anna")
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0)  # let the poll reach the server before the update exists
    update_id = await anna.send("/start invite42")
    updates = await asyncio.wait_for(poll, 5)  # returns on arrival, not after the 10 s poll timeout

    [update] = updates
    assert update.update_id == update_id
    assert update.message is not None
    assert update.message.text == "/start invite42"
    assert update.message.from_user is not None
    assert update.message.from_user.username == "anna"
    assert update.message.entities is not None
    assert (update.message.entities[0].type, update.message.entities[0].length) == ("bot_command", 6)

    # Not confirmed yet: delivered again. Confirmed by offset: gone.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update_id]
    second = await anna.send("hello")
    assert [u.update_id for u in await bot.get_updates(offset=update_id + 1, timeout=0)] == [second]
    assert [u.update_id for u in await bot.get_updates(offset=second, limit=1, timeout=0)] == [second]
    assert await bot.get_updates(offset=second + 1, timeout=0) == []


async def test_duplicate_update_is_delivered_again(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна")
    update_id = await anna.send("hi")
    [update] = await bot.get_updates(timeout=0)
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []
    raw = update.model_dump(mode="json", exclude_none=True, by_alias=True)
    assert tg.push_update(raw) == update_id
    [again] = await bot.get_updates(offset=update_id + 1, timeout=0)
    assert again.update_id == update_id
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == []


async def test_forced_429_surfaces_as_retry_after(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "first try")
    assert caught.value.retry_after == 7
    await bot.send_message(CHAT, "second try")
    assert [m.text for m in tg.sent(CHAT)] == ["second try"]
    assert tg.stats.rate_limited["sendMessage"] == 1
    assert [r.status for r in tg.requests] == [429, 200]


async def test_server_errors_and_dropped_connections(bot: Bot, tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", 500)
    with pytest.raises(TelegramServerError):
        await bot.send_message(CHAT, "a")
    tg.fail_next("sendMessage", 0)  # the client sees a network failure; nothing was sent
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "b")
    assert tg.sent() == []

    # "lost": Telegram delivered the message but the reply never came back.
    tg.set_faults(1.0, kinds=("lost",))
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CHAT, "c")
    tg.set_faults(0.0)
    assert [m.text for m in tg.sent()] == ["c"]
    assert tg.stats.total_5xx == 1
    assert tg.stats.dropped["sendMessage"] == 2


async def test_blocked_user_gets_403(bot: Bot, tg: FakeTelegram) -> None:
    tg.block(CHAT)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    [update] = await bot.get_updates(timeout=0)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    tg.unblock(CHAT, notify=False)
    await bot.send_message(CHAT, "hi")


async def test_strict_chats_refuse_unknown_chat() -> None:
    async with FakeTelegram(strict_chats=True) as tg:
        bot = tg.make_bot()
        try:
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.send_message(777, "hi")
            anna = tg.user(501, "Анна")
            with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
                await bot.send_message(anna.id, "hi")
            await anna.send("/start")
            await bot.send_message(anna.id, "hi")
        finally:
            await bot.session.close()


async def test_rate_limit_refuses_second_message_to_same_chat() -> None:
    async with FakeTelegram(rate_limited=True) as tg:
        bot = tg.make_bot()
        try:
            await bot.send_message(CHAT, "one")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(CHAT, "two")
            assert caught.value.retry_after == 1
            await bot.send_message(CHAT + 1, "another chat is fine")
        finally:
            await bot.session.close()
    assert tg.stats.total_429 == 1
    assert tg.stats.accepted_sends == 2


async def test_raw_protocol_errors_json_body_and_form(tg: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.base_url}/bot999:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.post(f"{tg.base_url}/bot{tg.token}/noSuchMethod") as response:
            assert response.status == 404
            assert (await response.json())["description"] == "Not Found"
        async with http.post(
            f"{tg.base_url}/bot{tg.token}/sendMessage",
            json={"chat_id": CHAT, "text": "json", "reply_markup": {"remove_keyboard": True}},
        ) as r:
            assert (await r.json())["result"]["text"] == "json"
        async with http.get(
            f"{tg.base_url}/bot{tg.token}/sendmessage", params={"chat_id": str(CHAT), "text": "123"}
        ) as r:
            assert (await r.json())["result"]["text"] == "123"  # method names are case-insensitive
    assert [m.text for m in tg.sent(CHAT)] == ["json", "123"]
    assert tg.sent(CHAT)[0].reply_markup == {"remove_keyboard": True}


async def test_user_writing_again_unblocks(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна")
    tg.block(anna.id, notify=False)
    await anna.send("/start")
    statuses = [u.my_chat_member.new_chat_member.status for u in await bot.get_updates() if u.my_chat_member]
    assert statuses == ["member"]
    await bot.send_message(anna.id, "welcome back")


async def test_stop_releases_a_waiting_long_poll(bot: Bot, tg: FakeTelegram) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for_request("getUpdates")
    await asyncio.wait_for(tg.stop(), 5)
    assert await asyncio.wait_for(poll, 5) == []


async def test_a_newer_poll_terminates_the_older_with_409(bot: Bot, tg: FakeTelegram) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=30))
    await tg.wait_for_request("getUpdates")
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError):
        await asyncio.wait_for(older, 5)


@pytest.mark.slow
async def test_timeout_fault_outlasts_the_client(bot: Bot, tg: FakeTelegram) -> None:
    tg.timeout_hold = 30.0
    tg.fail_next("sendMessage", 0)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(CHAT, "slow", request_timeout=1)
    assert tg.stats.dropped["sendMessage"] == 1
    assert tg.sent() == []
