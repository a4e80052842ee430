"""Surveys through the school year (issue #26): tests/year_walk.py with two more kinds of events, the
bot as `schoolbot run` builds it against the fake Bot API server, on a ManualClock.

In September the IT officer asks the parents whether the family is ready (internet, a device, an
e-mail, a messenger, a paper code); in October the staff their ICT competence. People answer through
Telegram (real Updates: buttons, typed text, "later", the reminder's button, "change answers"); the
sweep reminds only who has not finished, within the nudge budget (never a second nudge the same day);
the deadline passes on the clock; the results go to the plan items (1.1, 14) and into the item-18
analysis in May, with an acknowledgement campaign's coverage per class."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from bot.fakeapi.models import SentMessage
from bot.services.broadcast import Audience
from storage.timefmt import from_db
from tests import year_walk
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, PARENT_ONE, PARENT_TWO, TEACHER, running_bot
from tests.year_walk import Walk


async def _new_message(w: Walk, chat: int, want: str, after: int) -> SentMessage:
    return await w.tg.wait_for(chat, lambda m: _shows(m, want), after=after)


def _shows(message: SentMessage, want: str) -> bool:
    return want in (message.plain or "") or any(want in b for row in message.buttons() for b in row)


def _label(message: SentMessage, part: str) -> str:
    """The button whose text is `part`, or else the first that contains it."""
    texts = [b for row in message.buttons() for b in row]
    return part if part in texts else next(b for b in texts if part in b)


async def _edited(w: Walk, message: SentMessage, want: str) -> SentMessage:
    """The same message once the bot has edited it to show `want` (waiting on I/O, not on time)."""
    for _ in range(1000):
        current = w.tg.message(message.chat_id, message.message_id)
        if _shows(current, want):
            return current
        await asyncio.sleep(0.005)
    raise AssertionError(f"message never showed {want!r}: {w.tg.message(message.chat_id, message.message_id)}")


async def press(w: Walk, tg_id: int, message: SentMessage, label: str, *, new: str | None = None,
                edit: str | None = None) -> SentMessage:
    """Press a button; wait for a new message showing `new`, or for the same message edited to `edit`."""
    n = len(w.tg.sent(tg_id))
    current = w.tg.message(message.chat_id, message.message_id)
    await w.users[tg_id].press(current, _label(current, label))
    if new is not None:
        found = await _new_message(w, tg_id, new, n)
    else:
        assert edit is not None
        found = await _edited(w, message, edit)
    await w.drained()
    return found


async def say(w: Walk, tg_id: int, text: str, want: str) -> SentMessage:
    n = len(w.tg.sent(tg_id))
    await w.users[tg_id].send(text)
    found = await _new_message(w, tg_id, want, n)
    await w.drained()
    return found


async def create_survey(w: Walk, template: str, audience: str, days: str, privacy: str) -> None:
    """The IT officer, through the bot: /surveys → manage → new → template → audience → days → send."""
    menu = await say(w, IT_OFFICER, "/surveys", "Управление опросами")
    screen = await press(w, IT_OFFICER, menu, "⚙️ Управление опросами", edit="➕ Новый опрос")
    screen = await press(w, IT_OFFICER, screen, "➕ Новый опрос", edit="Выберите готовый опрос")
    screen = await press(w, IT_OFFICER, screen, template, edit="Кого спросить?")
    screen = await press(w, IT_OFFICER, screen, audience, edit="Сколько рабочих дней")
    screen = await press(w, IT_OFFICER, screen, days, edit="Анонимный опрос или именной?")
    screen = await press(w, IT_OFFICER, screen, privacy, edit="Проверьте опрос")
    await press(w, IT_OFFICER, screen, "✅ Отправить опрос", edit="отправлен")


def invitation(w: Walk, tg_id: int, title: str) -> SentMessage:
    return next(m for m in w.tg.sent(tg_id) if f"просим ответить на опрос «{title}»" in (m.plain or ""))


PARENTS_TITLE = "Готовность семьи к электронному дневнику"
STAFF_TITLE = "ИКТ-компетентность сотрудников"


async def parents_survey(w: Walk) -> None:
    """Monday 14 September: the parents' readiness survey, 5 working days (to 21 September)."""
    await create_survey(w, PARENTS_TITLE, "Родители всех классов", "5 раб. дн.", "Именной")


async def elena_answers(w: Walk) -> None:
    """Елена: no internet at home, a smartphone, no e-mail, MAX, a paper code. Then she corrects
    the first answer ("only mobile") from its own message, before the deadline."""
    start = invitation(w, PARENT_TWO, PARENTS_TITLE)
    q1 = await press(w, PARENT_TWO, start, "📝 Ответить", new="Вопрос 1 из 5")
    q2 = await press(w, PARENT_TWO, q1, "Нет", new="Вопрос 2 из 5")
    q3 = await press(w, PARENT_TWO, q2, "Смартфон", new="Вопрос 3 из 5")
    q4 = await press(w, PARENT_TWO, q3, "Нет, нужна помощь", new="Вопрос 4 из 5")
    q5 = await press(w, PARENT_TWO, q4, "MAX", new="Вопрос 5 из 5")
    await press(w, PARENT_TWO, q5, "Да, на бумаге", new="Спасибо!")
    w.notes["elena.q1"] = q1


async def elena_changes(w: Walk) -> None:
    q1 = w.notes["elena.q1"]
    await press(w, PARENT_TWO, q1, "Только мобильный", edit="Ваш ответ: Только мобильный")


async def staff_survey(w: Walk) -> None:
    """Monday 5 October: the staff's ICT competence, 5 working days (to 12 October)."""
    await create_survey(w, STAFF_TITLE, "Все сотрудники", "5 раб. дн.", "Именной")


async def teacher_answers(w: Walk) -> None:
    start = invitation(w, TEACHER, STAFF_TITLE)
    q1 = await press(w, TEACHER, start, "📝 Ответить", new="Вопрос 1 из 5")
    q2 = await press(w, TEACHER, q1, "2", new="Вопрос 2 из 5")
    q3 = await press(w, TEACHER, q2, "Нет", new="Вопрос 3 из 5")
    await press(w, TEACHER, q3, "⬜ Оценки и посещаемость", edit="☑️ Оценки")
    await press(w, TEACHER, q3, "⬜ Отчёты", edit="☑️ Отчёты")
    q4 = await press(w, TEACHER, q3, "✔️ Готово", new="Вопрос 4 из 5")
    await press(w, TEACHER, q4, "Да, в группе", new="Вопрос 5 из 5")
    await say(w, TEACHER, "Нет компьютера в кабинете 12", "Спасибо!")


async def class_teacher_starts(w: Walk) -> None:
    """Ольга answers one question and stops: she is still reminded."""
    start = invitation(w, CLASS_TEACHER, STAFF_TITLE)
    q1 = await press(w, CLASS_TEACHER, start, "📝 Ответить", new="Вопрос 1 из 5")
    q2 = await press(w, CLASS_TEACHER, q1, "4", new="Вопрос 2 из 5")
    await press(w, CLASS_TEACHER, q2, "⏸ Продолжить позже", new="ответы сохранены")


async def class_teacher_resumes(w: Walk) -> None:
    """From the reminder's button: straight to question 2; then she changes question 1 in a walk."""
    reminder = next(m for m in w.tg.sent(CLASS_TEACHER) if "Напоминание: опрос" in (m.plain or ""))
    q2 = await press(w, CLASS_TEACHER, reminder, "📝 Продолжить опрос", new="Вопрос 2 из 5")
    q3 = await press(w, CLASS_TEACHER, q2, "Да, регулярно", new="Вопрос 3 из 5")
    await press(w, CLASS_TEACHER, q3, "⬜ Помощь не нужна", edit="☑️ Помощь не нужна")
    q4 = await press(w, CLASS_TEACHER, q3, "✔️ Готово", new="Вопрос 4 из 5")
    q5 = await press(w, CLASS_TEACHER, q4, "Нет", new="Вопрос 5 из 5")
    done = await press(w, CLASS_TEACHER, q5, "⏭ Пропустить", new="Спасибо!")
    walk1 = await press(w, CLASS_TEACHER, done, "✏️ Изменить ответы", new="Вопрос 1 из 5")
    await press(w, CLASS_TEACHER, walk1, "5", new="Вопрос 2 из 5")


async def results(w: Walk) -> None:
    """After the deadline the IT officer reads the results in the bot."""
    menu = await say(w, IT_OFFICER, "/surveys", "Управление опросами")
    screen = await press(w, IT_OFFICER, menu, "⚙️ Управление опросами", edit="(последние")
    screen = await press(w, IT_OFFICER, screen, STAFF_TITLE, edit="Ответили")
    w.notes["results.staff"] = screen.plain


async def ack_campaign(w: Walk) -> None:
    """The regulation on the electronic journal (item 6), to every parent, asking «Ознакомлен(а)»."""
    officer = await w.person(IT_OFFICER)
    n = len(w.tg.sent(PARENT_TWO))
    await w.app.services.acks.create(officer, title="Положение об электронном журнале", body="Текст положения…",
                                     audience=Audience("parents"), plan_item="6")
    message = await _new_message(w, PARENT_TWO, "Положение об электронном журнале", n)
    await w.users[PARENT_TWO].press(message, "✅ Ознакомлен(а)")
    await w.tg.wait_for(PARENT_TWO, lambda m: "Вы ознакомились" in (m.plain or ""))
    await w.drained()


SURVEY_EVENTS: dict[date, list[year_walk.Action]] = {
    date(2026, 9, 14): [parents_survey],
    date(2026, 9, 15): [elena_answers],
    date(2026, 9, 17): [elena_changes],
    date(2026, 10, 5): [staff_survey],
    date(2026, 10, 6): [teacher_answers, class_teacher_starts],
    date(2026, 10, 8): [class_teacher_resumes],
    date(2026, 10, 13): [results],
    date(2026, 11, 2): [ack_campaign],
}


def _reminders(rows: list[Any], prefix: str, people: dict[int, int]) -> dict[tuple[int, int], date]:
    out = {}
    for r in rows:
        if r["dedupe_key"].startswith(prefix):
            _, _, _, pid, n = r["dedupe_key"].split(":")
            out[(people[int(pid)], int(n))] = from_db(r["next_attempt_at"]).astimezone(year_walk_tz()).date()
    return out


def year_walk_tz() -> Any:
    return ZoneInfo("Europe/Moscow")


async def test_surveys_through_the_year(tg: FakeTelegram, tmp_path: Path) -> None:
    clock = ManualClock(datetime.combine(year_walk.START, time(6, 0), tzinfo=UTC))
    async with running_bot(tg, tmp_path, clock=clock) as app:
        year_walk.lift_pace(app, tg)
        w = Walk(tg, app, clock)
        await year_walk.run_year(w, SURVEY_EVENTS)
        people = {r["id"]: r["user_id"] for r in await app.db.fetchall(
            "SELECT p.id, a.user_id FROM persons p"
            " LEFT JOIN accounts a ON a.person_id = p.id AND a.channel = 'telegram'")}
        rows = await app.db.fetchall(
            "SELECT dedupe_key, next_attempt_at, status FROM outbox WHERE dedupe_key LIKE 'survey:%:remind:%'")
        parents = _reminders(rows, "survey:1:", people)
        staff = _reminders(rows, "survey:2:", people)

        # Parents: Елена answered on day one: never reminded. Олег never answers: reminded twice,
        # but never on a day he had a consent reminder (one nudge a family a day).
        assert {who for who, _ in parents} == {PARENT_ONE}
        consent_days = {from_db(r[0]).astimezone(year_walk_tz()).date() for r in await app.db.fetchall(
            "SELECT due_at FROM consent_nudges WHERE parent_id ="
            " (SELECT person_id FROM accounts WHERE channel = 'telegram' AND user_id = ?)",
            (PARENT_ONE,))}
        assert set(parents) == {(PARENT_ONE, 1), (PARENT_ONE, 2)}
        assert not set(parents.values()) & consent_days
        assert parents[(PARENT_ONE, 2)] == date(2026, 9, 21)  # the last day

        # Staff: the teacher finished on 6 October: never reminded. Ольга stopped: reminded on the 7th
        # (two working days after the invitation), then finished from the reminder: no second one.
        # The director and the IT officer never answered: reminded on the 7th and on the last day,
        # the 12th - unless their plan message went out that day.
        assert not any(who == TEACHER for who, _ in staff)
        assert staff[(CLASS_TEACHER, 1)] == date(2026, 10, 7) and (CLASS_TEACHER, 2) not in staff
        plan_days = {(people[r[0]], date.fromisoformat(r[1])) for r in await app.db.fetchall(
            "SELECT person_id, day FROM task_plan_days")}
        for (who, _), day in staff.items():
            assert (who, day) not in plan_days, (who, day)
        assert {who for who, n in staff if n == 2} <= {DIRECTOR, IT_OFFICER}

        # Answers: Елена's corrected answer, Ольга's changed first answer.
        surveys = app.services.surveys
        elena, olga = await w.person(PARENT_TWO), await w.person(CLASS_TEACHER)
        parents_survey_row = await surveys.survey(1)
        assert parents_survey_row is not None
        parents_results = await app.services.survey_results.results(parents_survey_row)
        assert parents_results.questions[0].counts[1] == ("Только мобильный", 1, 100)
        named = {(pid, q): v for pid, q, v in await app.db.fetchall(
            "SELECT person_id, question, value FROM survey_answers WHERE survey_id = 2")}
        assert named[(olga.id, 0)] == "5" and named[(olga.id, 4)] == "null"
        assert (elena.id, 0) not in named

        # Both closed at their deadlines (the clock), and handed to plan items 14 and 1.1.
        for sid, last_day in ((1, date(2026, 9, 21)), (2, date(2026, 10, 12))):
            survey = await surveys.survey(sid)
            assert survey is not None and survey.closed_at is not None
            assert survey.deadline.astimezone(year_walk_tz()) == datetime.combine(
                last_day, time(18, 0), tzinfo=year_walk_tz())
            assert survey.deadline <= survey.closed_at <= survey.deadline + timedelta(days=1)
        proofs = {r[0]: r[1] for r in await app.db.fetchall("SELECT item_number, body FROM task_proofs")}
        assert "Ответов: 1 из 2" in proofs["14"] and "Ответов: 2 из 4" in proofs["1.1"]
        assert "Нет компьютера" not in proofs["1.1"]  # free text never quoted
        assert "Ответили 2 из 4, полностью — 2" in w.notes["results.staff"]

        # May: the item-18 analysis includes the findings and drafts next year's tasks from them.
        t = app.catalog.bind("ru")
        analysis = await app.services.analysis.collect(t)
        f = analysis.findings
        assert f.competence and f.competence[0][2] == [0, 1, 0, 0, 1]  # the teacher 2, Ольга 5
        needs = next(x for x in f.training if x.key == "needs_training")
        assert needs.names == ["Морозов Игорь Сергеевич"]
        internet = next(x for x in f.families if x.key == "internet")
        assert internet.attention == 0  # Елена corrected "no internet" to "only mobile"
        email = next(x for x in f.families if x.key == "email")
        assert email.names == ["Иванова Елена Викторовна"]
        assert f.paper_code[0].names == ["Иванова Елена Викторовна"]
        assert [(a.title, a.confirmed, a.total) for a in f.acks] == [("Положение об электронном журнале", 1, 2)]
        assert any("бумажные коды" in task for task in analysis.proposed)
        assert any("Морозов Игорь Сергеевич" in task for task in analysis.proposed)
        assert any("Положение об электронном журнале" in task for task in analysis.proposed)
        pdf, _ = await app.services.analysis.pdf_bytes(t)
        assert pdf.startswith(b"%PDF")
        table = await w.table()
        print()
        print(year_walk.format_table(table))
