"""The fake Bot API server, driven by a real aiogram Bot over real HTTP: messages, media, edits,
keyboards, callbacks, replies and commands."""

from __future__ import annotations

import asyncio
import io

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import (
    TelegramBadRequest,
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

pytestmark = pytest.mark.bare_fake

CHAT = 1001


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=f"pick:{label}") for label in labels]]
    )


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()






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
