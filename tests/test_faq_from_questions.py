"""An FAQ entry made from a question (issue #22): the IT officer's «📚 Добавить в FAQ» used to publish
the question verbatim, and a question can name a child. Now the button shows the entry to be; it is
made only when the officer, having read (and here rewritten) it, states it carries no personal data.
An entry made verbatim before that check existed is personal data until an officer checks it. Under
the municipal rules nothing of the child's reaches Telegram on any of these paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.methods import SendMessage, TelegramMethod

from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.tg.callbacks import FaqNav
from storage.help import HelpRepo
from tests.harness import IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness, handler_harness
from tests.help_helpers import alerts, buttons, linked_school

CHILD = ("Маш", "Иванов")
ASKED = "Маша Иванова из 6Б не видит домашнее задание по физкультуре в дневнике, что делать?"
REWRITTEN = "Ребёнок не видит домашнее задание по физкультуре в дневнике, что делать?"
ANSWER = "Учитель публикует задание после урока: обновите страницу дневника вечером."


def shown(calls: list[TelegramMethod[Any]]) -> str:
    """Everything a person could read in these calls: texts, captions, toasts, button labels."""
    parts = []
    for call in calls:
        parts += [str(getattr(call, name, "") or "") for name in ("text", "caption")]
        parts += [label for label, _ in buttons(call)]
    return "\n".join(parts)


async def _asked_and_answered(h: Harness, ticket: int) -> None:
    await h.text(PARENT_TWO, f"/ask {ASKED}")
    await h.press(IT_OFFICER, f"tk:answer:{ticket}")
    await h.text(IT_OFFICER, ANSWER)
    assert await h.app.db.fetchval("SELECT answer FROM tickets WHERE id = ?", (ticket,)) == ANSWER


async def _what_a_parent_finds(h: Harness) -> str:
    """Another parent, on Telegram, searches for it and opens the asked-questions entries found."""
    calls = await h.text(PARENT_ONE, "домашнее задание по физкультуре в дневнике")
    for _, data in [b for c in calls for b in buttons(c)]:
        if data.startswith("faq:") and FaqNav.unpack(data).e.startswith("asked-"):
            calls += await h.press(PARENT_ONE, data)
    return shown(calls)


async def test_a_question_naming_a_child_reaches_the_faq_only_as_the_officer_rewrote_it(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:  # municipal, Telegram only
        await linked_school(h, IT_OFFICER, PARENT_TWO, PARENT_ONE)
        h.app.services.tickets.faq_merged.clear()
        await _asked_and_answered(h, 1)

        # The button alone publishes nothing: it opens the review (on Telegram, as a pointer).
        calls = await h.press(IT_OFFICER, "tk:faq:1")
        assert "🔒" in shown(calls)
        assert await h.app.db.fetchval("SELECT count(*) FROM faq_extra") == 0
        assert REWRITTEN[:20] not in await _what_a_parent_finds(h)

        # The officer rewrites the question and states that it carries no personal data.
        await h.text(IT_OFFICER, REWRITTEN)
        calls = await h.press(IT_OFFICER, "tk:faq_ok:1")
        assert any("добавлены в FAQ" in a or "🔒" in a for a in alerts(calls))
        row = await h.app.db.fetchone("SELECT question, answer, checked_by, checked_at FROM faq_extra")
        assert row is not None and row["question"] == REWRITTEN and row["answer"] == ANSWER
        assert row["checked_by"] is not None and row["checked_at"] is not None
        assert await h.app.db.fetchval("SELECT status FROM tickets WHERE id = 1") == "closed"

        found = await _what_a_parent_finds(h)
        assert REWRITTEN in found and ANSWER in found  # public now: the entry itself on Telegram

        # Nothing sent to Telegram in the whole run named the child.
        everything = shown(h.bot.calls)
        assert not any(name in everything for name in CHILD), [n for n in CHILD if n in everything]


async def test_an_entry_made_verbatim_before_the_check_stays_off_telegram_until_checked(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:
        await linked_school(h, IT_OFFICER, PARENT_TWO, PARENT_ONE)
        await _asked_and_answered(h, 1)
        # As «Добавить в FAQ» made entries before migration 032: the question verbatim, unchecked.
        async with h.app.db.transaction() as conn:
            await HelpRepo.insert_faq_extra(conn, ticket_id=1, audience={"parent"}, question=ASKED, answer=ANSWER,
                                            created_by=None, now=h.clock.now())
            await HelpRepo.close_ticket(conn, 1, h.clock.now())
        h.app.services.tickets.faq_merged.clear()

        found = await _what_a_parent_finds(h)
        assert "🔒 Персональные данные" in found and ANSWER not in found
        calls = await h.press(PARENT_ONE, FaqNav(v="e", e="asked-1").pack())  # straight to the entry
        assert "🔒" in shown(calls) and ANSWER not in shown(calls)

        # The officer checks it as a new one is checked: «Добавить в FAQ» reviews the existing entry.
        await h.press(IT_OFFICER, "tk:faq:1")
        await h.text(IT_OFFICER, REWRITTEN)
        await h.press(IT_OFFICER, "tk:faq_ok:1")
        assert await h.app.db.fetchval("SELECT count(*) FROM faq_extra") == 1
        assert await h.app.db.fetchval("SELECT question FROM faq_extra WHERE id = 1") == REWRITTEN
        found = await _what_a_parent_finds(h)
        assert REWRITTEN in found and ANSWER in found
        calls = await h.press(IT_OFFICER, "tk:faq:1")  # checked: nothing more to review
        assert alerts(calls) and not [c for c in calls if isinstance(c, SendMessage)]
        assert await h.app.db.fetchval("SELECT count(*) FROM faq_extra") == 1

        everything = shown(h.bot.calls)
        assert not any(name in everything for name in CHILD), [n for n in CHILD if n in everything]


async def test_the_officer_sees_and_corrects_both_texts_before_the_entry_is_made(harness: Harness) -> None:
    """Where the channel may carry it (a private school's Telegram here, MAX in a municipal one), the
    review shows the entry as it will be published, and the answer can be corrected too."""
    h = harness
    await linked_school(h, IT_OFFICER, PARENT_TWO)
    await _asked_and_answered(h, 1)
    calls = await h.press(IT_OFFICER, "tk:faq:1")
    review = shown(calls)
    assert ASKED in review and ANSWER in review and "персональные данные" in review
    assert [d for _, d in buttons(calls[-1])] == ["tk:faq_ok:1", "tk:faq_ans:1", "tk:cancel:1"]
    calls = await h.press(IT_OFFICER, "tk:faq_ans:1")
    assert "текст ответа" in shown(calls)
    calls = await h.text(IT_OFFICER, "Обновите страницу дневника вечером.")
    assert "Обновите страницу дневника вечером." in shown(calls) and ASKED in shown(calls)
    calls = await h.text(IT_OFFICER, REWRITTEN)  # back to the question
    assert REWRITTEN in shown(calls) and ASKED not in shown(calls)
    assert await h.app.db.fetchval("SELECT count(*) FROM faq_extra") == 0
    # A stale «добавить» (another ticket's) publishes nothing.
    calls = await h.press(IT_OFFICER, "tk:faq_ok:7")
    assert any("не открыта" in a for a in alerts(calls))
    calls = await h.press(IT_OFFICER, "tk:faq_ok:1")
    assert any("добавлены в FAQ" in a for a in alerts(calls))
    row = await h.app.db.fetchone("SELECT question, answer FROM faq_extra")
    assert row is not None and (row["question"], row["answer"]) == (REWRITTEN, "Обновите страницу дневника вечером.")


async def test_an_unchecked_entry_is_offered_to_the_it_officer_for_review(harness: Harness) -> None:
    """The IT officer's list of questions offers every entry made before the check for review."""
    h = harness
    await linked_school(h, IT_OFFICER, PARENT_TWO)
    await _asked_and_answered(h, 1)
    async with h.app.db.transaction() as conn:
        await HelpRepo.insert_faq_extra(conn, ticket_id=1, audience={"parent"}, question=ASKED, answer=ANSWER,
                                        created_by=None, now=h.clock.now())
        await HelpRepo.close_ticket(conn, 1, h.clock.now())
    calls = await h.text(IT_OFFICER, "/questions")
    assert "Открытых вопросов нет" in shown(calls) and "ещё не проверенные на персональные данные: 1" in shown(calls)
    offered = [d for c in calls for label, d in buttons(c) if label.startswith("📚 №1")]
    assert offered == ["tk:faq:1"]
    assert ASKED in shown(await h.press(IT_OFFICER, "tk:faq:1"))
    await h.press(IT_OFFICER, "tk:faq_ok:1")  # as it is: the officer's own statement
    assert await h.app.db.fetchval("SELECT checked_by FROM faq_extra WHERE id = 1") is not None
    calls = await h.text(IT_OFFICER, "/questions")
    assert "Открытых вопросов нет" in shown(calls) and not [b for c in calls for b in buttons(c)]
