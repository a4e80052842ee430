"""The fake Bot API server, driven by a real aiogram Bot over real HTTP."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyParameters,
)
from PIL import Image

from bot.fakeapi import FakeTelegram, SentMessage

CHAT = 1001


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=f"pick:{label}") for label in labels]]
    )


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    # A bare Bot without the bot's send limiter: the rate limits are tested on their own.
    async with FakeTelegram(rate_limited=False) as fake:
        yield fake
    assert fake.internal_errors == []


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    bot = tg.make_bot()
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_get_me(bot: Bot, tg: FakeTelegram) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (tg.bot_id, "schoolbot_test_bot", True)
    assert me.id == bot.id
    assert tg.requests[0].method == "getMe"
    assert tg.requests[0].status == 200


async def test_send_message_with_inline_keyboard(bot: Bot, tg: FakeTelegram) -> None:
    message = await bot.send_message(
        CHAT, "Hello, <b>Anna</b> &amp; co", reply_markup=keyboard("Yes", "No"), protect_content=True
    )
    assert message.text == "Hello, Anna & co"
    assert message.entities is not None
    assert message.entities[0].type == "bold"
    assert (message.entities[0].offset, message.entities[0].length) == (7, 4)
    assert message.from_user is not None
    assert message.from_user.id == tg.bot_id
    assert message.chat.type == "private"
    assert message.reply_markup is not None
    assert message.reply_markup.model_dump() == keyboard("Yes", "No").model_dump()

    [sent] = tg.sent(CHAT)
    assert sent.method == "sendMessage"
    assert sent.message_id == message.message_id
    assert sent.text == "Hello, <b>Anna</b> &amp; co"
    assert sent.plain == "Hello, Anna & co"
    assert sent.parse_mode == "HTML"
    assert sent.protect_content is True
    assert sent.buttons() == [["Yes", "No"]]
    assert sent.callback_data("No") == "pick:No"
    assert tg.stats.accepted["sendMessage"] == 1


async def test_html_that_telegram_cannot_parse_is_refused(bot: Bot, tg: FakeTelegram) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(CHAT, "line<br>line")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(CHAT, "1 < 2 <b>bold")
    assert tg.sent() == []
    assert tg.stats.client_errors["sendMessage"] == 2


async def test_oversized_callback_data_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="a" * 65)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "hi", reply_markup=markup)


async def test_photo_upload_reads_back_identical(bot: Bot, tg: FakeTelegram) -> None:
    image = png(300, 200)
    message = await bot.send_photo(CHAT, BufferedInputFile(image, "card.png"), caption="Your <i>card</i>")
    assert message.photo is not None
    largest = message.photo[-1]
    assert (largest.width, largest.height, largest.file_size) == (300, 200, len(image))
    assert message.caption == "Your card"

    [sent] = tg.sent(CHAT)
    assert (sent.method, sent.file, sent.text) == ("sendPhoto", image, "Your <i>card</i>")

    file = await bot.get_file(largest.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == image


async def test_photo_must_be_an_image(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(CHAT, BufferedInputFile(b"not an image", "x.png"))


async def test_document_upload_and_resend_by_file_id(bot: Bot, tg: FakeTelegram) -> None:
    data = "class,name\n5A,Анна\n".encode()
    first = await bot.send_document(CHAT, BufferedInputFile(data, "roster.csv"), caption="Roster")
    assert first.document is not None
    assert (first.document.file_name, first.document.mime_type, first.document.file_size) == (
        "roster.csv",
        "text/csv",
        len(data),
    )
    again = await bot.send_document(CHAT + 1, first.document.file_id)
    assert again.document is not None
    assert again.document.file_id == first.document.file_id

    [sent] = tg.sent(CHAT)
    assert (sent.filename, sent.file, sent.caption) == ("roster.csv", data, "Roster")
    assert tg.sent(CHAT + 1)[0].file == data
    assert tg.requests[-1].params["document"] == first.document.file_id

    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(CHAT, first.document.file_id)
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(CHAT, "no-such-file-id")


async def test_edits_are_applied_and_recorded(bot: Bot, tg: FakeTelegram) -> None:
    message = await bot.send_message(CHAT, "Pick one", reply_markup=keyboard("A", "B"))
    edited = await bot.edit_message_text(
        "Picked <b>A</b>", chat_id=CHAT, message_id=message.message_id, reply_markup=keyboard("Undo")
    )
    assert isinstance(edited, Message)
    assert edited.text == "Picked A"
    assert edited.edit_date is not None

    sent = tg.sent(CHAT)[0]
    assert (sent.plain, sent.buttons(), len(sent.edits)) == ("Picked A", [["Undo"]], 1)

    # Telegram refuses a no-op edit; bots must not rely on it succeeding.
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=message.message_id, reply_markup=keyboard("Undo"))
    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=message.message_id, reply_markup=None)
    assert sent.buttons() == []
    assert [e.method for e in sent.edits] == ["editMessageText", "editMessageReplyMarkup"]

    assert await bot.delete_message(CHAT, message.message_id) is True
    assert sent.deleted
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("again", chat_id=CHAT, message_id=message.message_id)


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


async def test_callback_query_press_and_answer(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна")
    await bot.send_message(anna.id, "Confirm?", reply_markup=keyboard("Yes", "No"))
    [sent] = anna.inbox()

    with pytest.raises(LookupError, match=r"no inline button 'Maybe'.*\['Yes', 'No'\]"):
        await anna.press(sent, "Maybe")

    update_id = await anna.press(sent, "Yes")
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None
    assert query.data == "pick:Yes"
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert query.from_user.id == anna.id

    assert await bot.answer_callback_query(query.id, text="Done") is True
    assert tg.callback_answer(update_id) == {"text": "Done"}
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_reply_keyboard_contact_and_forged_contact(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна", phone="+79001234567")
    markup = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Share phone", request_contact=True)], [KeyboardButton(text="Cancel")]]
    )
    await bot.send_message(anna.id, "Your phone?", reply_markup=markup)
    [sent] = anna.inbox()
    assert sent.reply_buttons() == [["Share phone"], ["Cancel"]]

    await anna.press_reply(sent, "Share phone")
    await anna.press_reply(sent, "Cancel")
    await anna.share_contact("+79990000000", user_id=None)
    updates = await bot.get_updates(timeout=0)
    contacts = [u.message.contact for u in updates if u.message and u.message.contact]
    assert [(c.phone_number, c.user_id) for c in contacts] == [("+79001234567", anna.id), ("+79990000000", None)]
    assert any(u.message and u.message.text == "Cancel" for u in updates)


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


async def test_download_document_a_user_sent(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна")
    data = b"login,class\nanna,5A\n"
    await anna.send_document(data, "roster.csv", caption="here")
    await anna.send_photo(png(64, 48))
    updates = await bot.get_updates(timeout=0)
    document = updates[0].message.document if updates[0].message else None
    assert document is not None
    assert document.file_name == "roster.csv"
    assert document.mime_type == "text/csv"
    downloaded = await bot.download(document)
    assert downloaded is not None
    assert downloaded.read() == data

    photo = updates[1].message.photo if updates[1].message else None
    assert photo is not None
    assert (photo[-1].width, photo[-1].height) == (64, 48)


async def test_commands_are_recorded_per_scope(bot: Bot, tg: FakeTelegram) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    staff_scope = BotCommandScopeChat(chat_id=42)
    await bot.set_my_commands(
        [BotCommand(command="start", description="Start"), BotCommand(command="report", description="Report")],
        scope=staff_scope,
    )
    assert [c.command for c in await bot.get_my_commands(scope=staff_scope)] == ["start", "report"]
    assert [c["command"] for c in tg.commands()] == ["start"]
    assert [c["command"] for c in tg.commands({"type": "chat", "chat_id": 42})] == ["start", "report"]
    await bot.delete_my_commands(scope=staff_scope)
    assert tg.commands({"type": "chat", "chat_id": 42}) == []


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


async def test_wait_for_times_out_with_a_readable_dump(bot: Bot, tg: FakeTelegram) -> None:
    await bot.send_message(CHAT, "Hello", reply_markup=keyboard("A"))
    with pytest.raises(AssertionError) as caught:
        await tg.wait_for(CHAT, lambda m: m.text == "Bye", timeout=0.05)
    assert "'Hello'" in str(caught.value)
    assert "buttons=[['A']]" in str(caught.value)
    assert (await tg.wait_for(CHAT, after=0)).text == "Hello"


async def test_replies_both_ways(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна")
    await anna.send("question")
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None
    answer = await bot.send_message(
        anna.id, "answer", reply_parameters=ReplyParameters(message_id=update.message.message_id)
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "question"
    assert answer.message_id == update.message.message_id + 1  # one numbering per private chat
    [sent] = anna.inbox()
    assert sent.reply_to_message_id == update.message.message_id

    await anna.send("thanks", reply_to=sent)
    [thanks] = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert thanks.message is not None
    assert thanks.message.reply_to_message is not None
    assert thanks.message.reply_to_message.text == "answer"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(anna.id, "x", reply_parameters=ReplyParameters(message_id=999))


async def test_user_writing_again_unblocks(bot: Bot, tg: FakeTelegram) -> None:
    anna = tg.user(501, "Анна")
    tg.block(anna.id, notify=False)
    await anna.send("/start")
    statuses = [u.my_chat_member.new_chat_member.status for u in await bot.get_updates() if u.my_chat_member]
    assert statuses == ["member"]
    await bot.send_message(anna.id, "welcome back")


async def test_dispatcher_polls_and_answers_start(tg: FakeTelegram) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        name = message.from_user.first_name if message.from_user else ""
        await message.answer(f"Привет, <b>{name}</b>!", reply_markup=keyboard("Go"))

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("Going")
        if isinstance(query.message, Message):
            await query.message.edit_text("Gone")

    dp = Dispatcher()
    dp.include_router(router)
    bot = tg.make_bot()
    anna = tg.user(501, "Анна")
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        await anna.send("/start")
        reply: SentMessage = await tg.wait_for(anna.id, lambda m: m.plain == "Привет, Анна!")
        assert reply.parse_mode == "HTML"
        update_id = await anna.press(reply, "Go")
        assert (await tg.wait_callback_answer(update_id))["text"] == "Going"
        await tg.wait_for(anna.id, lambda m: m.plain == "Gone")
        assert reply.buttons() == []  # edit_text without reply_markup drops the inline keyboard
    finally:
        await dp.stop_polling()
        await polling
    assert tg.stats.accepted["getUpdates"] >= 1


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
