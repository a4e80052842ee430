"""End to end: invitation-code cards through the real bot, the outbox sender and the fake Bot API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.app import App
from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from storage.codes import CodeRepo
from tests.codes_helpers import CODES, decode_qr, load_school, person_id
from tests.harness import PARENT_TWO, TEACHER, running_bot

TEACHER_NAME = "Морозов Игорь Сергеевич"
ELENA = "Иванова Елена Викторовна"
MISHA = "Иванов Миша Андреевич"


async def _link(tg: FakeTelegram, user_id: int, first: str, last: str, phone: str) -> None:
    user = tg.user(user_id, first, last, phone=phone)
    await user.send("/start")
    ask = await tg.wait_for(user_id)
    await user.press_reply(ask, "📱 Поделиться номером телефона")


async def _eventually(check: Callable[[], Awaitable[bool]], attempts: int = 250) -> None:
    """Poll a database condition that the bot's own tasks will make true (I/O, not a deadline)."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not become true within 5 s")


async def test_teacher_gets_card_at_linking_and_code_never_logged(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: every logger, aiogram's included
    for name in ("aiogram", "aiogram.event", "aiogram.dispatcher", "aiohttp", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    async with running_bot(tg, tmp_path, admin_ids=[1]) as app:
        await load_school(app)
        await _link(tg, TEACHER, "Игорь", "Морозов", "+79000000004")
        card = await tg.wait_for(TEACHER, lambda m: m.method == "sendPhoto")
        assert card.protect_content
        assert card.file is not None
        code = CODES[TEACHER_NAME]
        assert decode_qr(card.file) == [code]
        assert code not in (card.text or "")
        assert card.buttons() == [["✅ Я активировал"], ["🆘 Не получается"]]

        # The delivery is recorded with the message id the server gave.
        async def recorded() -> bool:
            row = await app.db.fetchone(
                "SELECT o.status, o.tg_message_id FROM code_deliveries d"
                " JOIN outbox o ON o.dedupe_key = d.outbox_key"
            )
            return row is not None and row[0] == "sent" and row[1] == card.message_id

        await _eventually(recorded)

        await tg.user(TEACHER, "Игорь", "Морозов").press(card, "✅ Я активировал")
        teacher = await person_id(app, TEACHER_NAME)

        async def activated() -> bool:
            codes = await CodeRepo(app.db).active_for([teacher])
            return codes[0].activated_at is not None

        await _eventually(activated)
    assert caplog.records, "logging was captured"
    for record in caplog.records:
        assert code not in record.getMessage()
        assert code not in repr(record.args)
    assert code not in caplog.text


async def test_parent_gets_family_cards_only_after_consent(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path, admin_ids=[1]) as app:
        await load_school(app)
        await _link(tg, PARENT_TWO, "Елена", "Иванова", "+79000000005")
        await tg.wait_for(PARENT_TWO, lambda m: "Здравствуйте, Елена Викторовна" in (m.plain or ""))
        await app.tick()
        await asyncio.sleep(0.2)
        assert not [m for m in tg.sent(PARENT_TWO) if m.method == "sendPhoto"]

        await _consent(app, ELENA, [MISHA])
        app.wake_sender()
        await tg.wait_for(PARENT_TWO, lambda m: m.method == "sendPhoto")

        async def two_cards() -> bool:
            return len([m for m in tg.sent(PARENT_TWO) if m.method == "sendPhoto"]) == 2

        await _eventually(two_cards)
        decoded = sorted(decode_qr(m.file or b"")[0] for m in tg.sent(PARENT_TWO) if m.method == "sendPhoto")
        assert decoded == sorted([CODES[MISHA], CODES[ELENA]])

        # Asking again from the menu: the family's own codes only.
        parent = tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
        await parent.send("/codes")
        menu = await tg.wait_for(PARENT_TWO, lambda m: "Чей код" in (m.plain or ""))
        assert menu.buttons() == [["🔑 Мой код"], [f"🔑 {MISHA}"]]


async def _consent(app: App, parent_name: str, children: list[str]) -> None:
    parent = await app.people.get(await person_id(app, parent_name))
    assert parent is not None
    version = await app.services.consent.current()
    ids = [await person_id(app, n) for n in children]
    for cid in ids:
        child = await app.people.get(cid)
        assert child is not None
        await app.services.consent.open_document(parent, child, "ru")  # the agree button appears only after this
    await app.services.consent.decide(parent=parent, child_ids=ids, decision="given", version=version.number,
                         channel=Channel.TELEGRAM,
                         user_id=parent.user_id(Channel.TELEGRAM) or 0, update_id=None, callback_id="e2e")
