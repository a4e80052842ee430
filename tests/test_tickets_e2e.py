"""End to end: a question relayed to the IT officer and answered back by replying to it."""

from __future__ import annotations

from pathlib import Path

from bot.fakeapi import FakeTelegram
from tests.harness import IT_OFFICER, PARENT_ONE, running_bot
from tests.help_helpers import import_school, link_e2e


async def test_question_relayed_and_answered_by_reply(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        await import_school(app)
        officer = await link_e2e(tg, app, IT_OFFICER, "Пётр", "Петров")
        parent = await link_e2e(tg, app, PARENT_ONE, "Олег", "Смирнов")

        # Nothing in the FAQ fits; "none of these" asks with the searched text.
        mark = len(tg.sent(PARENT_ONE))
        await parent.send("Где взять справку для бассейна?")
        offer = await tg.wait_for(PARENT_ONE, lambda m: "ответственного" in str(m.reply_markup), after=mark)
        await parent.press(offer, offer.buttons()[-1][0])
        await tg.wait_for(PARENT_ONE, lambda m: any("Вопрос №1 отправлен" in (e.text or "") for e in m.edits))

        notice = await tg.wait_for(IT_OFFICER, lambda m: "Вопрос №1" in (m.plain or ""))
        assert notice.plain is not None
        assert "Смирнов Олег Павлович" in notice.plain and "родитель" in notice.plain
        assert "Смирнов Коля Олегович (5А)" in notice.plain
        assert "справку для бассейна" in notice.plain

        # The IT officer answers by replying to the notice; the answer goes back to the asker.
        mark = len(tg.sent(PARENT_ONE))
        await officer.send("Справку выдаёт медсестра, кабинет 3, с 9 до 12.", reply_to=notice)
        confirm = await tg.wait_for(IT_OFFICER, lambda m: "Ответ на вопрос №1 отправлен" in (m.plain or ""))
        answer = await tg.wait_for(PARENT_ONE, lambda m: "медсестра" in (m.plain or ""), after=mark)
        assert "Где взять справку для бассейна?" in (answer.plain or "")

        # The IT officer turns it into an FAQ entry; the next parent asking finds it by search.
        pressed = await officer.press(confirm, "📚 Добавить в FAQ")
        answered = await tg.wait_callback_answer(pressed)
        assert "добавлены в FAQ" in str(answered)
        mark = len(tg.sent(PARENT_ONE))
        await parent.send("справка для бассейна")
        found = await tg.wait_for(PARENT_ONE, lambda m: "Возможно, ответ здесь" in (m.plain or ""), after=mark)
        assert "Где взять справку для бассейна?" in str(found.reply_markup)
        assert await app.db.fetchval("SELECT status FROM tickets WHERE id = 1") == "closed"
