"""End to end against the fake Bot API server: a teacher is reminded of a plan task, marks it done
with a document (or a photo), the director receives the file itself with the review buttons, accepts
it and the teacher is told."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from storage.tasks import TaskRepo
from tests.harness import DIRECTOR, IT_OFFICER, TEACHER, roster_csv, running_bot
from tests.test_fakeapi_messages import png
from tests.test_tasks import local


async def test_teacher_reminded_done_with_document_director_accepts(tg: FakeTelegram, tmp_path: Path) -> None:
    # Monday 1 February 2027, 08:00 Moscow: item 15 ("from February") starts today.
    clock = ManualClock(datetime(2027, 2, 1, 5, 0, tzinfo=UTC))
    async with running_bot(tg, tmp_path, clock=clock) as app:
        report = await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=clock.now())
        assert report.ok
        teacher = tg.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
        director = tg.user(DIRECTOR, "Анна", "Сидорова", phone="+79000000002")
        for user in (teacher, director):
            await user.send("/start")
            ask = await tg.wait_for(user.id)
            await user.press_reply(ask, "📱 Поделиться номером телефона")
            await tg.wait_for(user.id, lambda m: "Ваши роли" in (m.plain or ""))

        await app.tick()  # 08:00: before work, nothing about item 15 yet
        clock.set(local(app, "2027-02-01 09:00"))
        await app.tick()
        reminder = await tg.wait_for(TEACHER, lambda m: "Пункт 15" in (m.plain or ""))
        assert "с сегодняшнего дня" in (reminder.plain or "")

        await teacher.press(reminder, "✅ Пункт 15")
        await tg.wait_for(TEACHER, lambda m: "Пришлите подтверждение" in (m.plain or ""))
        await teacher.send_document(b"%PDF-1.4 journal", "журнал_5А.pdf", "application/pdf")
        await tg.wait_for(TEACHER, lambda m: "отправлено на проверку" in (m.plain or ""))
        proofs = await TaskRepo(app.db).proofs("15")
        assert len(proofs) == 1 and proofs[0].file_id and proofs[0].file_unique_id
        assert proofs[0].file_name == "журнал_5А.pdf"

        # The director gets the document itself, with the review buttons under it.
        note = await tg.wait_for(DIRECTOR, lambda m: "Морозов Игорь Сергеевич отметил" in (m.plain or ""))
        assert note.method == "sendDocument" and note.file == b"%PDF-1.4 journal"
        assert note.filename == "журнал_5А.pdf" and note.file_id == proofs[0].file_id
        buttons = [b["text"] for row in (note.reply_markup or {})["inline_keyboard"] for b in row]
        assert buttons == ["👍 Принять", "↩️ Вернуть"]
        await director.press(note, "👍 Принять")
        await tg.wait_for(DIRECTOR, lambda m: "Принято" in (m.plain or ""))
        told = await tg.wait_for(TEACHER, lambda m: "Ивановна приняла выполнение пункта 15" in (m.plain or ""))
        assert "Сидорова Анна Ивановна" in (told.plain or "")
        assert (await TaskRepo(app.db).proofs("15"))[0].status == "accepted"

        # The teacher's /tasks now shows the item as accepted, and no more reminders come.
        await teacher.send("/tasks")
        listing = await tg.wait_for(TEACHER, lambda m: "Ваши задачи" in (m.plain or ""))
        assert "принято" in (listing.plain or "")


async def test_photo_proof_reaches_every_reviewer_as_the_photo(tg: FakeTelegram, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2027, 2, 1, 7, 0, tzinfo=UTC))  # Monday 10:00 Moscow
    async with running_bot(tg, tmp_path, clock=clock) as app:
        assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=clock.now())).ok
        teacher = tg.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
        director = tg.user(DIRECTOR, "Анна", "Сидорова", phone="+79000000002")
        officer = tg.user(IT_OFFICER, "Пётр", "Петров", phone="+79000000001")
        for user in (teacher, director, officer):
            await user.send("/start")
            ask = await tg.wait_for(user.id)
            await user.press_reply(ask, "📱 Поделиться номером телефона")
            await tg.wait_for(user.id, lambda m: "Петрович" in (m.plain or "") or "вна" in (m.plain or "")
                              or "Сергеевич" in (m.plain or ""))
        await teacher.send("/tasks")
        listing = await tg.wait_for(TEACHER, lambda m: "Ваши задачи" in (m.plain or ""))
        await teacher.press(listing, "📄 Пункт 15")
        view = await tg.wait_for(TEACHER, lambda m: "Ответственные" in (m.plain or ""))
        await teacher.press(view, "✅ Выполнено")
        await tg.wait_for(TEACHER, lambda m: "Пришлите подтверждение" in (m.plain or ""))
        photo = png(64, 48)
        await teacher.send_photo(photo, caption="Журнал <5А> & подписи")
        await tg.wait_for(TEACHER, lambda m: "отправлено на проверку" in (m.plain or ""))
        for reviewer in (DIRECTOR, IT_OFFICER):
            note = await tg.wait_for(reviewer, lambda m: m.method == "sendPhoto")
            assert note.file == photo
            assert "Журнал <5А> & подписи" in (note.plain or "")  # the caption, escaped on the way
            buttons = [b["text"] for row in (note.reply_markup or {})["inline_keyboard"] for b in row]
            assert buttons == ["👍 Принять", "↩️ Вернуть"]
        note = await tg.wait_for(IT_OFFICER, lambda m: m.method == "sendPhoto")
        await officer.press(note, "↩️ Вернуть")
        await tg.wait_for(IT_OFFICER, lambda m: "комментарий" in (m.plain or ""))
        await officer.send("Не видно подписи")
        await tg.wait_for(TEACHER, lambda m: "Не видно подписи" in (m.plain or ""))
        assert (await TaskRepo(app.db).proofs("15"))[0].status == "returned"
