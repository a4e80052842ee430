"""Surveys through the real Dispatcher (issue #26): the IT officer creates one from a template and from
a file in the bot; respondents answer a question at a time with buttons and typed messages, stop and
resume, change answers; forged and stale buttons are refused; the results, the chart, the XLSX and the
free-text answers (the author only)."""

from __future__ import annotations

import io
from typing import Any

from aiogram.methods import SendDocument, SendPhoto, TelegramMethod
from openpyxl import Workbook, load_workbook

from bot.channels import Channel
from tests.harness import DIRECTOR, IT_OFFICER, PARENT_TWO, TEACHER, Harness
from tests.help_helpers import alerts, buttons, last_with_buttons, texts
from tests.surveys_helpers import big_school


def press_label(calls: list[TelegramMethod[Any]], label: str) -> str:
    """The callback data of the last button whose text contains `label`."""
    for call in reversed(calls):
        for text, data in buttons(call):
            if label in text:
                return data
    raise AssertionError(f"no button {label!r} in {[buttons(c) for c in calls]}")


async def create_staff_survey(h: Harness) -> None:
    calls = await h.text(IT_OFFICER, "/surveys")
    calls = await h.press(IT_OFFICER, press_label(calls, "Управление опросами"))
    calls = await h.press(IT_OFFICER, press_label(calls, "Новый опрос"))
    calls = await h.press(IT_OFFICER, press_label(calls, "ИКТ-компетентность"))
    # The template's own audience comes first, starred.
    assert buttons(last_with_buttons(calls))[0][0] == "⭐ Все сотрудники"
    calls = await h.press(IT_OFFICER, press_label(calls, "Все сотрудники"))
    calls = await h.press(IT_OFFICER, press_label(calls, "5 раб. дн."))
    calls = await h.press(IT_OFFICER, press_label(calls, "Именной"))
    card = texts(calls)[0]
    assert "Вопросов: 5" in card and "все сотрудники — 10 чел., в мессенджере: 10" in card
    assert "до 07.12.2026 включительно" in card
    calls = await h.press(IT_OFFICER, press_label(calls, "Отправить опрос"))
    assert "адресатов 10, приглашений 10" in texts(calls)[0]


async def test_staff_answer_stop_resume_and_change(harness: Harness) -> None:
    h = harness
    await big_school(h)
    await create_staff_survey(h)

    # The teacher opens the survey from the invitation's button: question 1, the 1-5 scale.
    calls = await h.press(TEACHER, "svy:open:1:0:0:0")
    assert "Вопрос 1 из 5" in texts(calls)[0]
    assert [b for b, _ in buttons(calls[-1])][:5] == ["1", "2", "3", "4", "5"]
    calls = await h.press(TEACHER, press_label(calls, "4"))
    assert "Ответ сохранён" in alerts(calls)
    assert "Ваш ответ: 4" in texts(calls)[0]  # the question's message, edited
    assert "Вопрос 2 из 5" in texts(calls)[1]
    calls = await h.press(TEACHER, press_label(calls, "Пробовал(а)"))
    assert "Вопрос 3 из 5" in texts(calls)[-1]
    # A multiple choice: two ticks, then "done".
    calls = await h.press(TEACHER, press_label(calls, "Вход в Дневник.ру"))
    assert ("☑️ Вход в Дневник.ру", "svy:a:1:2:0:0") in buttons(calls[-1])
    calls = await h.press(TEACHER, press_label(calls, "Отчёты"))
    calls = await h.press(TEACHER, press_label(calls, "Готово"))
    assert "Вопрос 4 из 5" in texts(calls)[-1]
    calls = await h.press(TEACHER, press_label(calls, "Да, в группе"))
    assert "Напишите ответ сообщением" in texts(calls)[-1]
    calls = await h.text(TEACHER, "Медленный компьютер в кабинете")
    assert "Спасибо! Вы ответили на все вопросы" in texts(calls)[-1]
    state = await h.app.services.surveys.state(await h.app.people.by_account(Channel.TELEGRAM, TEACHER), 1)  # type: ignore[arg-type]
    assert state.answers == {0: 4, 1: 1, 2: [0, 4], 3: 1, 4: "Медленный компьютер в кабинете"}

    # Change answers: a walk through every question from the first, the current answer marked.
    calls = await h.press(TEACHER, press_label(calls, "Изменить ответы"))
    assert "Ваш ответ: 4" in texts(calls)[0]
    assert ("✅ 4", "svy:a:1:0:3:1") in buttons(calls[-1])
    calls = await h.press(TEACHER, "svy:a:1:0:1:1")
    assert "Вопрос 2 из 5" in texts(calls)[-1]  # walking: the next one, although answered
    # An old question's button still changes its answer, until the deadline.
    await h.press(TEACHER, "svy:a:1:3:2:0")
    state = await h.app.services.surveys.state(await h.app.people.by_account(Channel.TELEGRAM, TEACHER), 1)  # type: ignore[arg-type]
    assert state.answers[0] == 2 and state.answers[3] == 2

    # The director stops after one question and resumes from the list at question 2.
    calls = await h.press(DIRECTOR, "svy:open:1:0:0:0")
    calls = await h.press(DIRECTOR, press_label(calls, "5"))
    calls = await h.press(DIRECTOR, press_label(calls, "Продолжить позже"))
    assert "ответы сохранены" in texts(calls)[-1]
    calls = await h.text(DIRECTOR, "🗳 Опросы")
    assert ("ИКТ-компетентность сотрудников — 1 из 5, до 07.12.2026", "svy:open:1:0:0:0") in buttons(calls[-1])
    calls = await h.press(DIRECTOR, "svy:open:1:0:0:0")
    assert "Вопрос 2 из 5" in texts(calls)[-1]
    # A typed number where a number is wanted is checked (question 4 is a choice: a number question
    # is in the equipment survey); a forged option, a parent's press, a missing survey: refused.
    calls = await h.press(DIRECTOR, "svy:a:1:1:9:0")
    assert alerts(calls) == ["Такого варианта ответа нет."]
    calls = await h.press(PARENT_TWO, "svy:a:1:0:0:0")
    assert alerts(calls) == ["Этот опрос адресован не вам."]
    calls = await h.press(TEACHER, "svy:open:99:0:0:0")
    assert alerts(calls) == ["Опрос не найден или закрыт."]

    # The deadline passes (ManualClock): the buttons answer "closed", nothing is recorded.
    survey = await h.app.services.surveys.survey(1)
    assert survey is not None
    h.clock.set(survey.deadline)
    await h.app.tick()
    calls = await h.press(TEACHER, "svy:a:1:0:4:0")
    assert "закрыт" in alerts(calls)[0]


def _xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def test_survey_from_a_file_errors_then_sent(harness: Harness) -> None:
    h = harness
    await big_school(h)
    calls = await h.press(IT_OFFICER, "adm:surveys")
    calls = await h.press(IT_OFFICER, press_label(calls, "Новый опрос"))
    calls = await h.press(IT_OFFICER, press_label(calls, "Из файла"))
    assert "TOML или XLSX" in texts(calls)[0]
    bad = 'title = "Кабинеты"\n\n[[questions]]\nkind = "число"\ntext = "Сколько компьютеров?"\noptions = ["1"]\n'
    calls = await h.document(IT_OFFICER, bad.encode(), "опрос.toml", "application/toml")
    report = texts(calls)[0]
    assert "Опрос не создан" in report
    assert "Строка 3, поле «options»: у шкалы, числа и текста вариантов не бывает" in report
    assert await h.app.db.fetchval("SELECT count(*) FROM surveys") == 0  # nothing half-written
    good = _xlsx([["Тип", "Вопрос", "Варианты"], ["заголовок", "Кабинеты", ""],
                  ["число", "Сколько компьютеров в кабинете?", ""], ["один вариант", "Есть ли принтер?", "Да;Нет"]])
    calls = await h.document(IT_OFFICER, good, "кабинеты.xlsx",
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "Файл прочитан: «Кабинеты», вопросов: 2." in texts(calls)[0]
    calls = await h.press(IT_OFFICER, press_label(calls, "Учителя"))
    calls = await h.press(IT_OFFICER, press_label(calls, "3 раб. дн."))
    calls = await h.press(IT_OFFICER, press_label(calls, "Анонимный"))
    calls = await h.press(IT_OFFICER, press_label(calls, "Отправить опрос"))
    assert "адресатов 8" in texts(calls)[0]
    # A typed number: a word is refused, "3,5" taken as 3.5.
    calls = await h.press(TEACHER, "svy:open:1:0:0:0")
    calls = await h.text(TEACHER, "три")
    assert "Нужно число" in texts(calls)[0]
    calls = await h.text(TEACHER, "3,5")
    assert "Вопрос 2 из 2" in texts(calls)[-1]
    # /cancel while a typed answer is awaited stops; the list resumes at the unanswered question.
    other = 2001
    calls = await h.press(other, "svy:open:1:0:0:0")
    calls = await h.text(other, "/cancel")
    assert "остальные ответы сохранены" in texts(calls)[0]
    calls = await h.text(other, "12")  # no longer taken as an answer
    assert await h.app.db.fetchval("SELECT count(*) FROM survey_answers WHERE value = '12'") == 0


async def test_results_chart_xlsx_and_free_text_for_the_author_only(harness: Harness) -> None:
    h = harness
    await big_school(h)
    await create_staff_survey(h)
    surveys = h.app.services.surveys
    answers = {1001: (4, 0, [5], 2), 1002: (5, 0, [4], 2), 1003: (2, 2, [0, 1], 0), 1004: (1, 2, [0], 0)}
    for tg_id, (scale, exp, helps, training) in answers.items():
        person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None
        await surveys.choose(person, 1, 0, scale - 1)
        await surveys.choose(person, 1, 1, exp)
        for i in helps:
            await surveys.choose(person, 1, 2, i)
        await surveys.choose(person, 1, 3, training)
        await surveys.typed(person, 1, 4, f"Текст от {tg_id}")
    calls = await h.press(IT_OFFICER, "sva:view:1:")
    view = texts(calls)[0]
    assert "Ответили 4 из 10, полностью — 4" in view
    assert "Да, индивидуально: 2 (50%)" in view and "Нет: 2 (50%)" in view
    assert "свободных ответов: 4" in view and "Текст от" not in view
    calls = await h.press(IT_OFFICER, "sva:chart:1:")
    photo = next(c for c in calls if isinstance(c, SendPhoto))
    png = photo.photo.data  # type: ignore[union-attr]
    assert png.startswith(b"\x89PNG")
    calls = await h.press(IT_OFFICER, "sva:xlsx:1:")
    doc = next(c for c in calls if isinstance(c, SendDocument))
    wb = load_workbook(io.BytesIO(doc.document.data))  # type: ignore[union-attr]
    assert wb.sheetnames == ["Итоги", "По классам", "По ролям"]
    ws = wb["Итоги"]
    assert ws.page_setup.orientation == "portrait" and ws.page_setup.fitToWidth == 1
    assert ws["A3"].font.name == "Arial" and ws["A3"].border.left.style == "thin"
    flat = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert not any("Текст от" in v for v in flat)  # free text is never quoted in a report
    # Free text: the author sees it; the director (an author too, of other surveys) does not.
    calls = await h.press(IT_OFFICER, "sva:texts:1:")
    assert "Текст от 1003" in texts(calls)[0]
    calls = await h.press(DIRECTOR, "sva:texts:1:")
    assert alerts(calls) == ["Свободные ответы видит только автор опроса."]
    # Closing early hands the result to plan item 1.1 as the author's proof.
    calls = await h.press(IT_OFFICER, "sva:close:1:")
    assert "закрыт" in alerts(calls)[0]
    proof = await h.app.db.fetchone("SELECT item_number, body FROM task_proofs")
    assert proof is not None and proof["item_number"] == "1.1" and "Текст от" not in proof["body"]
