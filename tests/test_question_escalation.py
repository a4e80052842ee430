"""No question left behind: a parent's question nobody answers goes into the IT officer's daily list
after `[questions] digest_after_hours` working hours (8 by default) and to the director after
`director_after_hours` (24); /status counts the open questions by how long they have waited. Time
moves on the ManualClock; ages are the school's working hours (09:00-18:00, Monday-Friday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.channels import Channel
from bot.config import EXAMPLE_SCHOOL_CONFIG, QuestionSettings, load_school_config
from tests.consent_helpers import school, texts
from tests.delivery_helpers import TG_CHAT
from tests.harness import DIRECTOR, IT_OFFICER, PARENT_TWO, Harness

MSK = timedelta(hours=3)


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) - MSK


async def _rows(h: Harness, prefix: str) -> list[Any]:
    return list(await h.app.db.fetchall(
        f"SELECT dedupe_key, {TG_CHAT} AS chat_id, payload FROM outbox WHERE dedupe_key LIKE ? ORDER BY id",
        (prefix + "%",)))


def test_working_hours_skip_nights_and_weekends() -> None:
    cal = load_school_config(EXAMPLE_SCHOOL_CONFIG).calendar
    # Friday 17:00 -> Monday 10:00: one hour on Friday, one on Monday.
    assert cal.working_hours_between(_at("2026-12-04 17:00"), _at("2026-12-07 10:00")) == 2.0
    assert cal.working_hours_between(_at("2026-12-07 08:00"), _at("2026-12-08 08:00")) == 9.0
    assert QuestionSettings().digest_after_hours == 8 and QuestionSettings().director_after_hours == 24


async def test_an_unanswered_question_reaches_the_it_officers_list_then_the_director(harness: Harness) -> None:
    h = harness
    await school(h)
    await h.contact(DIRECTOR, "+79000000002", DIRECTOR)
    h.clock.set(_at("2026-12-07 10:00"))   # Monday
    await h.text(PARENT_TWO, "/ask")
    await h.text(PARENT_TWO, "Когда придёт код для дочери?")
    sweep = h.app.services.question_escalation.sweep

    await sweep(h.clock.now())                      # just asked: nobody is told yet
    assert await _rows(h, "q-") == []

    h.clock.set(_at("2026-12-08 10:00"))           # 9 working hours
    await sweep(h.clock.now())
    [listed] = await _rows(h, "q-digest:")
    assert listed["chat_id"] == IT_OFFICER
    assert "Без ответа 1 вопрос" in listed["payload"] and "Когда придёт код" in listed["payload"]
    assert "от Ивановой Елены Викторовны" in listed["payload"] and "ждёт 9 рабочих часов" in listed["payload"]
    assert await _rows(h, "q-director:") == []
    status = texts(await h.text(IT_OFFICER, "/status"))[-1]
    assert "у ответственного в списке — 1" in status and "переданы директору — 0" in status

    await sweep(h.clock.now())                      # the same day: not again
    assert len(await _rows(h, "q-digest:")) == 1

    h.clock.set(_at("2026-12-10 11:00"))           # Thursday: 28 working hours
    await sweep(h.clock.now())
    [escalated] = await _rows(h, "q-director:")
    assert escalated["chat_id"] == DIRECTOR and "больше 24 рабочих часов нет ответа" in escalated["payload"]
    assert len(await _rows(h, "q-digest:")) == 2   # a new day's list
    status = texts(await h.text(IT_OFFICER, "/status"))[-1]
    assert "переданы директору — 1" in status

    await sweep(h.clock.now() + timedelta(hours=1))
    assert len(await _rows(h, "q-director:")) == 1   # told once


async def test_an_answered_question_is_not_raised(harness: Harness) -> None:
    h = harness
    await school(h)
    h.clock.set(_at("2026-12-07 10:00"))
    await h.text(PARENT_TWO, "/ask")
    await h.text(PARENT_TWO, "Где взять бланк?")
    ticket = (await h.app.services.tickets.tickets_overview())[0][0]
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None
    await h.app.services.tickets.answer_ticket(officer, ticket.id, "У классного руководителя.")
    h.clock.set(_at("2026-12-14 10:00"))
    await h.app.services.question_escalation.sweep(h.clock.now())
    assert await _rows(h, "q-") == []
