"""Training sessions and parent meetings through the real Dispatcher: creation in the bot and from a
file, RSVP (only invitees), reminders at the right times (never in quiet hours), attendance, XLSX."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time

from aiogram.methods import SendDocument
from openpyxl import load_workbook

from bot.channels import Channel
from bot.services.imports import ImportOptions, render_outcome
from storage.outbox import Payload
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, PARENT_ONE, PARENT_TWO, TEACHER, Harness, csv_bytes
from tests.help_helpers import alerts, buttons, last_with_buttons, linked_school, texts


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    """A December 2026 wall-clock time in Moscow (UTC+3) as aware UTC."""
    return datetime(2026, 12, day, hour - 3, minute, tzinfo=UTC)


async def _keys(h: Harness, pattern: str) -> list[str]:
    rows = await h.app.db.fetchall("SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE ? ORDER BY id", (pattern,))
    return [r[0] for r in rows]


async def _create_parent_meeting(h: Harness) -> None:
    await h.press(IT_OFFICER, "adm:training")
    await h.press(IT_OFFICER, "tra:new:0:0:0:")
    await h.text(IT_OFFICER, "Родительское собрание 5А")
    calls = await h.press(IT_OFFICER, "tra:aud:0:0:0:parents")
    assert ("5А", "tra:cls:0:0:0:5А") in buttons(last_with_buttons(calls))
    await h.press(IT_OFFICER, "tra:cls:0:0:0:5А")
    calls = await h.text(IT_OFFICER, "31.12.2025 15:00")
    assert "уже прошло" in texts(calls)[0]
    calls = await h.text(IT_OFFICER, "завтра")
    assert "Не понял" in texts(calls)[0]
    await h.text(IT_OFFICER, "02.12.2026 15:00")
    calls = await h.text(IT_OFFICER, "Кабинет 21")
    assert "Приглашённых: 2, из них в Telegram или MAX: 2" in texts(calls)[0]
    calls = await h.press(IT_OFFICER, "tra:create:0:0:0:")
    assert "приглашений отправлено: 2" in texts(calls)[0]


async def test_parent_meeting_rsvp_and_reminders(harness: Harness) -> None:
    h = harness
    await linked_school(h)
    await _create_parent_meeting(h)
    invites = await _keys(h, "training:1:invite:%")
    assert len(invites) == 2
    row = await h.app.db.fetchone("SELECT payload FROM outbox WHERE dedupe_key = ?", (invites[0],))
    assert row is not None
    payload = Payload.from_json(row["payload"])
    assert (
        payload.text is not None and "Родительское собрание 5А" in payload.text and "02.12.2026 15:00" in payload.text
    )
    assert [b["text"] for b in payload.reply_markup["inline_keyboard"][0]] == ["✅ Приду", "❌ Не смогу"]  # type: ignore[index]

    # RSVP: the invitees answer; someone else's press is refused (forged or forwarded button).
    calls = await h.press(PARENT_TWO, "trr:1:1")
    assert "приду" in texts(calls)[0]
    calls = await h.press(PARENT_ONE, "trr:1:0")
    assert "не смогу" in texts(calls)[0]
    refused = await h.press(DIRECTOR, "trr:1:1")
    assert any("не для вас" in a for a in alerts(refused))
    assert await h.app.db.fetchval("SELECT count(*) FROM training_invitees WHERE rsvp IS NOT NULL") == 2

    # The evening before at 18:00 (not a minute earlier), then one hour before; "no" gets neither.
    h.clock.set(msk(1, 17, 59))
    await h.app.tick()
    assert await _keys(h, "training:1:evening:%") == []
    h.clock.set(msk(1, 18, 0))
    await h.app.tick()
    evening = await _keys(h, "training:1:evening:%")
    parent_two = await h.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert parent_two is not None and evening == [f"training:1:evening:{parent_two.id}"]
    h.clock.set(msk(2, 13, 59))
    await h.app.tick()
    assert await _keys(h, "training:1:hour:%") == []
    h.clock.set(msk(2, 14, 0))
    await h.app.tick()
    assert await _keys(h, "training:1:hour:%") == [f"training:1:hour:{parent_two.id}"]
    await h.app.tick()  # recorded: never twice
    assert len(await _keys(h, "training:1:%:%")) == 4

    # After the meeting: RSVP is closed, attendance is marked and exported.
    h.clock.set(msk(2, 16, 0))
    assert any("уже началось" in a for a in alerts(await h.press(PARENT_TWO, "trr:1:1")))
    calls = await h.press(IT_OFFICER, "tra:marks:1:0:0:")
    marks = [d for _, d in buttons(last_with_buttons(calls)) if d.startswith("tra:mark:")]
    assert len(marks) == 2
    calls = await h.press(IT_OFFICER, f"tra:mark:1:{parent_two.id}:0:")
    assert any(text.startswith("✅ Иванова Елена") for text, _ in buttons(last_with_buttons(calls)))
    assert alerts(await h.press(IT_OFFICER, "tra:mark:1:999:0:"))  # not an invitee
    calls = await h.press(IT_OFFICER, "tra:xlsx:1:0:0:")
    doc = next(c for c in calls if isinstance(c, SendDocument))
    data = doc.document.data  # type: ignore[union-attr]
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    # The session's title and time head the sheet (it was dropped before), the table's header follows.
    assert isinstance(rows[0][0], str) and " — " in rows[0][0]
    assert rows[1] == ["ФИО", "Роль", "Класс", "Ответ", "Присутствие"]
    assert ["Иванова Елена Викторовна", "родитель", None, "придёт", "был"] in rows
    assert ["Смирнов Олег Павлович", "родитель", None, "не сможет", "не отмечено"] in rows
    # Non-admins cannot open the session screens.
    assert alerts(await h.press(PARENT_TWO, "tra:view:1:0:0:"))


async def test_reminder_times_respect_quiet_hours(harness: Harness) -> None:
    app = harness.app
    now = msk(1, 10)
    # An early session: one hour before (07:30) is quiet, the evening reminder covers it.
    assert app.services.training.reminder_times(msk(3, 8, 30), now) == (msk(2, 18), None)
    # Created the same day: no evening reminder, one hour before only.
    assert app.services.training.reminder_times(msk(1, 15), now) == (None, msk(1, 14))
    # Quiet hours from 17:00: the evening reminder moves to the last minute before them.
    app.school.hours.quiet_start = time(17, 0)
    assert app.services.training.reminder_times(msk(3, 15), now) == (msk(2, 16, 59), msk(3, 14))
    # Created in the quiet evening before an early session: neither reminder may wake anyone.
    assert app.services.training.reminder_times(msk(2, 8, 30), msk(1, 17, 30)) == (None, None)
    app.school.hours.quiet_start = time(21, 0)


async def test_training_import(harness: Harness) -> None:
    h = harness
    await linked_school(h, IT_OFFICER, CLASS_TEACHER, TEACHER)
    importer = h.app.importers["training"]
    bad = csv_bytes(
        [
            ["Название", "Аудитория", "Время", "Место"],
            ["Работа с ЭЖ", "учителя", "03.12.2026 15:30", "Каб. 12"],
            ["Собрание", "родители 9Z", "03.12.2026 18:00", "Актовый зал"],
            ["Ученики", "ученики 5А", "32.12.2026 10:00", "Каб. 5"],
        ]
    )
    outcome = await importer.run(bad, "s.csv", ImportOptions())
    assert [e.line for e in outcome.errors] == [3, 4]
    report = render_outcome(outcome, h.app.catalog.bind("ru"))
    assert "Строка 3: непонятная аудитория «родители 9Z»" in report and "Строка 4: непонятное время" in report
    assert await h.app.db.fetchval("SELECT count(*) FROM training_sessions") == 0
    good = csv_bytes(
        [
            ["Название", "Аудитория", "Время", "Место"],
            ["Работа с ЭЖ", "учителя", "03.12.2026 15:30", "Каб. 12"],
            ["Дневник для учеников", "pupils:5A", "04.12.2026 12:00", "https://meet.example/abc"],
            ["Для всех", "все", "05.12.2026 12:00", "Актовый зал"],
        ]
    )
    preview = await importer.run(good, "s.csv", ImportOptions(dry_run=True))
    assert preview.ok and not preview.applied
    assert "занятий и собраний: 3" in render_outcome(preview, h.app.catalog.bind("ru"))
    assert await h.app.db.fetchval("SELECT count(*) FROM training_sessions") == 0
    outcome = await importer.run(good, "s.csv", ImportOptions())
    assert outcome.ok and outcome.applied
    sessions = await h.app.db.fetchall("SELECT audience, class_label FROM training_sessions ORDER BY id")
    assert [(r[0], r[1]) for r in sessions] == [("teachers", None), ("pupils", "5А"), ("everyone", None)]
    # Teachers: the class teacher and the subject teacher (both linked), invited once each.
    assert len(await _keys(h, "training:1:invite:%")) == 2
    assert await h.app.db.fetchval("SELECT count(*) FROM training_invitees WHERE session_id = 2") == 2
    assert (
        await h.app.db.fetchval("SELECT count(*) FROM training_invitees WHERE session_id = 3")
        == await h.app.people.count_active()
    )
