"""The MAX session end to end: aiogram's Dispatcher polls the fake MAX Bot API through MaxSession.

Every request the session makes is checked by the fake against the official schema (a refusal would
fail the test), and every answer of the fake is checked too (``response_violations`` stays empty).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.methods import SendMediaGroup
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.text_decorations import html_decoration as html
from PIL import Image

from bot.channels import Channel
from bot.fakemax import FakeMax
from bot.max import UnsupportedOnMax, channel_of, make_max_bot


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"Старт: <b>{command.args or '-'}</b>")

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Далее", callback_data="step:2")]])
        await message.answer("<b>Меню</b> &amp; выбор", reply_markup=keyboard)

    @router.callback_query(F.data == "step:2")
    async def step(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Шаг <i>2</i>")
        await query.answer("Готово")

    @router.message(Command("phone"))
    async def phone(message: Message) -> None:
        keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="📱 Мой номер", request_contact=True)]])
        await message.answer("Поделитесь номером", reply_markup=keyboard)

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        own = message.contact.user_id == message.from_user.id
        await message.answer(f"{'свой' if own else 'чужой'} {message.contact.phone_number}")

    @router.message(Command("files"))
    async def files(message: Message, bot: Bot) -> None:
        await message.answer_photo(BufferedInputFile(_png(), "card.png"), caption="Карточка <b>QR</b>")
        await message.answer_document(BufferedInputFile(b"a;b\n1;2\n", "report.csv"), caption="Отчёт")

    @router.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        assert message.document is not None
        data = await bot.download(message.document)
        assert data is not None
        digest = hashlib.sha256(data.read()).hexdigest()[:12]
        await message.answer(f"{message.document.file_name} {digest}")
        # The same file goes back out by its MAX file id, without downloading it again.
        await message.answer_document(message.document.file_id, caption="Копия")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"Эхо: {html.quote(message.text or '')}")

    return router



@pytest.fixture
async def max_bot(mx: FakeMax) -> AsyncIterator[Bot]:
    bot = make_max_bot(
        mx.token,
        mx.base_url,
        bot_id=mx.bot_id,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        retry_delay=0.02,
        not_ready_delay=0.01,
    )
    yield bot
    await bot.session.close()


@pytest.fixture
async def polling(mx: FakeMax, max_bot: Bot) -> AsyncIterator[Dispatcher]:
    dp = Dispatcher()
    dp.include_router(_router())
    task = asyncio.create_task(dp.start_polling(max_bot, handle_signals=False, polling_timeout=5))
    yield dp
    await dp.stop_polling()
    await task


def _refused(mx: FakeMax) -> list[str]:
    return [f"{r.method} {r.path} {r.status} {r.response}" for r in mx.requests if r.status not in (200, None)]


async def test_the_bot_speaks_max_and_says_so(max_bot: Bot, mx: FakeMax) -> None:
    assert channel_of(max_bot) is Channel.MAX
    me = await max_bot.get_me()
    assert (me.id, me.is_bot, me.username) == (mx.bot_id, True, mx.bot_username)
    assert max_bot.id == mx.bot_id


async def test_start_with_a_deep_link_payload(polling: Dispatcher, mx: FakeMax) -> None:
    olga = mx.user(7001, "Ольга", "Петрова")
    await olga.start("link-AbC_12")
    reply = await mx.wait_for(olga.id)
    assert reply.text == "Старт: <b>link-AbC_12</b>" and reply.format == "html"
    assert reply.plain == "Старт: link-AbC_12"
    await olga.start()
    assert (await mx.wait_for(olga.id, after=1)).plain == "Старт: -"
    assert _refused(mx) == []


async def test_text_keyboard_callback_answer_and_edit(polling: Dispatcher, mx: FakeMax) -> None:
    ivan = mx.user(7002, "Иван")
    await ivan.send("/menu")
    menu = await mx.wait_for(ivan.id)
    assert menu.plain == "Меню & выбор"
    assert menu.keyboard() == [[{"type": "callback", "text": "Далее", "payload": "step:2"}]]
    await ivan.press(menu, "Далее")
    await mx.wait_for(ivan.id, lambda m: m.plain == "Шаг 2")
    assert menu.keyboard() == []  # an edit without reply_markup drops the keyboard, as on Telegram
    assert await mx.wait_callback_answers(1) == [{"notification": "Готово"}]
    await ivan.send("привет <script>")
    echo = await mx.wait_for(ivan.id, lambda m: m.plain.startswith("Эхо"))
    assert echo.plain == "Эхо: привет <script>"
    assert _refused(mx) == []


async def test_photo_and_document_go_through_max_uploads(polling: Dispatcher, mx: FakeMax) -> None:
    mx.not_ready_sends = 1  # MAX still processes the first upload: the session waits and retries
    anna = mx.user(7003, "Анна")
    await anna.send("/files")
    photo = await mx.wait_for(anna.id, lambda m: any(a["type"] == "image" for a in m.attachments))
    assert photo.plain == "Карточка QR"
    token = photo.files()[0]["payload"]["token"]
    assert mx.file(token).data == _png()
    document = await mx.wait_for(anna.id, lambda m: any(a["type"] == "file" for a in m.attachments))
    assert document.files()[0]["filename"] == "report.csv"
    assert mx.file(document.files()[0]["payload"]["token"]).data == b"a;b\n1;2\n"
    assert [r.query.get("type") for r in mx.requests if r.operation_id == "getUploadUrl"] == ["image", "file"]
    assert any(r.response and r.response.get("code") == "attachment.not.ready" for r in mx.requests)


async def test_a_file_the_user_sends_is_downloaded_and_sent_back(polling: Dispatcher, mx: FakeMax) -> None:
    boris = mx.user(7004, "Борис")
    data = "ФИО;Класс\nИванов;5А\n".encode("cp1251")
    await boris.send_file(data, "roster.csv")
    reply = await mx.wait_for(boris.id, lambda m: m.plain.startswith("roster.csv"))
    assert reply.plain == f"roster.csv {hashlib.sha256(data).hexdigest()[:12]}"
    copy = await mx.wait_for(boris.id, lambda m: m.plain == "Копия")
    assert mx.file(copy.files()[0]["payload"]["token"]).data == data


async def test_contact_is_the_senders_own_only_when_max_says_so(polling: Dispatcher, mx: FakeMax) -> None:
    vera = mx.user(7005, "Вера", phone="79001112233")
    other = mx.user(7006, "Глеб")
    await vera.send("/phone")
    ask = await mx.wait_for(vera.id)
    assert ask.keyboard() == [[{"type": "request_contact", "text": "📱 Мой номер"}]]
    await vera.press(ask, "📱 Мой номер")  # the request_contact button sends her own card
    assert (await mx.wait_for(vera.id, after=1)).plain == "свой 79001112233"
    # A card of someone else's number (the other person is on MAX): no user id, refused as not own.
    await vera.share_contact("79005556677", own=False, max_user=other.as_user())
    assert (await mx.wait_for(vera.id, after=2)).plain == "чужой 79005556677"
    # A number not on MAX at all.
    await vera.share_contact("79009998877", own=False, max_user=None)
    assert (await mx.wait_for(vera.id, after=3)).plain == "чужой 79009998877"


async def test_commands_and_unsupported_methods(max_bot: Bot, mx: FakeMax) -> None:
    await max_bot.set_my_commands(
        [BotCommand(command="start", description="Начать"), BotCommand(command="help", description="Помощь")]
    )
    assert mx.commands == [{"name": "start", "description": "Начать"}, {"name": "help", "description": "Помощь"}]
    with pytest.raises(UnsupportedOnMax, match="SendMediaGroup"):
        await max_bot(SendMediaGroup(chat_id=1, media=[InputMediaPhoto(media="x")]))


async def test_rate_limit_429_is_retried_then_reported(mx: FakeMax) -> None:
    mx.rate = 5.0
    mx._bucket.rate = 5.0
    mx.user(7007, "Дина")
    bot = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id, retry_delay=0.25)
    try:
        await asyncio.gather(*(bot.send_message(7007, f"№{i}") for i in range(12)))
        assert len(mx.sent(7007)) == 12
        assert mx.stats.refused_rate > 0  # the fake refused some with 429; the session waited and retried
    finally:
        await bot.session.close()
    impatient = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id, max_retries=0)
    try:
        results = await asyncio.gather(
            *(impatient.send_message(7007, "ещё") for _ in range(12)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, TelegramRetryAfter)]
        assert refused and all(r.retry_after >= 1 for r in refused)
        assert all(isinstance(r, Message | TelegramRetryAfter) for r in results)
    finally:
        await impatient.session.close()


async def test_errors_map_to_aiogram_exceptions(max_bot: Bot, mx: FakeMax) -> None:
    gleb = mx.user(7008, "Глеб")
    gleb.stop_bot()
    with pytest.raises(TelegramForbiddenError):
        await max_bot.send_message(gleb.id, "Привет")
    with pytest.raises(TelegramBadRequest, match="not known on MAX"):
        await max_bot.edit_message_text("x", chat_id=gleb.id, message_id=123)
