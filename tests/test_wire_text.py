"""Each wire owns its text limits: services write texts whole, the wire cuts them as its platform counts.

Telegram holds 4096 UTF-16 units of the text the user sees (1024 in a caption); MAX holds 4000
characters as sent, markup and the "(i/n)" marker included. Tests drive the bots exactly as
`schoolbot run` builds them (build_bots) against the two fakes, each as strict as its platform.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from PIL import Image

from bot.app import build_bots
from bot.fakeapi import FakeTelegram
from bot.fakeapi.rules import check_text
from bot.fakemax import FakeMax
from bot.max.session import max_text_length
from bot.tg.wire_text import TELEGRAM_TEXT, fit_text, split_text
from tests.codes_helpers import load_school, person_id
from tests.harness import PARENT_ONE, Harness, csv_bytes, make_settings, running_bot
from tests.help_helpers import PHONES

MARKER = re.compile(r"\n\n\((\d+)/(\d+)\)$")
USER = 7301


def _document(paragraphs: int = 40) -> str:
    """A long HTML text with markup across paragraph ends, entities and a long unbroken paragraph."""
    sentence = "Оператор обрабатывает данные &amp; хранит их. "
    parts = [f"<b>Пункт {i}.</b> " + sentence * (i % 7 + 3) for i in range(paragraphs)]
    parts.insert(5, "<i>" + "очень длинный абзац без переносов " * 200 + "</i>")
    parts.insert(9, "<b>начало\n\nпродолжение жирным</b>")
    return "\n\n".join(parts)


def _visible(text: str) -> str:
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", text)))


def _unmarked(parts: list[str]) -> list[str]:
    numbers = [MARKER.search(p) for p in parts]
    assert all(numbers), parts
    count = len(parts)
    assert [(int(m.group(1)), int(m.group(2))) for m in numbers if m] == [(i, count) for i in range(1, count + 1)]
    return [MARKER.sub("", p) for p in parts]


@pytest.mark.parametrize("wire", ["telegram", "max"])
def test_a_long_text_is_cut_at_boundaries_within_the_wire_s_count(wire: str) -> None:
    text = _document()
    if wire == "telegram":
        def fits(s: str) -> bool:
            return TELEGRAM_TEXT.measure(s, True) <= 4096
    else:
        def fits(s: str) -> bool:
            return max_text_length(s, True) <= 4000
    parts = split_text(text, fits, is_html=True)
    assert len(parts) > 2 and all(fits(p) for p in parts)
    for part in parts:
        check_text(part, "HTML")  # Telegram's own parser: tags balanced, no half entity
    bodies = _unmarked(parts)
    assert "".join(_visible(b) for b in bodies) == _visible(text)  # nothing lost, nothing doubled
    assert sum(b.rstrip().endswith(("</b>", "</i>", ".", "переносов")) for b in bodies) >= len(bodies) - 1
    short = "<b>Коротко</b> &amp; ясно"
    assert split_text(short, fits, is_html=True) == [short]
    fitted = fit_text(text, fits, is_html=True)
    assert fits(fitted) and fitted.endswith("…")
    check_text(fitted, "HTML")


def test_max_counts_the_text_as_sent_and_telegram_what_the_user_sees() -> None:
    text = "<b>" + "я" * 3994 + "</b>"  # 3994 seen, 4001 sent
    assert TELEGRAM_TEXT.measure(text, True) == 3994 and max_text_length(text, True) == 4001
    assert max_text_length("<strike>x</strike>", True) == len("<s>x</s>")  # sent in MAX's dialect
    assert max_text_length("😀", False) == 2  # UTF-16 units, as MAX's server counts


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 200)).save(buffer, format="PNG")
    return buffer.getvalue()



@pytest.fixture
async def bots(tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> AsyncIterator[dict[str, Bot]]:
    settings = make_settings(
        tmp_path, bot_token=tg.token, bot_api_url=tg.base_url, max_token=mx.token, max_api_url=mx.base_url
    )
    telegram, max_bot = build_bots(settings)
    assert max_bot is not None
    tg.user(USER, "Ольга")
    await tg.user(USER, "Ольга").send("/start")
    mx.user(USER, "Ольга")
    yield {"telegram": telegram, "max": max_bot}
    await telegram.session.close()
    await max_bot.session.close()


def _received(wire: str, tg: FakeTelegram, mx: FakeMax) -> list[tuple[str, str, list[str]]]:
    """(text as sent, plain text, button labels) of every message the user got, in order."""
    if wire == "max":
        return [(m.text or "", m.plain, m.buttons()) for m in mx.sent(USER)]
    return [
        (m.plain or "", m.plain or "", [b for row in m.buttons() for b in row]) for m in tg.sent(USER)
    ]


@pytest.mark.parametrize("wire", ["telegram", "max"])
async def test_the_wire_sends_a_long_text_whole_in_parts_with_the_keyboard_last(
    wire: str, bots: dict[str, Bot], tg: FakeTelegram, mx: FakeMax
) -> None:
    text = _document()
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Согласен", callback_data="ok")]])
    last = await bots[wire].send_message(USER, text, reply_markup=keyboard)
    got = _received(wire, tg, mx)
    assert len(got) > 2
    assert [labels for _, _, labels in got] == [[]] * (len(got) - 1) + [["Согласен"]]
    assert last.message_id == (mx.sent(USER)[-1].seq if wire == "max" else tg.sent(USER)[-1].message_id)
    bodies = _unmarked([plain for _, plain, _ in got])
    assert "".join(re.sub(r"\s+", "", b) for b in bodies) == _visible(text)
    if wire == "max":
        assert all(len(sent) <= 4000 for sent, _, _ in got)


@pytest.mark.parametrize("wire", ["telegram", "max"])
async def test_a_long_caption_keeps_what_fits_and_the_rest_follows(
    wire: str, bots: dict[str, Bot], tg: FakeTelegram, mx: FakeMax
) -> None:
    caption = "\n\n".join(f"Строка {i}: " + "пояснение к карточке " * 8 for i in range(40))
    await bots[wire].send_photo(USER, BufferedInputFile(_png(), "card.png"), caption=html.escape(caption))
    got = _received(wire, tg, mx)
    assert len(got) > 1
    bodies = _unmarked([plain for _, plain, _ in got])
    assert "".join(re.sub(r"\s+", "", b) for b in bodies) == re.sub(r"\s+", "", caption)
    if wire == "telegram":  # a caption holds 1024: the photo keeps its first part, texts follow
        first = tg.sent(USER)[0]
        assert first.method == "sendPhoto" and 900 < len(first.plain or "") <= 1024
        assert all(m.method == "sendMessage" for m in tg.sent(USER)[1:])
    else:  # a MAX picture's text is a message text (4000 as sent)
        assert mx.sent(USER)[0].files() and 3000 < len(mx.sent(USER)[0].text or "") <= 4000


@pytest.mark.parametrize("wire", ["telegram", "max"])
async def test_the_consent_document_arrives_whole_and_readable(
    wire: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx if wire == "max" else None) as app:
        await load_school(app)
        if wire == "max":
            user = mx.user(PARENT_ONE, "Олег", "Смирнов", phone=PHONES[PARENT_ONE].lstrip("+"))
            await user.start()
            ask = await mx.wait_for(PARENT_ONE, lambda m: "поделитесь своим номером" in m.plain)
            await user.press(ask, "📱 Поделиться номером телефона")
            await mx.wait_for(PARENT_ONE, lambda m: "Ваши роли" in m.plain)
            await user.send("/consent")
            menu = await mx.wait_for(PARENT_ONE, lambda m: any("Прочитать" in b for b in m.buttons()))
            mark = len(mx.sent(PARENT_ONE))
            await user.press(menu, next(b for b in menu.buttons() if "Прочитать" in b))
            await mx.wait_for(PARENT_ONE, lambda m: any("Согласен" in b for b in m.buttons()), after=mark)
            texts = [m.plain for m in mx.sent(PARENT_ONE)[mark:]][:-1]
            refused = [r for r in mx.requests if r.status not in (200, None)]
            assert refused == []
        else:
            tuser = tg.user(PARENT_ONE, "Олег", "Смирнов", phone=PHONES[PARENT_ONE])
            await tuser.send("/start")
            ask = await tg.wait_for(PARENT_ONE, lambda m: "поделитесь своим номером" in (m.plain or ""))
            await tuser.press_reply(ask, "📱 Поделиться номером телефона")
            await tg.wait_for(PARENT_ONE, lambda m: "Ваши роли" in (m.plain or ""))
            await tuser.send("/consent")
            menu = await tg.wait_for(
                PARENT_ONE, lambda m: any("Прочитать" in b for row in m.buttons() for b in row)
            )
            mark = len(tg.sent(PARENT_ONE))
            label = next(b for row in menu.buttons() for b in row if "Прочитать" in b)
            await tuser.press(menu, label)
            await tg.wait_for(
                PARENT_ONE, lambda m: any("Согласен" in b for row in m.buttons() for b in row), after=mark
            )
            texts = [m.plain or "" for m in tg.sent(PARENT_ONE)[mark:]][:-1]
        parent = await app.people.get(await person_id(app, "Смирнов Олег Павлович"))
        child = await app.people.get(await person_id(app, "Смирнов Коля Олегович"))
        assert parent is not None and child is not None
        _, document = await app.services.consent.open_document(parent, child, "ru")
    bodies = _unmarked(texts)
    assert len(bodies) > 1
    assert "".join(re.sub(r"\s+", "", b) for b in bodies) == re.sub(r"\s+", "", document)


@pytest.mark.parametrize("wire", ["telegram", "max"])
async def test_a_keyboard_row_too_wide_for_the_wire_continues_on_the_next(
    wire: str, bots: dict[str, Bot], tg: FakeTelegram, mx: FakeMax
) -> None:
    # Ten class buttons in one row: Telegram shows 8 in a row, MAX 7 (3 with a link among them).
    classes = [InlineKeyboardButton(text=f"{n}А", callback_data=f"class:{n}") for n in range(1, 11)]
    links = [InlineKeyboardButton(text=f"Сайт {n}", url=f"https://school.example/{n}") for n in range(4)]
    long_label = InlineKeyboardButton(text="Очень длинная подпись кнопки " * 6, callback_data="long")
    markup = InlineKeyboardMarkup(inline_keyboard=[classes, links, [long_label]])
    await bots[wire].send_message(USER, "Выберите класс", reply_markup=markup)
    if wire == "telegram":
        [message] = tg.sent(USER)
        widths = [len(row) for row in message.buttons()]
        assert widths == [8, 2, 4, 1]
    else:
        [message] = mx.sent(USER)
        widths = [len(row) for row in message.keyboard()]
        assert widths == [7, 3, 3, 1, 1]
        assert len(message.keyboard()[-1][0]["text"]) == 128 and message.keyboard()[-1][0]["text"].endswith("…")
    labels = [b for _, _, row in _received(wire, tg, mx) for b in row]
    assert labels[:10] == [f"{n}А" for n in range(1, 11)]


async def test_the_fake_max_refuses_a_keyboard_max_would_refuse(mx: FakeMax) -> None:
    mx.user(USER, "Ольга")
    headers = {"Authorization": mx.token}
    row = [{"type": "callback", "text": str(n), "payload": str(n)} for n in range(8)]
    links = [{"type": "link", "text": str(n), "url": "https://example.org"} for n in range(4)]
    async with aiohttp.ClientSession() as raw:
        for rows in ([row], [links], [[row[0]]] * 31):
            body = {"text": "x", "attachments": [{"type": "inline_keyboard", "payload": {"buttons": rows}}]}
            async with raw.post(f"{mx.base_url}/messages", params={"user_id": USER}, json=body, headers=headers) as r:
                assert r.status == 400, rows
    assert mx.sent(USER) == []


@pytest.mark.parametrize("wire", ["telegram", "max"])
async def test_a_long_edit_becomes_the_first_part_and_the_rest_follows(
    wire: str, bots: dict[str, Bot], tg: FakeTelegram, mx: FakeMax
) -> None:
    """An import report replaces the "checking…" message: the whole report arrives, buttons last."""
    bot = bots[wire]
    waiting = await bot.send_message(USER, "Проверяю файл…")
    report = "\n".join(f"Строка {n}: не указано ФИО &lt;пусто&gt;" for n in range(2, 302))
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Отмена", callback_data="cancel")]])
    await bot.edit_message_text(report, chat_id=USER, message_id=waiting.message_id, reply_markup=keyboard)
    got = _received(wire, tg, mx)
    assert len(got) > 2
    assert [labels for _, _, labels in got] == [[]] * (len(got) - 1) + [["Отмена"]]
    bodies = _unmarked([plain for _, plain, _ in got])
    assert "".join(re.sub(r"\s+", "", b) for b in bodies) == _visible(report)
    assert got[0][1].startswith("Строка 2:")  # the first message was edited, not left behind


async def test_an_import_report_with_many_errors_arrives_whole(harness: Harness) -> None:
    """Through the real Dispatcher (Telegram's wire as build_bot sets it up): nothing is cut."""
    rows = [["ФИО", "Роль", "Класс", "Телефон", "Дети"]] + [["", "учитель", "", "", ""] for _ in range(150)]
    await harness.text(1, "/start")
    await harness.document(1, csv_bytes(rows), "состав.csv")
    calls = await harness.press(1, "imp:roster:0")
    texts = [str(getattr(c, "text", "")) for c in calls if type(c).__name__ in ("EditMessageText", "SendMessage")]
    report = [t for t in texts if MARKER.search(t)]
    assert len(report) > 1
    whole = "\n".join(_unmarked(report))
    assert "В файле 150 ошибок:" in whole and "…и ещё 50 ошибок" in whole
    assert all(f"Строка {n}:" in whole for n in range(2, 102))
