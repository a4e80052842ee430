"""Plan tasks through the real Dispatcher: plan import, /tasks, done with proof, review, snooze,
editing, forged callbacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.app import App
from bot.channels import Channel
from bot.cli import cmd_import
from bot.services.imports import ImportOptions
from bot.services.plan import PLAN_PATH
from storage.accounts import AccountRepo
from storage.tasks import TaskRepo
from tests.delivery_helpers import TG_CHAT
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, TEACHER, Harness, roster_csv

PHONE_TO_TG = {"1": IT_OFFICER, "2": DIRECTOR, "3": CLASS_TEACHER, "4": TEACHER, "5": 1005, "6": 1006}


async def seed(app: App) -> None:
    """The small roster, every person with a phone linked to Telegram (ids from tests.harness)."""
    now = app.clock.now()
    report = await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=now)
    assert report.ok, report.errors
    async with app.db.transaction() as conn:
        for person in await app.people.active():
            if person.phone:
                await AccountRepo.link(conn, person.id, Channel.TELEGRAM, PHONE_TO_TG[person.phone[-1]], None, now)


def local(app: App, text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=app.school.tz).astimezone(UTC)


async def outbox(app: App, prefix: str = "task:") -> list[Any]:
    return await app.db.fetchall(
        f"SELECT dedupe_key, {TG_CHAT} AS chat_id, payload, next_attempt_at, created_at, data_class FROM outbox"
        " WHERE dedupe_key LIKE ?"
        " ORDER BY id",
        (prefix + "%",),
    )


def sent(calls: list[Any]) -> list[str]:
    return [c.text or "" for c in calls if isinstance(c, SendMessage | EditMessageText)]


def alerts(calls: list[Any]) -> list[str]:
    return [c.text or "" for c in calls if isinstance(c, AnswerCallbackQuery)]


# --- import -------------------------------------------------------------------------------------


async def test_plan_loads_on_first_use_and_reimport_is_idempotent(harness: Harness) -> None:
    app = harness.app
    snap = await app.services.tasks.snapshot()
    assert len(snap.items) == 22 and snap.year == 2026
    item3 = snap.item("3")
    assert item3 is not None and (item3.deadline.year, item3.deadline.month) == (2026, 10)
    importer = app.importers["plan"]
    outcome = await importer.run(PLAN_PATH.read_bytes(), "plan.toml", ImportOptions())
    assert outcome.ok and outcome.counts == {"added": 0, "updated": 0, "unchanged": 22, "deactivated": 0}
    moved = await importer.run(PLAN_PATH.read_bytes(), "plan.toml", ImportOptions(school_year=2027))
    assert moved.counts["updated"] == 5  # items 3, 8, 11, 15 and 18 carry a year
    item8 = await app.services.tasks.get_item("8")
    assert item8 is not None and item8.deadline.date is not None and item8.deadline.date.year == 2028


async def test_bad_plan_writes_nothing_and_names_the_line(harness: Harness) -> None:
    app = harness.app
    await app.services.tasks_import.ensure_plan()
    bad = PLAN_PATH.read_text(encoding="utf-8").replace('kind = "date", date = 2011-05-31', 'kind = "date"')
    outcome = await app.importers["plan"].run(bad.encode(), "plan.toml", ImportOptions())
    assert not outcome.ok
    error = outcome.errors[0]
    assert error.code == "plan.date_required" and error.params["item"] == "8"
    assert 'kind = "date"' in bad.splitlines()[error.line - 1]  # the deadline line of item 8
    item8 = await app.services.tasks.get_item("8")
    assert item8 is not None and item8.deadline.date is not None  # untouched


async def test_cli_import_plan(harness: Harness, capsys: Any) -> None:
    import argparse


    args = argparse.Namespace(
        kind="plan", file=str(PLAN_PATH), dry_run=False, school_year=2026, confirm_deactivations=False
    )
    assert await cmd_import(harness.app, args, harness.app.catalog.bind("ru")) == 0
    assert "добавлено: 22" in capsys.readouterr().out


# --- listing and opening --------------------------------------------------------------------------


async def test_tasks_list_is_paginated_and_sorted(harness: Harness) -> None:
    app = harness.app
    await seed(app)  # clock: Monday 2026-11-30, item 3 (October) and Q1 of item 16 overdue
    calls = await harness.text(IT_OFFICER, "/tasks")
    text = sent(calls)[0]
    assert len(text) < 4096
    first = text.split("\n\n")[1]
    assert "просрочено" in first and "<b>Пункт 16 · I четверть.</b>" in first  # overdue first
    markup = calls[0].reply_markup  # type: ignore[attr-defined]
    # Occurrences of a recurring item are told apart by their period, never identical buttons.
    labels = [row[0].text for row in markup.inline_keyboard[:-1]]
    assert labels[0] == "📄 Пункт 16 · I четверть" and len(set(labels)) == len(labels)
    assert markup.inline_keyboard[-1][-1].callback_data == "tpg:1"
    pages: list[str] = [text]
    page = 1
    while True:
        calls = await harness.press(IT_OFFICER, f"tpg:{page}")
        pages.append(sent(calls)[0])
        nav = calls[-1].reply_markup.inline_keyboard[-1]  # type: ignore[attr-defined]
        if not any(b.callback_data == f"tpg:{page + 1}" for b in nav):
            break
        page += 1
    everything = "\n".join(pages)
    assert "срок не задан" in everything  # unset items are listed for the IT officer
    # A status that only repeats the deadline is said once.
    assert "срок не задан · срок не задан" not in everything
    assert "по плану мероприятий · по плану мероприятий" not in everything
    assert all(len(p) < 4096 for p in pages)

    calls = await harness.text(DIRECTOR, "/tasks")
    assert "<b>Пункт 3.</b>" in sent(calls)[0] and "до 31 октября 2026" in sent(calls)[0]


async def test_teacher_sees_own_tasks_only_and_forged_callbacks_are_refused(harness: Harness) -> None:
    app = harness.app
    await seed(app)
    calls = await harness.text(TEACHER, "/tasks")
    text = sent(calls)[0]
    assert "<b>Пункт 15.</b>" in text and "с 1 февраля 2027" in text and "<b>Пункт 3.</b>" not in text
    # Item 3 belongs to the director: a forged "done" is refused and nothing is asked.
    calls = await harness.press(TEACHER, "tsk:done:3:2026-10-31")
    assert "не ваша" in alerts(calls)[0]
    calls = await harness.press(TEACHER, "tsk:open:3:2026-10-31")
    assert "не ваша" in alerts(calls)[0]
    calls = await harness.press(TEACHER, "tpr:accept:1")
    assert "директор" in alerts(calls)[0]
    calls = await harness.press(TEACHER, "ted:deadline:8:")
    assert "ответственный по информатизации" in alerts(calls)[0]
    calls = await harness.press(TEACHER, "tsk:open:99:-")
    assert "не существует" in alerts(calls)[0]


async def test_done_with_proof_review_and_several_responsible(harness: Harness) -> None:
    app = harness.app
    await seed(app)
    # Item 11 (January) has the IT officer and the class teacher responsible.
    harness.clock.set(local(app, "2027-01-25 10:00"))
    calls = await harness.press(CLASS_TEACHER, "tsk:done:11:2027-01-31")
    assert "Пришлите подтверждение" in sent(calls)[0]
    calls = await harness.document(CLASS_TEACHER, b"%PDF-1.4 report", "отчёт.pdf", "application/pdf")
    assert "отправлено на проверку" in sent(calls)[0]
    proofs = await TaskRepo(app.db).proofs("11")
    assert proofs[0].kind == "document" and proofs[0].file_id and proofs[0].file_unique_id
    assert proofs[0].status == "submitted"
    notes = await outbox(app, "task:proof:")
    assert {row["chat_id"] for row in notes} == {DIRECTOR, IT_OFFICER}
    assert "Кузнецова Ольга Николаевна" in notes[0]["payload"]

    # The IT officer submits a link for the same task; the task view shows who did what.
    await harness.press(IT_OFFICER, "tsk:done:11:2027-01-31")
    await harness.text(IT_OFFICER, "Готово: https://dnevnik.ru/school/1")
    calls = await harness.press(DIRECTOR, "tsk:open:11:2027-01-31")
    view = sent(calls)[0]
    assert "Кузнецова Ольга Николаевна: документ: отчёт.pdf — на проверке" in view
    assert "Петров Пётр Петрович: ссылка" in view

    # The director returns the class teacher's proof with a comment; the teacher is told.
    first = proofs[0].id
    calls = await harness.press(DIRECTOR, f"tpr:return:{first}")
    assert "комментарий" in sent(calls)[0]
    calls = await harness.text(DIRECTOR, "Нет подписи директора")
    assert "Возвращено" in sent(calls)[0]
    told = await outbox(app, f"task:review:{first}")
    assert told[0]["chat_id"] == CLASS_TEACHER and "Нет подписи директора" in told[0]["payload"]
    # A second review of the same proof is refused.
    calls = await harness.press(DIRECTOR, f"tpr:accept:{first}")
    assert "уже проверено" in alerts(calls)[0]
    # The IT officer may not review their own proof from the view, but the director accepts it.
    second = (await TaskRepo(app.db).proofs("11"))[1].id
    await harness.press(DIRECTOR, f"tpr:accept:{second}")
    assert (await app.services.tasks.get_proof(second)).status == "accepted"  # type: ignore[union-attr]
    told = await outbox(app, f"task:review:{second}")
    assert told[0]["chat_id"] == IT_OFFICER and "принял" in told[0]["payload"]
    # Accepted: no more reminders for anyone about it.
    plan = await app.services.reminders.plan_at(local(app, "2027-02-01 10:00"))
    assert not [r for r in plan.reminders if r.task.item.number == "11"]


async def test_snooze_reminds_next_working_morning_once(harness: Harness) -> None:
    app = harness.app
    await seed(app)
    harness.clock.set(local(app, "2027-02-05 15:00"))  # Friday
    calls = await harness.press(TEACHER, "tsk:snooze:15:from-2027-02-01")
    assert "08.02.2027 09:00" in alerts(calls)[0]
    await app.services.reminders.sweep(local(app, "2027-02-06 12:00"))  # Saturday: nothing is composed
    assert await outbox(app, "plan:") == []
    await app.services.reminders.sweep(local(app, "2027-02-08 09:00"))
    await app.services.reminders.sweep(local(app, "2027-02-08 10:00"))
    # One message for the teacher that Monday: item 15 once, though both its start and the snooze are due.
    [snoozed] = [r for r in await outbox(app, "plan:") if r["chat_id"] == TEACHER]
    assert snoozed["payload"].count("Пункт 15") == 3  # the line and its two buttons (done, snooze), each naming it
    kinds = await app.db.fetchall("SELECT kind FROM task_reminders WHERE item_number = '15'")
    assert [r[0] for r in kinds if r[0].startswith("snooze-")] != []


async def test_it_officer_edits_deadline_and_roles(harness: Harness) -> None:
    app = harness.app
    await seed(app)
    calls = await harness.press(IT_OFFICER, "tsk:open:4:-")  # unset item
    buttons = [b.callback_data for row in calls[-1].reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
    assert "ted:deadline:4:" in buttons and "ted:roles:4:" in buttons
    calls = await harness.press(IT_OFFICER, "ted:deadline:4:")
    calls = await harness.press(IT_OFFICER, "ted:kind:4:date")
    assert "дд.мм.гггг" in sent(calls)[0]
    calls = await harness.text(IT_OFFICER, "31.02.2027")
    assert "Не понял дату" in sent(calls)[0]
    calls = await harness.text(IT_OFFICER, "15.12.2026")
    assert "до 15 декабря 2026" in sent(calls)[0]
    item = await app.services.tasks.get_item("4")
    assert item is not None and item.deadline.kind == "date"

    # Roles: add the teacher role, drop the IT officer: the teachers are told.
    await harness.press(IT_OFFICER, "ted:roles:4:")
    await harness.press(IT_OFFICER, "ted:role:4:teacher")
    await harness.press(IT_OFFICER, "ted:role:4:it_officer")
    calls = await harness.press(IT_OFFICER, "ted:save:4:")
    assert "учитель" in sent(calls)[0]
    item = await app.services.tasks.get_item("4")
    assert item is not None and item.responsible == ("teacher",)
    told = {row["chat_id"] for row in await outbox(app, "task:edit:4:")}
    assert told == {CLASS_TEACHER, TEACHER}
    calls = await harness.text(TEACHER, "/tasks")
    assert "<b>Пункт 4.</b>" in "\n".join(sent(calls))


async def test_menu_button_while_proof_is_awaited_cancels(harness: Harness) -> None:
    await seed(harness.app)
    await harness.press(TEACHER, "tsk:done:15:from-2027-02-01")
    calls = await harness.text(TEACHER, "📋 Мои задачи")
    assert "Ваши задачи" in sent(calls)[0]
    calls = await harness.text(TEACHER, "просто текст")  # no longer taken as a proof
    assert await TaskRepo(harness.app.db).proofs("15") == []
    await harness.press(TEACHER, "tsk:done:15:from-2027-02-01")
    # A menu button leaves the flow (bot.tg.middlewares.MenuLeavesFlow), even one this person lacks
    # (typed, or on an old keyboard): not taken as a proof; the fallback points to the menu.
    calls = await harness.text(TEACHER, "⚙️ Администрирование")
    assert "кнопками меню" in sent(calls)[0]
    assert await TaskRepo(harness.app.db).proofs("15") == []
    assert await harness.app.db.fetchval("SELECT count(*) FROM fsm WHERE state IS NOT NULL") == 0
    calls = await harness.press(TEACHER, "tsk:done:15:from-2027-02-01")
    calls = await harness.text(TEACHER, "/cancel")
    assert "Отменено" in sent(calls)[0]
