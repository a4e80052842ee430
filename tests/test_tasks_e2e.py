"""End to end against the fake Bot API server: a teacher is reminded of a plan task, marks it done
with a document, the director accepts it and the teacher is told."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from bot.services.roster import import_roster
from storage.tasks import TaskRepo
from tests.harness import DIRECTOR, TEACHER, roster_csv, running_bot
from tests.test_tasks import local


async def test_teacher_reminded_done_with_document_director_accepts(tg: FakeTelegram, tmp_path: Path) -> None:
    # Monday 1 February 2027, 08:00 Moscow: item 15 ("from February") starts today.
    clock = ManualClock(datetime(2027, 2, 1, 5, 0, tzinfo=UTC))
    async with running_bot(tg, tmp_path, clock=clock) as app:
        report = await import_roster(app.db, roster_csv(), "roster.csv", now=clock.now())
        assert report.ok
        teacher = tg.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
        director = tg.user(DIRECTOR, "Анна", "Сидорова", phone="+79000000002")
        for user in (teacher, director):
            await user.send("/start")
            ask = await tg.wait_for(user.id)
            await user.press_reply(ask, "📱 Поделиться номером телефона")
            await tg.wait_for(user.id, lambda m: "Морозов" in (m.plain or "") or "Сидорова" in (m.plain or ""))

        await app.tick()  # 08:00: before work, nothing about item 15 yet
        clock.set(local(app, "2027-02-01 09:00"))
        await app.tick()
        reminder = await tg.wait_for(TEACHER, lambda m: "пункт 15" in (m.plain or ""))
        assert "С сегодняшнего дня" in (reminder.plain or "")

        await teacher.press(reminder, "✅ Выполнено")
        await tg.wait_for(TEACHER, lambda m: "Пришлите подтверждение" in (m.plain or ""))
        await teacher.send_document(b"%PDF-1.4 journal", "журнал_5А.pdf", "application/pdf")
        await tg.wait_for(TEACHER, lambda m: "отправлено на проверку" in (m.plain or ""))
        proofs = await TaskRepo(app.db).proofs("15")
        assert len(proofs) == 1 and proofs[0].file_id and proofs[0].file_unique_id
        assert proofs[0].file_name == "журнал_5А.pdf"

        note = await tg.wait_for(DIRECTOR, lambda m: "Морозов Игорь Сергеевич отметил" in (m.plain or ""))
        await director.press(note, "👍 Принять")
        await tg.wait_for(DIRECTOR, lambda m: "Принято" in (m.plain or ""))
        told = await tg.wait_for(TEACHER, lambda m: "принял(а) выполнение пункта 15" in (m.plain or ""))
        assert "Сидорова Анна Ивановна" in (told.plain or "")
        assert (await TaskRepo(app.db).proofs("15"))[0].status == "accepted"

        # The teacher's /tasks now shows the item as accepted, and no more reminders come.
        await teacher.send("/tasks")
        listing = await tg.wait_for(TEACHER, lambda m: "Ваши задачи" in (m.plain or ""))
        assert "принято" in (listing.plain or "")
