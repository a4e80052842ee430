"""Questions to the IT officer through the real Dispatcher (handler level)."""

from __future__ import annotations

from bot.tg.callbacks import FaqNav
from storage.outbox import Payload
from storage.timefmt import from_db
from tests.delivery_helpers import TG_CHAT
from tests.harness import IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness
from tests.help_helpers import alerts, buttons, last_with_buttons, linked_school, texts


async def _outbox(h: Harness, chat_id: int) -> list[tuple[str, Payload]]:
    rows = await h.app.db.fetchall(
        f"SELECT dedupe_key, payload FROM outbox WHERE {TG_CHAT} = ? ORDER BY id", (chat_id,)
    )
    return [(r["dedupe_key"], Payload.from_json(r["payload"])) for r in rows]


async def test_ask_relay_answer_and_faq_entry(harness: Harness) -> None:
    await linked_school(harness, IT_OFFICER, PARENT_TWO)
    calls = await harness.text(PARENT_TWO, "✉️ Спросить ответственного")
    assert "Напишите свой вопрос" in texts(calls)[0]
    calls = await harness.text(PARENT_TWO, "Как поменять электронную почту в профиле ребёнка?")
    assert "Вопрос №1 отправлен" in texts(calls)[0]

    notices = [(k, p) for k, p in await _outbox(harness, IT_OFFICER) if k.startswith("ticket:1:new")]
    assert len(notices) == 1
    notice = notices[0][1]
    assert notice.text is not None
    assert "Иванова Елена Викторовна" in notice.text and "родитель" in notice.text
    assert "Иванов Миша Андреевич (5А)" in notice.text and "6Б" in notice.text
    assert "электронную почту" in notice.text

    # The parent cannot press the IT officer's buttons (forged callback).
    forged = await harness.press(PARENT_TWO, "tk:answer:1")
    assert alerts(forged) and await harness.app.db.fetchval("SELECT answers FROM tickets WHERE id = 1") == 0

    calls = await harness.press(IT_OFFICER, "tk:answer:1")
    assert "Напишите ответ на вопрос №1" in texts(calls)[0]
    calls = await harness.text(IT_OFFICER, "Профиль → Настройки → Почта. Сохраните изменения.")
    assert "отправлен" in texts(calls)[0]
    faq_button = [d for text, d in buttons(last_with_buttons(calls)) if "FAQ" in text]
    assert faq_button == ["tk:faq:1"]
    relayed = [p for k, p in await _outbox(harness, PARENT_TWO) if k == "ticket:1:answer:1"]
    assert relayed and relayed[0].text is not None and "Профиль → Настройки" in relayed[0].text

    # «Добавить в FAQ» shows the entry to be; it is made on the officer's statement that it carries
    # no personal data (tests/test_faq_from_questions.py: rewriting it).
    calls = await harness.press(IT_OFFICER, "tk:faq:1")
    assert "появится в FAQ" in texts(calls)[0] and "электронную почту" in texts(calls)[0]
    assert await harness.app.db.fetchval("SELECT count(*) FROM faq_extra") == 0
    calls = await harness.press(IT_OFFICER, "tk:faq_ok:1")
    assert any("добавлены в FAQ" in a for a in alerts(calls))
    # The new entry is found by search (parents' audience) and survives as data, not memory.
    harness.app.services.tickets.faq_merged.clear()
    calls = await harness.text(PARENT_TWO, "поменять электронную почту профиль")
    found = buttons(last_with_buttons(calls))
    assert any(d.startswith("faq:e:") and FaqNav.unpack(d).e == "asked-1" for _, d in found), found
    assert await harness.app.db.fetchval("SELECT status FROM tickets WHERE id = 1") == "closed"


async def test_none_of_these_asks_with_searched_text(harness: Harness) -> None:
    await linked_school(harness, IT_OFFICER, PARENT_ONE)
    calls = await harness.text(PARENT_ONE, "когда будет родительское собрание по питанию")
    ask = buttons(last_with_buttons(calls))[-1][1]
    assert ask.startswith("tkq:")
    calls = await harness.press(PARENT_ONE, ask)
    assert "Вопрос №1 отправлен" in texts(calls)[0]
    assert await harness.app.db.fetchval("SELECT text FROM tickets WHERE id = 1") == (
        "когда будет родительское собрание по питанию"
    )
    # A stale key does not create an empty ticket; it asks for the question.
    calls = await harness.press(PARENT_ONE, "tkq:deadbeef")
    assert "Напишите свой вопрос" in texts(calls)[0]
    assert await harness.app.db.fetchval("SELECT count(*) FROM tickets") == 1


async def test_ask_command_with_text_and_open_list_and_close(harness: Harness) -> None:
    await linked_school(harness, IT_OFFICER, PARENT_ONE)
    await harness.text(PARENT_ONE, "/ask Не приходит СМС с кодом")
    calls = await harness.press(IT_OFFICER, "adm:tickets")
    assert "1 открытый вопрос" in texts(calls)[0]
    assert buttons(calls[-1])[0][1] == "tk:view:1"
    calls = await harness.press(IT_OFFICER, "tk:view:1")
    assert "Не приходит СМС" in texts(calls)[0]
    calls = await harness.press(IT_OFFICER, "tk:faq:1")
    assert any("Сначала ответьте" in a for a in alerts(calls))
    calls = await harness.press(IT_OFFICER, "tk:close:1")
    assert any("закрыт" in a for a in alerts(calls))
    calls = await harness.press(IT_OFFICER, "adm:tickets")
    assert "Открытых вопросов нет" in texts(calls)[0]
    calls = await harness.press(IT_OFFICER, "tk:answer:1")
    assert any("уже закрыт" in a for a in alerts(calls))
    calls = await harness.press(IT_OFFICER, "tk:view:999")
    assert any("не найден" in a for a in alerts(calls))


async def test_cancel_asking(harness: Harness) -> None:
    await linked_school(harness, PARENT_ONE)
    await harness.text(PARENT_ONE, "/ask")
    calls = await harness.press(PARENT_ONE, "tk:cancel:0")
    assert "Отменено" in texts(calls)[0]
    calls = await harness.text(PARENT_ONE, "забыл пароль")
    assert FaqNav.unpack(buttons(last_with_buttons(calls))[0][1]).e == "password-forgot"


async def test_question_at_night_reaches_it_officer_in_the_morning(harness: Harness) -> None:
    from datetime import UTC, datetime


    await linked_school(harness, IT_OFFICER, PARENT_ONE)
    harness.clock.set(datetime(2026, 11, 30, 20, 30, tzinfo=UTC))  # 23:30 Moscow: quiet hours
    await harness.text(PARENT_ONE, "/ask Не приходит СМС с кодом")
    due = await harness.app.db.fetchval("SELECT next_attempt_at FROM outbox WHERE dedupe_key LIKE 'ticket:1:new:%'")
    assert from_db(due) == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 08:00 Moscow, when quiet hours end


async def test_a_menu_button_pressed_while_answering_opens_the_menu_and_sends_nothing(harness: Harness) -> None:
    """The IT officer starts an answer, then presses «📨 Открытые вопросы» instead of typing: the
    list opens, and the label never reaches the parent as the answer."""
    await linked_school(harness, IT_OFFICER, PARENT_TWO)
    await harness.text(PARENT_TWO, "/ask Как войти в дневник?")
    calls = await harness.press(IT_OFFICER, "tk:answer:1")
    assert "Напишите ответ на вопрос №1" in texts(calls)[0]
    calls = await harness.text(IT_OFFICER, "📨 Открытые вопросы")
    assert "1 открытый вопрос" in texts(calls)[0]
    assert await harness.app.db.fetchval("SELECT answers FROM tickets WHERE id = 1") == 0
    assert not [k for k, _ in await _outbox(harness, PARENT_TWO) if k.startswith("ticket:1:answer")]
    # The flow was left: typed text afterwards is a search, not an answer.
    await harness.text(IT_OFFICER, "Профиль → Настройки")
    assert await harness.app.db.fetchval("SELECT answers FROM tickets WHERE id = 1") == 0
