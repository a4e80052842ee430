"""Surveys (issue #26), the service and storage: templates and files (errors naming line and field,
nothing half-written), answering and changing answers, reminders that stop once answered and keep to
the nudge budget, the deadline on the school calendar, and the anonymous close that leaves no link
between a person and an answer in the database."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import Workbook

from bot.channels import Channel
from bot.services.surveys import Audience, SurveyRefused
from bot.services.surveys_spec import SpecInvalid, load_templates, parse_file, parse_toml, render_errors
from storage.tasks import TaskRepo
from tests.harness import DIRECTOR, IT_OFFICER, TEACHER, Harness
from tests.surveys_helpers import EXTRA_TEACHERS, big_school, markup_data, queued


def test_shipped_templates_are_short_specific_and_valid() -> None:
    templates = load_templates()
    assert set(templates) == {"staff_ict", "equipment", "parents_readiness", "training_feedback"}
    for spec in templates.values():
        assert 3 <= len(spec.questions) <= 6 and spec.plan_item is not None
    assert templates["staff_ict"].plan_item == "1.1"
    assert {q.key for q in templates["staff_ict"].questions} >= {"competence", "needs_training"}
    assert {q.key for q in templates["parents_readiness"].questions} >= {"internet", "device", "email",
                                                                         "messenger", "paper_code"}
    assert templates["parents_readiness"].about_family and not templates["parents_readiness"].anonymous
    assert templates["training_feedback"].anonymous
    kinds = {q.kind for spec in templates.values() for q in spec.questions}
    assert kinds == {"single", "multi", "scale", "number", "text"}


BAD_TOML = """title = "Проверка"
colour = "red"

[[questions]]
kind = "выбор"
text = "Есть ли интернет?"
options = ["Да"]

[[questions]]
kind = "радио"
text = ""
"""


def test_a_bad_toml_file_names_every_line_and_field(harness: Harness) -> None:
    t = harness.app.catalog.bind("ru")
    with pytest.raises(SpecInvalid) as caught:
        parse_toml(BAD_TOML)
    lines = render_errors(caught.value.errors, t)
    assert "Строка 2, поле «colour»: неизвестное поле" in lines
    assert any(line.startswith("Строка 4, поле «options»: у вопроса с выбором должно быть от 2 до 10")
               for line in lines)
    assert any(line.startswith("Строка 9, поле «kind»: неизвестный тип вопроса «радио»") for line in lines)
    assert "Строка 9, поле «text»: нет текста вопроса" in lines
    with pytest.raises(SpecInvalid) as broken:
        parse_toml('title = "x"\n[[questions]\n')
    assert render_errors(broken.value.errors, t)[0].startswith("Строка 2, ") or "line 2" in str(
        broken.value.errors[0].params)


def _xlsx(rows: list[list[str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_survey_and_its_errors(harness: Harness) -> None:
    t = harness.app.catalog.bind("ru")
    spec = parse_file(_xlsx([
        ["Тип", "Вопрос", "Варианты"],
        ["заголовок", "Компьютеры в кабинетах", ""],
        ["один вариант", "Есть ли компьютер?", "Да; Нет"],
        ["шкала", "Насколько он быстрый?", ""],
        ["число", "Сколько лет компьютеру?", ""],
    ]), "опрос.xlsx")
    assert spec.title == "Компьютеры в кабинетах"
    assert [q.kind for q in spec.questions] == ["single", "scale", "number"]
    assert spec.questions[0].options == ("Да", "Нет")
    with pytest.raises(SpecInvalid) as caught:
        parse_file(_xlsx([
            ["Тип", "Вопрос", "Варианты"],
            ["несколько", "Чего не хватает?", "Принтера"],
            ["шкала", "Оцените", "1;2"],
        ]), "опрос.xlsx")
    lines = render_errors(caught.value.errors, t)
    assert lines[0].startswith("Строка 2, поле «Варианты»: у вопроса с выбором должно быть от 2 до 10")
    assert lines[1] == "Строка 3, поле «Варианты»: у шкалы, числа и текста вариантов не бывает"
    with pytest.raises(SpecInvalid) as missing:
        parse_file(_xlsx([["Вопрос"], ["Есть ли интернет?"]]), "опрос.xlsx")
    assert "Тип" in render_errors(missing.value.errors, t)[0]


def msk(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 3, tzinfo=UTC)


async def test_staff_survey_answers_changes_reminders_and_deadline(harness: Harness) -> None:
    h = harness
    await big_school(h)
    surveys, nudges = h.app.services.surveys, h.app.services.survey_nudges
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    teacher = await h.app.people.by_account(Channel.TELEGRAM, TEACHER)
    assert officer is not None and teacher is not None
    # Monday 30 November 2026; five working days: Tuesday 1 .. Monday 7 December.
    with pytest.raises(SurveyRefused):
        await surveys.create(teacher, surveys.templates["staff_ict"], Audience("role", "staff"), 5, anonymous=False)
    sid, n, sent = await surveys.create(officer, surveys.templates["staff_ict"], Audience("role", "staff"), 5,
                                        anonymous=False)
    survey = await surveys.survey(sid)
    assert survey is not None
    assert survey.deadline == msk(date(2026, 12, 7), 18) and survey.plan_item == "1.1"
    assert n == sent == 10  # the IT officer, the director, two teachers of the small school and six more
    invites = await queued(h, f"survey:{sid}:invite:%")
    assert len(invites) == 10 and all(markup_data(p) == [f"svy:open:{sid}:0:0:0"] for _, _, p, _ in invites)

    # The teacher answers everything; then changes an answer (still finished, the new value kept).
    for q, value in ((0, 3), (1, 0), (2, 1), (2, 4)):
        assert (await surveys.choose(teacher, sid, q, value)).status == "ok"
    assert (await surveys.choose(teacher, sid, 3, 1)).finished_now  # every required question answered
    result = await surveys.skip(teacher, sid, 4)
    assert result.status == "ok" and not result.finished_now
    assert (await surveys.choose(teacher, sid, 0, 4)).status == "ok"
    assert (await surveys.state(teacher, sid)).answers == {0: 5, 1: 0, 2: [1, 4], 3: 1, 4: None}
    # A forged option, a question out of range, a person not asked: refused.
    assert (await surveys.choose(teacher, sid, 1, 7)).status == "bad"
    assert (await surveys.choose(teacher, sid, 9, 0)).status == "bad"
    # The director stops half way: two questions answered.
    director = await h.app.people.by_account(Channel.TELEGRAM, DIRECTOR)
    assert director is not None
    await surveys.choose(director, sid, 0, 1)
    await surveys.choose(director, sid, 1, 2)
    assert surveys.next_question(survey, (await surveys.state(director, sid)).answers) == 2

    # The first working day after the invitation: no reminder yet; the second (Wednesday): the first,
    # to the nine who have not finished, not to the teacher.
    await nudges.sweep(msk(date(2026, 12, 1), 9))
    await nudges.sweep(msk(date(2026, 12, 1), 20))
    assert await queued(h, f"survey:{sid}:remind:%") == []
    await nudges.sweep(msk(date(2026, 12, 2), 8))  # before working hours: nothing composed
    assert await queued(h, f"survey:{sid}:remind:%") == []
    await nudges.sweep(msk(date(2026, 12, 2), 9))
    first = await queued(h, f"survey:{sid}:remind:%")
    assert len(first) == 9 and TEACHER not in {chat for _, chat, _, _ in first}
    director_reminder = next(p for _, chat, p, _ in first if chat == DIRECTOR)
    assert "отвечено 2 из 5" in (director_reminder.text or "")
    await nudges.sweep(msk(date(2026, 12, 3), 10))  # once a day, once per reminder
    assert len(await queued(h, f"survey:{sid}:remind:%")) == 9

    # The six extra teachers answer before the last day: no second reminder for them. A reminder
    # still waiting in the outbox is cancelled when its person finishes.
    for tg_id, _, _ in EXTRA_TEACHERS:
        person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None
        for q in range(3):
            await surveys.choose(person, sid, q, 0)
        assert (await surveys.choose(person, sid, 3, 0)).finished_now
    statuses = {key: status for key, _, _, status in await queued(h, f"survey:{sid}:remind:%")}
    extra_ids = {(await h.app.people.by_account(Channel.TELEGRAM, tg)).id for tg, _, _ in EXTRA_TEACHERS}  # type: ignore[union-attr]
    for key, status in statuses.items():
        pid = int(key.split(":")[3])
        assert status == ("cancelled" if pid in extra_ids else "pending"), key
    # The last day (Monday 7 December): the second reminder to the three still pending.
    await nudges.sweep(msk(date(2026, 12, 7), 9))
    second = await queued(h, f"survey:{sid}:remind:%:2")
    assert {chat for _, chat, _, _ in second} == {IT_OFFICER, DIRECTOR, 1003}
    assert "последний день" in (second[0][2].text or "")

    # The deadline passes: the survey closes; answers are refused; it becomes item 1.1's proof.
    h.clock.set(msk(date(2026, 12, 7), 18) + timedelta(minutes=1))
    await nudges.sweep(h.clock.now())
    closed = await surveys.survey(sid)
    assert closed is not None and closed.closed_at is not None
    assert (await surveys.choose(director, sid, 2, 0)).status == "closed"
    proof = await h.app.db.fetchone("SELECT item_number, body, status FROM task_proofs WHERE person_id = ?",
                                    (officer.id,))
    assert proof is not None and proof["item_number"] == "1.1" and proof["status"] == "submitted"
    assert "Ответов: 8 из 10" in proof["body"]


async def test_budget_one_nudge_a_day_plan_message_first(harness: Harness) -> None:
    """A person who had their plan message today gets the survey reminder another day."""
    h = harness
    await big_school(h)
    surveys, nudges = h.app.services.surveys, h.app.services.survey_nudges
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None
    sid, _, _ = await surveys.create(officer, surveys.templates["equipment"], Audience("role", "teacher"), 10,
                                     anonymous=False)
    teacher = await h.app.people.by_account(Channel.TELEGRAM, TEACHER)
    assert teacher is not None
    async with h.app.db.transaction() as conn:
        await TaskRepo.log_plan_day(conn, teacher.id, date(2026, 12, 2), msk(date(2026, 12, 2), 9))
    await nudges.sweep(msk(date(2026, 12, 2), 9))
    chats = {chat for _, chat, _, _ in await queued(h, f"survey:{sid}:remind:%")}
    assert TEACHER not in chats and len(chats) == 7  # the class teacher teaches too
    await nudges.sweep(msk(date(2026, 12, 3), 9))
    chats = {chat for _, chat, _, _ in await queued(h, f"survey:{sid}:remind:%")}
    assert TEACHER in chats


async def test_anonymous_survey_leaves_no_trace_after_closing(harness: Harness) -> None:
    h = harness
    await big_school(h)
    surveys = h.app.services.surveys
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None
    spec = surveys.templates["training_feedback"]
    sid, n, _ = await surveys.create(officer, spec, Audience("role", "teacher"), 3, anonymous=True)
    assert n == 8  # the teacher, the class teacher (she teaches too) and six more
    answered = []
    for tg_id in [TEACHER, *(tg for tg, _, _ in EXTRA_TEACHERS)]:
        person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None
        answered.append(person.id)
        await surveys.choose(person, sid, 0, tg_id % 5)
        await surveys.choose(person, sid, 1, 0)
        await surveys.choose(person, sid, 2, 1)
        await surveys.choose(person, sid, 2, 0)
        await surveys.typed(person, sid, 3, f"Пожелание {tg_id}")
    # The class teacher (5А) answers too: a class of one.
    ct = await h.app.people.by_account(Channel.TELEGRAM, 1003)
    assert ct is not None
    await surveys.choose(ct, sid, 0, 4)
    rows = await h.app.db.fetchall("SELECT person_id, sheet FROM survey_answers WHERE survey_id = ?", (sid,))
    assert {r[0] for r in rows} == {*answered, ct.id}  # while open: answers can be changed
    # One random sheet per person, never derived from who they are.
    open_sheets = {r[1] for r in rows}
    assert len(open_sheets) == 8 and not open_sheets & {str(pid) for pid in [*answered, ct.id]}

    closed = await surveys.close_now(officer, sid)
    assert closed.closed_at is not None
    answers = await h.app.db.fetchall("SELECT * FROM survey_answers WHERE survey_id = ?", (sid,))
    assert len(answers) == 7 * 4 + 1
    assert all(r["person_id"] is None and r["answered_at"] is None for r in answers)
    sheets = {r["sheet"] for r in answers}
    assert len(sheets) == 8 and not sheets & open_sheets  # new sheets: nothing joins the old rows
    # Nor in the file itself: the old rows' pages were overwritten and the write-ahead log folded in.
    path = h.app.settings.database_path
    raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    assert not [s for s in open_sheets if s.encode() in raw]
    # Every column is accounted for: no person, no time of answering, a random sheet, and only the
    # survey, the question, the value and the groups of five or more.
    assert set(dict(answers[0])) == {"survey_id", "person_id", "sheet", "question", "value", "role", "class_label",
                                     "answered_at"}
    # The class of one (5А) is not kept on its answers; the teachers' role group (8) is.
    assert {r["class_label"] for r in answers} == {None}
    assert {r["role"] for r in answers} == {"teacher"}
    # Who finished is still known (they are not reminded), but not when: every time is the deadline.
    finished = await h.app.db.fetchall(
        "SELECT DISTINCT finished_at FROM survey_respondents WHERE survey_id = ? AND finished_at IS NOT NULL", (sid,)
    )
    assert len(finished) == 1
    assert await h.app.db.fetchall("SELECT * FROM survey_reminders WHERE survey_id = ?", (sid,)) == []
    # Nothing else of ours holds an answer: no FSM state, no outbox row with a typed text.
    assert await h.app.db.fetchone("SELECT 1 FROM outbox WHERE payload LIKE '%Пожелание%'") is None


async def test_an_anonymous_survey_shows_nothing_below_five(harness: Harness) -> None:
    h = harness
    await big_school(h)
    surveys, results = h.app.services.surveys, h.app.services.survey_results
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None
    sid, _, _ = await surveys.create(officer, surveys.templates["training_feedback"], Audience("role", "teacher"), 3,
                                     anonymous=True)
    tg_ids = [TEACHER, *(tg for tg, _, _ in EXTRA_TEACHERS)]
    t = h.app.catalog.bind("ru")
    # While it is open nothing but the counts is shown, however many answered (watching the counts
    # move as one person answers would tell what they said).
    for tg_id in tg_ids:
        person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None
        await surveys.choose(person, sid, 0, 4)
        survey = await surveys.survey(sid)
        assert survey is not None
        res = await results.results(survey)
        assert res.hidden and res.questions == [] and res.by_role == []
        assert await results.chart_png(survey, t) is None and await results.xlsx(survey, t) is None
        assert "видны после его закрытия" in await results.summary_text(survey, t)
    # Closed with seven answers: the distribution; a survey closed with four: still nothing.
    survey = await surveys.close_now(officer, sid)
    res = await results.results(survey)
    assert not res.hidden and res.questions[0].counts[4] == ("5", 7, 100)
    few, _, _ = await surveys.create(officer, surveys.templates["training_feedback"], Audience("role", "teacher"), 3,
                                     anonymous=True)
    for tg_id in tg_ids[:4]:
        person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None
        await surveys.choose(person, few, 0, 4)
    closed_few = await surveys.close_now(officer, few)
    assert (await results.results(closed_few)).hidden
    assert "Ответов меньше 5" in await results.summary_text(closed_few, t)
    found = await results.xlsx(survey, t)
    assert found is not None
    logged = await h.app.db.fetchall("SELECT kind, object_id FROM access_log")
    assert [tuple(r) for r in logged] == [("survey_results", f"{sid}:xlsx")]


def test_a_deadline_in_working_days_skips_weekends_and_holidays(harness: Harness) -> None:
    cal = harness.app.school.calendar
    # Monday 2 November 2026: 4 November is a public holiday (content/school.example.toml).
    assert cal.add_working_days(date(2026, 11, 2), 3) == date(2026, 11, 6)
    assert cal.add_working_days(date(2026, 11, 6), 1) == date(2026, 11, 9)  # Friday -> Monday
    surveys = harness.app.services.surveys
    deadline = surveys.deadline_for(3, msk(date(2026, 11, 2), 12))
    assert deadline == msk(date(2026, 11, 6), 18)  # the end of work on the last day
