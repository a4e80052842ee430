"""End to end: a question relayed to the IT officer and answered back by replying to it."""

from __future__ import annotations

from pathlib import Path

from bot.fakeapi import FakeTelegram
from tests.delivery_helpers import wait_until
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

        # The IT officer turns it into an FAQ entry: the entry is shown as it will be published and made
        # on the officer's word that it carries no personal data; the next parent asking finds it.
        mark = len(tg.sent(IT_OFFICER))
        await officer.press(confirm, "📚 Добавить в FAQ")
        review = await tg.wait_for(IT_OFFICER, lambda m: "появится в FAQ" in (m.plain or ""), after=mark)
        pressed = await officer.press(review, "✅ Персональных данных нет — добавить")
        answered = await tg.wait_callback_answer(pressed)
        assert "добавлены в FAQ" in str(answered)
        mark = len(tg.sent(PARENT_ONE))
        await parent.send("справка для бассейна")
        found = await tg.wait_for(PARENT_ONE, lambda m: "Возможно, ответ здесь" in (m.plain or ""), after=mark)
        assert "Где взять справку для бассейна?" in str(found.reply_markup)
        assert await app.db.fetchval("SELECT status FROM tickets WHERE id = 1") == "closed"


async def test_a_reply_reaches_the_asker_when_the_notice_send_was_not_recorded(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    """Telegram delivered the notice but its answer never reached the sender (a dropped connection;
    the same window as a send accepted but not yet recorded): the outbox holds no message id for it,
    and the row waits for a retry. The IT officer replying to the notice they see must still answer
    the question, not start a FAQ search with the answer's text."""
    async with running_bot(tg, tmp_path) as app:
        await import_school(app)
        officer = await link_e2e(tg, app, IT_OFFICER, "Пётр", "Петров")
        parent = await link_e2e(tg, app, PARENT_ONE, "Олег", "Смирнов")

        mark = len(tg.sent(PARENT_ONE))
        await parent.send("Где взять справку для бассейна?")
        offer = await tg.wait_for(PARENT_ONE, lambda m: "ответственного" in str(m.reply_markup), after=mark)
        # The notice is performed by Telegram, then the connection drops: the sender cannot know its id.
        tg.set_faults(1.0, kinds=("lost",), methods=("sendMessage",))
        await parent.press(offer, offer.buttons()[-1][0])
        notice = await tg.wait_for(IT_OFFICER, lambda m: "Вопрос №1" in (m.plain or ""))
        tg.set_faults(0.0)

        async def retry_recorded() -> bool:
            row = await app.db.fetchone(
                "SELECT status, tg_message_id, last_error FROM outbox WHERE dedupe_key LIKE 'ticket:1:new:%'"
            )
            return row is not None and row["status"] == "pending" and row["last_error"] is not None

        await wait_until(retry_recorded)  # the clock stands still: the retry is not due
        assert await app.db.fetchval("SELECT tg_message_id FROM outbox WHERE dedupe_key LIKE 'ticket:1:new:%'") is None

        mark = len(tg.sent(PARENT_ONE))
        await officer.send("Справку выдаёт медсестра, кабинет 3, с 9 до 12.", reply_to=notice)
        await tg.wait_for(IT_OFFICER, lambda m: "Ответ на вопрос №1 отправлен" in (m.plain or ""))
        answer = await tg.wait_for(PARENT_ONE, lambda m: "медсестра" in (m.plain or ""), after=mark)
        assert "Где взять справку для бассейна?" in (answer.plain or "")
        assert await app.db.fetchval("SELECT status FROM tickets WHERE id = 1") == "answered"


async def test_a_reply_to_the_list_of_questions_answers_none_of_them(tg: FakeTelegram, tmp_path: Path) -> None:
    """The /questions list carries a button per question: a reply to it names no single question,
    so it answers none (rather than the first one listed)."""
    async with running_bot(tg, tmp_path) as app:
        await import_school(app)
        officer = await link_e2e(tg, app, IT_OFFICER, "Пётр", "Петров")
        await link_e2e(tg, app, PARENT_ONE, "Олег", "Смирнов")
        [asker] = [p for p in await app.people.active() if p.full_name == "Смирнов Олег Павлович"]
        for text in ("Где взять справку для бассейна?", "Когда родительское собрание?"):
            await app.services.tickets.open_ticket(asker, text)

        mark = len(tg.sent(IT_OFFICER))
        await officer.send("/questions")
        listed = await tg.wait_for(IT_OFFICER, lambda m: str(m.reply_markup).count("tk:view") == 2, after=mark)
        mark = len(tg.sent(IT_OFFICER))
        await officer.send("Справку выдаёт медсестра, кабинет 3, с 9 до 12.", reply_to=listed)
        await tg.wait_for(IT_OFFICER, lambda m: True, after=mark)  # the bot has handled the reply
        assert not [m for m in tg.sent(IT_OFFICER)[mark:] if "Ответ на вопрос" in (m.plain or "")]
        assert await app.db.fetchval("SELECT count(*) FROM tickets WHERE status = 'open'") == 2
