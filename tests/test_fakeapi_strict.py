"""The fake Bot API refuses what Telegram refuses: one test per rule, over real HTTP with a real Bot.

The same rules (bot/fakeapi/rules.py) also run in the handler-level bot of tests/mocked_bot.py, so
every test of the suite is held to them.
"""

from __future__ import annotations

import io

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from PIL import Image

from bot.fakeapi import FakeTelegram

pytestmark = pytest.mark.bare_fake

CHAT = 1001


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def buttons(*rows: int, data: str = "x") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=f"b{n}", callback_data=data) for n in range(k)] for k in rows]
    )


class Clock:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value




# --- HTML parse mode ---------------------------------------------------------------------------------


async def test_allowed_tags_become_entities(bot: Bot) -> None:
    text = (
        '<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>'
        '<span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler><a href="https://example.org/?a=1&amp;b=2">a</a>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><code>c</code>'
        '<pre><code class="language-python">x = 1</code></pre><blockquote>q</blockquote>'
        "<blockquote expandable>long</blockquote> &lt;&gt;&amp;&quot;&#1071;&#x42F;"
    )
    message = await bot.send_message(CHAT, text)
    assert message.text is not None and message.text.endswith(' <>&"ЯЯ')
    kinds = [e.type for e in message.entities or []]
    assert kinds == [
        "bold", "bold", "italic", "italic", "underline", "underline", "strikethrough", "strikethrough",
        "strikethrough", "spoiler", "spoiler", "text_link", "custom_emoji", "code", "pre", "blockquote",
        "expandable_blockquote",
    ]
    pre = next(e for e in message.entities or [] if e.type == "pre")
    assert pre.language == "python"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("line<br>line", 'Unsupported start tag "br" at byte offset 4'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("<tg-emoji>x</tg-emoji>", "Custom emoji entity must contain a valid custom emoji identifier"),
    ],
)
async def test_unknown_tags_are_refused(bot: Bot, tg: FakeTelegram, text: str, detail: str) -> None:
    with pytest.raises(TelegramBadRequest, match=f"can't parse entities: {detail}"):
        await bot.send_message(CHAT, text)
    assert tg.sent() == []


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", 'Unexpected end tag "b" at byte offset 1'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
async def test_unclosed_and_misnested_tags_are_refused(bot: Bot, text: str, detail: str) -> None:
    with pytest.raises(TelegramBadRequest, match=f"can't parse entities: {detail}"):
        await bot.send_message(CHAT, text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("Смирнов <Саша>", 'Unsupported start tag "Саша"|Unsupported start tag ""'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("2 > 1", 'Character ">" at byte offset 2 must be written as "&gt;"'),
        ("Смирнов & Ко", 'Character "&" at byte offset 15 must be written as "&amp;"'),
        ("a&nbsp;b", 'Unsupported HTML entity "&nbsp;"'),
    ],
)
async def test_bare_lt_gt_amp_and_unsupported_entities_are_refused(bot: Bot, text: str, detail: str) -> None:
    with pytest.raises(TelegramBadRequest, match=f"can't parse entities: ({detail})"):
        await bot.send_message(CHAT, text)
    # The same text escaped goes through and reads as written.
    from html import escape

    message = await bot.send_message(CHAT, escape(text, quote=False))
    assert message.text == text


async def test_captions_are_parsed_too(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_photo(CHAT, BufferedInputFile(png(), "p.png"), caption="Иванов <Миша>")


# --- lengths -----------------------------------------------------------------------------------------


async def test_text_length_is_utf16_units_after_entity_parsing(bot: Bot) -> None:
    # Markup does not count: 4096 visible characters inside tags go through.
    await bot.send_message(CHAT, "<b>" + "я" * 4096 + "</b>")
    await bot.send_message(CHAT, "&amp;" * 4096)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "я" * 4097)
    # An emoji outside the BMP is two UTF-16 units: 2049 of them are 4098 units.
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "😀" * 2049)


async def test_empty_text_is_refused(bot: Bot, tg: FakeTelegram) -> None:
    for text in ("", "   \n", "<b></b>", "<b> </b>"):
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(CHAT, text)
    assert tg.sent() == []


async def test_caption_is_at_most_1024_units_after_parsing(bot: Bot) -> None:
    photo = BufferedInputFile(png(), "p.png")
    await bot.send_photo(CHAT, photo, caption="<i>" + "ж" * 1024 + "</i>")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(CHAT, photo, caption="ж" * 1025)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(CHAT, BufferedInputFile(b"data", "d.txt"), caption="😀" * 513)


# --- keyboards ---------------------------------------------------------------------------------------


async def test_callback_data_is_1_to_64_bytes(bot: Bot) -> None:
    await bot.send_message(CHAT, "ok", reply_markup=buttons(1, data="ж" * 32))  # 64 bytes
    for data in ("", "ж" * 33, "a" * 65):
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(CHAT, "no", reply_markup=buttons(1, data=data))


async def test_inline_keyboard_limits(bot: Bot) -> None:
    await bot.send_message(CHAT, "ok", reply_markup=buttons(*[8] * 12, 4))  # 8 per row, 100 in all
    with pytest.raises(TelegramBadRequest, match="BUTTONS_TOO_MUCH"):
        await bot.send_message(CHAT, "no", reply_markup=buttons(9))
    with pytest.raises(TelegramBadRequest, match="REPLY_MARKUP_TOO_LONG"):
        await bot.send_message(CHAT, "no", reply_markup=buttons(*[8] * 12, 5))
    empty = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=" ", callback_data="x")]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_TEXT_INVALID"):
        await bot.send_message(CHAT, "no", reply_markup=empty)
    no_action = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x")]])
    with pytest.raises(TelegramBadRequest, match="text buttons are unallowed"):
        await bot.send_message(CHAT, "no", reply_markup=no_action)


async def test_reply_keyboard_must_be_sane(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="keyboard button text is empty"):
        await bot.send_message(CHAT, "no", reply_markup=ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="")]]))
    with pytest.raises(TelegramBadRequest, match="keyboard must be non-empty"):
        await bot.send_message(CHAT, "no", reply_markup=ReplyKeyboardMarkup(keyboard=[[]]))
    wide = [[KeyboardButton(text=str(n)) for n in range(13)]]
    with pytest.raises(TelegramBadRequest, match="BUTTONS_TOO_MUCH"):
        await bot.send_message(CHAT, "no", reply_markup=ReplyKeyboardMarkup(keyboard=wide))


# --- edits and callback queries ----------------------------------------------------------------------


async def test_identical_edits_are_refused(bot: Bot) -> None:
    message = await bot.send_message(CHAT, "Same <b>text</b>", reply_markup=buttons(1))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        # Different markup, same rendering: Telegram compares what the user would see.
        await bot.edit_message_text("Same <strong>text</strong>", chat_id=CHAT, message_id=message.message_id,
                                    reply_markup=buttons(1))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=message.message_id, reply_markup=buttons(1))
    photo = await bot.send_photo(CHAT, BufferedInputFile(png(), "p.png"), caption="Card")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(chat_id=CHAT, message_id=photo.message_id, caption="Card")


async def test_editing_a_message_that_does_not_exist_is_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("new", chat_id=CHAT, message_id=4242)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=4242, reply_markup=buttons(1))


async def test_callback_query_is_answered_at_most_once_and_unknown_ones_are_refused(
    bot: Bot, tg: FakeTelegram
) -> None:
    too_old = "query is too old and response timeout expired or query ID is invalid"
    with pytest.raises(TelegramBadRequest, match=too_old):
        await bot.answer_callback_query("123456789")
    anna = tg.user(501, "Анна")
    await bot.send_message(anna.id, "Press", reply_markup=buttons(1))
    await anna.press(anna.inbox()[0], "b0")
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query is not None
    await bot.answer_callback_query(update.callback_query.id)
    with pytest.raises(TelegramBadRequest, match=too_old):
        await bot.answer_callback_query(update.callback_query.id)


# --- rate limits -------------------------------------------------------------------------------------


async def test_every_send_method_is_limited_to_one_per_second_per_chat() -> None:
    clock = Clock()
    async with FakeTelegram(rate_limited=True, monotonic=clock) as tg:
        bot = tg.make_bot()
        try:
            sends = [
                lambda chat: bot.send_message(chat, "hi"),
                lambda chat: bot.send_photo(chat, BufferedInputFile(png(), "p.png")),
                lambda chat: bot.send_document(chat, BufferedInputFile(b"data", "d.txt")),
            ]
            for n, first in enumerate(sends):
                for second in sends:
                    chat = CHAT + n
                    await first(chat)
                    with pytest.raises(TelegramRetryAfter) as caught:
                        await second(chat)
                    assert caught.value.retry_after >= 1
                    clock.value += 1.0
            # A direct reply to a user's message is a send like any other.
            anna = tg.user(501, "Анна")
            await anna.send("/start")
            [update] = await bot.get_updates(timeout=0)
            assert update.message is not None
            await bot.send_message(anna.id, "one", reply_to_message_id=update.message.message_id)
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(anna.id, "two", reply_to_message_id=update.message.message_id)
        finally:
            await bot.session.close()
    assert tg.stats.total_429 == 10


async def test_global_limit_is_30_per_second() -> None:
    clock = Clock()
    async with FakeTelegram(rate_limited=True, monotonic=clock) as tg:
        bot = tg.make_bot()
        try:
            for chat in range(30):
                await bot.send_message(CHAT + chat, "hi")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(CHAT + 30, "hi")
            assert caught.value.retry_after == 1
            clock.value += 0.1  # three tokens back
            for chat in range(31, 34):
                await bot.send_message(CHAT + chat, "hi")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(CHAT + 34, "hi")
        finally:
            await bot.session.close()
    assert tg.stats.total_429 == 2
    assert tg.stats.accepted_sends == 33


async def test_albums_and_copies_are_checked_and_limited_like_any_send() -> None:
    clock = Clock()
    async with FakeTelegram(rate_limited=True, monotonic=clock) as tg:
        bot = tg.make_bot()
        try:
            album = [InputMediaPhoto(media=BufferedInputFile(png(), f"{n}.png"), caption=f"№{n}") for n in (1, 2)]
            bad = [InputMediaPhoto(media=BufferedInputFile(png(), "x.png"), caption="<b>x") for _ in (1, 2)]
            with pytest.raises(TelegramBadRequest, match="can't parse entities"):
                await bot.send_media_group(CHAT, media=bad)
            sent = await bot.send_media_group(CHAT, media=album)
            assert [m.caption for m in sent] == ["№1", "№2"]
            with pytest.raises(TelegramRetryAfter):
                await bot.copy_message(CHAT, CHAT, sent[0].message_id)
            clock.value += 1.0
            copy = await bot.copy_message(CHAT + 1, CHAT, sent[0].message_id)
            assert tg.message(CHAT + 1, copy.message_id).caption == "№1"
            with pytest.raises(TelegramRetryAfter):
                await bot.send_media_group(CHAT + 1, media=album)
            clock.value += 1.0
            with pytest.raises(TelegramBadRequest, match="message to copy not found"):
                await bot.copy_message(CHAT + 1, CHAT, 999)
        finally:
            await bot.session.close()
    assert tg.stats.total_429 == 2
