"""One source of truth for the plan: /tasks, the reminders and digests, /status, the chart and the
XLSX report read the same state of every plan occurrence and agree, on one database."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import datetime
from typing import Any

from openpyxl import load_workbook

from bot.channels import Channel
from bot.domain.calendar import deadline_words
from bot.services import tasks as svc
from bot.services.chart import chart_input
from bot.services.report import DATED_KINDS
from bot.services.task_actions import text_proof
from tests.harness import DIRECTOR, IT_OFFICER, Harness
from tests.test_tasks import local, seed, sent


async def _person(h: Harness, tg_id: int) -> Any:
    person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
    assert person is not None
    return person


async def _all_pages(h: Harness, tg_id: int) -> str:
    calls = await h.text(tg_id, "/tasks")
    pages = [sent(calls)[0]]
    page = 1
    while True:
        markup = calls[-1].reply_markup  # type: ignore[attr-defined]
        if markup is None or not any(b.callback_data == f"tpg:{page}" for b in markup.inline_keyboard[-1]):
            break
        calls = await h.press(tg_id, f"tpg:{page}")
        pages.append(sent(calls)[0])
        page += 1
    return "\n".join(pages)


async def test_tasks_reminders_status_chart_and_report_agree(harness: Harness) -> None:
    app = harness.app
    await seed(app)
    officer = await _person(harness, IT_OFFICER)
    director = await _person(harness, DIRECTOR)
    # Item 16: quarter I backed up on time, quarter II late (logged in January), III and IV not yet.
    harness.clock.set(local(app, "2026-10-22 11:00"))
    await app.services.backup.log_journal(quarter=1, label="Флешка №1", person_id=officer.id)
    harness.clock.set(local(app, "2027-01-12 11:00"))
    await app.services.backup.log_journal(quarter=2, label="Флешка №2", person_id=officer.id)
    # Item 3 accepted; item 11 submitted, waiting for review.
    proof = await app.services.task_actions.submit_proof(director, "3", "2026-10-31", text_proof("Приказ №12"))
    await app.services.task_actions.review(officer, proof, accept=True, comment=None)
    await app.services.task_actions.submit_proof(officer, "11", "2027-01-31", text_proof("Коды розданы"))
    harness.clock.set(local(app, "2027-04-05 10:00"))  # Monday: Q3 (20 March) and item 11 overdue
    today = harness.clock.now().astimezone(app.school.tz).date()
    t = app.catalog.bind("ru")

    # The truth, read once.
    snap = await app.services.tasks.snapshot()
    truth = {(task.item.number, task.key): snap.summary_state(task, today) for task in snap.dated_tasks()}
    assert truth[("16", "q1-2026")] == truth[("16", "q2-2026")] == "done"
    assert truth[("16", "q3-2026")] == "overdue" and truth[("16", "q4-2026")] == "open"
    assert truth[("3", "2026-10-31")] == "done" and truth[("11", "2027-01-31")] == "overdue"
    counts = Counter(truth.values())

    # 1. /status: the counts, in the message the IT officer reads.
    data = await app.services.status.collect(None)
    assert data.tasks is not None
    assert (data.tasks.done, data.tasks.open, data.tasks.overdue) == (counts["done"], counts["open"], counts["overdue"])
    text = sent(await harness.text(IT_OFFICER, "/status"))[0]
    assert f"выполнено: {counts['done']} · в работе: {counts['open']} · просрочено: {counts['overdue']}" in text
    assert {o.number for o in data.tasks.worst} == {n for (n, _), s in truth.items() if s == "overdue"}

    # 2. The chart draws the same three numbers.
    chart = chart_input(data, t)
    assert chart.tasks is not None
    assert [n for _, n in chart.tasks] == [counts["done"], counts["open"], counts["overdue"]]

    # 3. The XLSX report: one row per occurrence, in the same state.
    wb = load_workbook(io.BytesIO(await app.services.report.render_report(t)))
    rows = [[c.value for c in r] for r in wb["План"].iter_rows(min_row=2)]
    words = {"выполнено": "done", "в работе": "open", "просрочено": "overdue"}
    # A deadline that is a day is a date cell (read back as a datetime), any other stays in words.
    sheet = {
        (str(r[0]), r[2].date().isoformat() if isinstance(r[2], datetime) else str(r[2])): words[str(r[4])]
        for r in rows if r[4] in words
    }
    expected = {
        (
            task.item.number,
            task.occ.due.isoformat() if task.occ.due is not None and task.item.deadline.kind in DATED_KINDS
            else deadline_words(task.item.deadline, task.occ, "ru"),
        ): truth[(task.item.number, task.key)]
        for task in snap.dated_tasks()
    }
    assert sheet == expected

    # 4. Reminders and digests: this Monday's digest lists exactly the overdue occurrences, and no
    # reminder is due for a closed one.
    plan = await app.services.reminders.plan_at(harness.clock.now())
    [digest] = [d for d in plan.digests if d.person.id == director.id]
    assert {(task.item.number, task.key) for task in digest.tasks} == {k for k, s in truth.items() if s == "overdue"}
    for moment in ("2026-12-21 09:00", "2026-12-28 09:00"):  # Q2's reminders, had it not been logged then
        later = await app.services.reminders.plan_at(local(app, moment))
        assert not [r for r in later.reminders if (r.task.item.number, r.task.key) == ("16", "q1-2026")]

    # 5. /tasks: the IT officer's list shows the overdue occurrences, labelled by their quarter, and
    # not the closed ones.
    listing = await _all_pages(harness, IT_OFFICER)
    assert "Пункт 16 · III четверть" in listing
    assert "Пункт 16 · I четверть" not in listing and "Пункт 16 · II четверть" not in listing
    for (number, key), state in truth.items():
        task = snap.task(number, key)
        assert task is not None
        if state == "overdue" and officer.roles & set(task.item.responsible) and not snap.done_by(task, officer.id):
            assert re.search(rf"<b>{re.escape(svc.task_label(task, t))}\.</b>", listing), (number, key)
