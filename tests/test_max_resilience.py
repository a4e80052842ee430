"""The MAX session rides out what the platform does under load, and the fake MAX is as strict as MAX.

Waits go through the session's injectable ``sleep``; here it moves the fake's clock, so a 20-second
wait costs nothing and its length is measured exactly.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramServerError
from aiogram.types import BotCommand, BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from PIL import Image

from bot.fakemax import FakeMax
from bot.fakemax.refusals import RateBucket
from bot.max import make_max_bot
from bot.max.limited import build_limited_max_bot
from bot.tg.limiter import SendLimiter


class FakeTime:
    """The fake MAX's clock and the session's sleep in one: sleeping moves the clock."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def mx(clock: FakeTime) -> AsyncIterator[FakeMax]:
    async with FakeMax(now=clock.now) as server:
        server.user(7201, "Ольга")
        yield server
    assert server.response_violations == [] and server.internal_errors == []


@pytest.fixture
async def bot(mx: FakeMax, clock: FakeTime) -> AsyncIterator[Bot]:
    bot = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id, sleep=clock.sleep)
    yield bot
    await bot.session.close()


def _not_ready(mx: FakeMax) -> int:
    codes = [r.response.get("code") for r in mx.requests if isinstance(r.response, dict)]
    return codes.count("attachment.not.ready")


async def test_a_fresh_upload_is_waited_out_with_backoff(bot: Bot, mx: FakeMax, clock: FakeTime) -> None:
    mx.upload_processing = 12.0  # MAX takes 12 s to process the picture
    await bot.send_photo(7201, BufferedInputFile(_png(), "card.png"), caption="Карточка")
    [photo] = mx.sent(7201)
    assert photo.files() and photo.plain == "Карточка"
    assert 12.0 <= sum(clock.slept) <= 20.0
    assert clock.slept[:4] == [0.5, 1.0, 2.0, 4.0]  # doubling, not a hammering loop
    assert _not_ready(mx) == len(clock.slept)


async def test_an_upload_never_ready_gives_up_after_about_twenty_seconds(
    bot: Bot, mx: FakeMax, clock: FakeTime
) -> None:
    mx.upload_processing = 600.0
    with pytest.raises(TelegramBadRequest, match="attachment.not.ready"):
        await bot.send_document(7201, BufferedInputFile(b"x;y\n", "report.csv"))
    assert sum(clock.slept) == pytest.approx(20.0)
    assert mx.sent(7201) == []


async def test_server_errors_are_retried_with_backoff(bot: Bot, mx: FakeMax, clock: FakeTime) -> None:
    mx.fail_next = [503, 502]
    await bot.send_message(7201, "Напоминание")
    assert [m.plain for m in mx.sent(7201)] == ["Напоминание"]
    assert clock.slept == [1.0, 2.0]
    mx.fail_next = [500, 503, 502, 504]  # more than max_retries (3): the error reaches the caller
    with pytest.raises(TelegramServerError, match="MAX 504"):
        await bot.send_message(7201, "Ещё")
    assert len(mx.sent(7201)) == 1


async def test_network_errors_are_retried_where_a_repeat_cannot_duplicate(
    bot: Bot, mx: FakeMax, clock: FakeTime
) -> None:
    mx.fail_next = [0, 0]  # the connection drops twice: a GET is safe to repeat
    me = await bot.get_me()
    # (aiohttp itself repeats an idempotent request once on a reused connection, so not every drop
    # costs a pause of the session.)
    assert me.id == mx.bot_id and mx.fail_next == [] and clock.slept[:1] == [1.0]
    # A send whose connection dropped may have reached MAX: repeating it could deliver it twice, so
    # the session reports it and leaves the retry to the outbox.
    mx.fail_next = [0]
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(7201, "Один раз")
    assert sum(1 for r in mx.requests if r.path == "/messages" and r.method == "POST") == 1


async def test_the_token_travels_in_the_header_only(bot: Bot, mx: FakeMax) -> None:
    await bot.send_message(7201, "Привет")
    assert all("access_token" not in r.query for r in mx.requests)
    async with aiohttp.ClientSession() as raw:
        url = f"{mx.base_url}/me"
        async with raw.get(url, params={"access_token": mx.token}) as resp:
            assert resp.status == 401
        async with raw.get(url, params={"access_token": mx.token}, headers={"Authorization": mx.token}) as resp:
            assert resp.status == 401 and (await resp.json())["code"] == "verify.token"
        async with raw.get(url, headers={"Authorization": mx.token}) as resp:
            assert resp.status == 200


async def test_the_fake_refuses_a_file_beside_another_attachment_and_text_over_4000_as_sent(mx: FakeMax) -> None:
    picture = mx.store_file(_png(), "a.png", "image")
    document = mx.store_file(b"data", "a.csv", "file")
    headers = {"Authorization": mx.token}
    url = f"{mx.base_url}/messages"
    both = [
        {"type": "image", "payload": {"token": picture.token}},
        {"type": "file", "payload": {"token": document.token}},
    ]
    button = {"type": "callback", "text": "OK", "payload": "ok"}
    keyboard = {"type": "inline_keyboard", "payload": {"buttons": [[button]]}}
    async with aiohttp.ClientSession() as raw:
        async with raw.post(url, params={"user_id": 7201}, json={"attachments": both}, headers=headers) as resp:
            assert resp.status == 400 and "only attachment" in (await resp.json())["message"]
        alone = {"attachments": [both[1], keyboard]}  # a file with its buttons is fine
        async with raw.post(url, params={"user_id": 7201}, json=alone, headers=headers) as resp:
            assert resp.status == 200
        # 3 994 characters the user sees, 4 001 as sent: MAX counts what is sent.
        marked = {"text": "<b>" + "я" * 3993 + "</b>\n", "format": "html"}
        assert len(marked["text"]) == 4001
        async with raw.post(url, params={"user_id": 7201}, json=marked, headers=headers) as resp:
            assert resp.status == 400
    assert len(mx.sent(7201)) == 1


def _keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=f"k:{label}")] for label in labels]
    )


async def test_an_edit_of_the_buttons_keeps_the_picture_or_file(bot: Bot, mx: FakeMax) -> None:
    # The fake, as MAX, replaces attachments on an edit: sending `attachments: []` (or the keyboard
    # alone) would delete the card. Telegram keeps it; so must the MAX wire.
    card = await bot.send_photo(7201, BufferedInputFile(_png(), "card.png"), caption="Код", reply_markup=_keyboard("A"))
    report = await bot.send_document(7201, BufferedInputFile(b"a;b\n", "r.csv"), reply_markup=_keyboard("B"))
    photo_message, file_message = mx.sent(7201)
    token = photo_message.files()[0]["payload"]["token"]
    await bot.edit_message_reply_markup(chat_id=7201, message_id=card.message_id, reply_markup=_keyboard("C", "D"))
    assert photo_message.buttons() == ["C", "D"] and [f["payload"]["token"] for f in photo_message.files()] == [token]
    await bot.edit_message_reply_markup(chat_id=7201, message_id=card.message_id, reply_markup=None)
    assert photo_message.buttons() == [] and len(photo_message.files()) == 1
    await bot.edit_message_text("Код выдан", chat_id=7201, message_id=card.message_id)
    assert photo_message.plain == "Код выдан" and len(photo_message.files()) == 1
    await bot.edit_message_reply_markup(chat_id=7201, message_id=report.message_id, reply_markup=None)
    assert file_message.buttons() == [] and file_message.files()[0]["filename"] == "r.csv"
    edits = [r.body for r in mx.requests if r.method == "PUT"]
    assert edits and all(body["attachments"] for body in edits)  # never an empty list on a media message


async def test_an_edit_of_a_message_a_user_pressed_keeps_its_picture(bot: Bot, mx: FakeMax) -> None:
    """The media of a message is learnt from MAX's own copy too (a callback carries it)."""
    await bot.send_photo(7201, BufferedInputFile(_png(), "card.png"), reply_markup=_keyboard("Готово"))
    [card] = mx.sent(7201)
    fresh = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id)  # knows nothing of the card yet
    try:
        await mx.user(7201, "Ольга").press(card, "Готово")
        [update] = await fresh.get_updates(timeout=0)
        assert update.callback_query is not None and update.callback_query.message is not None
        await fresh.edit_message_reply_markup(
            chat_id=7201, message_id=update.callback_query.message.message_id, reply_markup=None
        )
    finally:
        await fresh.session.close()
    assert card.buttons() == [] and len(card.files()) == 1


async def test_the_fake_deletes_attachments_on_an_empty_edit(mx: FakeMax) -> None:
    picture = mx.store_file(_png(), "a.png", "image")
    headers = {"Authorization": mx.token}
    async with aiohttp.ClientSession() as raw:
        body = {"text": "Карточка", "attachments": [{"type": "image", "payload": {"token": picture.token}}]}
        async with raw.post(f"{mx.base_url}/messages", params={"user_id": 7201}, json=body, headers=headers) as resp:
            mid = (await resp.json())["message"]["body"]["mid"]
        async with raw.put(
            f"{mx.base_url}/messages", params={"message_id": mid}, json={"attachments": []}, headers=headers
        ) as resp:
            assert resp.status == 200
    [message] = mx.sent(7201)
    assert message.files() == [] and message.plain == "Карточка"


async def test_every_max_request_takes_a_slot_of_the_limiter(mx: FakeMax) -> None:
    """MAX counts all requests toward 30 per second; here the fake allows 5 and the limiter 4."""
    mx._bucket = RateBucket(5.0, time.monotonic)
    bot = build_limited_max_bot(mx.token, mx.base_url, SendLimiter(rate=4.0, burst=4.0))
    try:
        commands = [BotCommand(command="start", description="Начать")]
        await asyncio.gather(*(bot.set_my_commands(commands) for _ in range(8)))
    finally:
        await bot.session.close()
    assert mx.stats.by_operation["editMyCommands"] == 8
    assert mx.stats.refused_rate == 0  # paced before MAX, not refused and retried


async def test_a_long_file_name_is_cut_to_what_max_takes_keeping_its_extension(bot: Bot, mx: FakeMax) -> None:
    name = "Реестр согласий " + "5А класс " * 40 + ".xlsx"
    assert len(name) > 200
    await bot.send_document(7201, BufferedInputFile(b"PK", name))
    [message] = mx.sent(7201)
    sent_name = message.files()[0]["filename"]
    assert len(sent_name) == 200 and sent_name.endswith(".xlsx") and sent_name.startswith("Реестр согласий")


async def test_a_failed_upload_is_tried_again_on_a_fresh_url(bot: Bot, mx: FakeMax, clock: FakeTime) -> None:
    mx.fail_uploads = [503, 0]  # the upload server answers 503, then drops the connection
    await bot.send_photo(7201, BufferedInputFile(_png(), "card.png"))
    [photo] = mx.sent(7201)
    assert photo.files() and clock.slept == [1.0, 2.0]
    assert mx.stats.by_operation["getUploadUrl"] == 3
    mx.fail_uploads = [400]  # a refusal is not a hiccup: reported at once
    with pytest.raises(TelegramBadRequest, match="upload refused: 400"):
        await bot.send_document(7201, BufferedInputFile(b"x", "a.csv"))


async def test_the_fake_counts_text_in_utf16_units_as_max_does(mx: FakeMax) -> None:
    headers = {"Authorization": mx.token}
    async with aiohttp.ClientSession() as raw:
        for text, status in (("😀" * 2000, 200), ("😀" * 2000 + "!", 400)):
            body = {"text": text}
            async with raw.post(f"{mx.base_url}/messages", params={"user_id": 7201}, json=body, headers=headers) as r:
                assert r.status == status
    assert len(mx.sent(7201)) == 1
