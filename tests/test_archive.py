"""Plan item 19: each May the class teacher confirms, per class, that the journal was printed, laced,
sealed, signed and handed to the archive; the IT officer sees which classes are missing and prints
the checklist and the consent register; a weekly nudge in late May goes through the outbox."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.methods import SendDocument

from bot.channels import Channel
from bot.tg.callbacks import ArchiveStep, ArchiveView
from tests.consent_helpers import answer, buttons, last_with_buttons, texts
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_ONE, Harness, roster_csv

MSK = ZoneInfo("Europe/Moscow")
PHONES = {IT_OFFICER: "+79000000001", CLASS_TEACHER: "+79000000003", PARENT_ONE: "+79000000006"}


async def _archive_rows(h: Harness) -> list[tuple[str, dict[str, object]]]:
    rows = await h.app.db.fetchall(
        "SELECT dedupe_key, payload FROM outbox WHERE dedupe_key LIKE 'archive:%' ORDER BY id"
    )
    return [(str(r[0]), json.loads(r[1])) for r in rows]


async def _tick_at(h: Harness, *moment: int) -> list[str]:
    h.clock.set(datetime(*moment, tzinfo=MSK))  # type: ignore[misc]
    await h.app.tick()
    return [key for key, _ in await _archive_rows(h)]


async def test_class_teacher_confirms_each_step_and_the_it_officer_prints(harness: Harness) -> None:
    h = harness
    assert (await h.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=h.clock.now())).ok
    for user, phone in PHONES.items():
        await h.contact(user, phone, user)
    teacher = await h.app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
    assert teacher is not None
    open_callback = ArchiveView(action="open").pack()
    assert open_callback == "arv:open"

    # No nudge before late May; the first working morning of the week after May 20: one, with a button.
    assert await _tick_at(h, 2027, 5, 21, 10, 0) == []
    assert await _tick_at(h, 2027, 5, 24, 10, 0) == [f"archive:2026:{teacher.id}:2027-W21"]
    assert await _tick_at(h, 2027, 5, 25, 10, 0) == [f"archive:2026:{teacher.id}:2027-W21"]  # once a week
    payload = (await _archive_rows(h))[0][1]
    assert "Журнал 5А класса ещё не сдан" in str(payload["text"])
    assert "распечатан, прошнурован, опечатан, подписан, сдан в архив" in str(payload["text"])
    assert payload["reply_markup"] == {
        "inline_keyboard": [[{"text": "🗄 Открыть чек-лист", "callback_data": open_callback}]]
    }

    # Others cannot mark: a parent (no effect), the teacher for another class (refused).
    await h.press(PARENT_ONE, ArchiveStep(cls="5А", step="printed").pack())
    forged = await h.press(CLASS_TEACHER, ArchiveStep(cls="6Б", step="printed").pack())
    assert "только журнал своего класса" in str(answer(forged).text)
    assert await h.app.db.fetchval("SELECT count(*) FROM archive_checks") == 0

    calls = await h.press(CLASS_TEACHER, open_callback)
    view = texts(calls)[-1]
    assert "Журнал 5А класса:" in view and "⬜ распечатан" in view
    for step in ("распечатан", "прошнурован", "опечатан", "подписан", "сдан в архив"):
        calls = await h.press(CLASS_TEACHER, buttons(last_with_buttons(calls))[f"Отметить: {step} (5А)"])
    done = texts(calls)[-1]
    assert "✅ сдан в архив — Кузнецова Ольга Николаевна, 25.05.2027" in done
    assert "✅ Журнал 5А класса сдан в архив." in done

    # The IT officer sees the class still missing and prints the checklist and the consent register.
    calls = await h.text(IT_OFFICER, "/archive")
    view = texts(calls)[-1]
    assert "Не сданы полностью: 6Б" in view and "Сданы: 5А" in view
    calls = await h.press(IT_OFFICER, buttons(last_with_buttons(calls))["🖨 Чек-лист (PDF)"])
    pdf = next(c for c in calls if isinstance(c, SendDocument))
    assert pdf.document.data.startswith(b"%PDF")  # type: ignore[union-attr]
    calls = await h.press(IT_OFFICER, ArchiveView(action="register").pack())
    register = next(c for c in calls if isinstance(c, SendDocument))
    assert register.document.data.startswith(b"%PDF")  # type: ignore[union-attr]
    # A class teacher cannot print the school's registers.
    refused = await h.press(CLASS_TEACHER, ArchiveView(action="pdf").pack())
    assert not any(isinstance(c, SendDocument) for c in refused)

    # The journal is in the archive: no nudge the next week.
    assert await _tick_at(h, 2027, 5, 31, 10, 0) == [f"archive:2026:{teacher.id}:2027-W21"]
