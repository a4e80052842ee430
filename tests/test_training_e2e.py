"""End to end: the IT officer creates a parent meeting in the bot, parents answer, and reminders
arrive the evening before and one hour before (the clock is moved, never waited for)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from tests.harness import DEFAULT_START, IT_OFFICER, PARENT_ONE, PARENT_TWO, running_bot
from tests.help_helpers import import_school, link_e2e


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour - 3, minute, tzinfo=UTC)


async def _outbox_keys(app: object, pattern: str) -> list[str]:
    rows = await app.db.fetchall("SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE ?", (pattern,))  # type: ignore[attr-defined]
    return [r[0] for r in rows]


async def test_parent_meeting_with_rsvp_and_reminders(tg: FakeTelegram, tmp_path: Path) -> None:
    clock = ManualClock(DEFAULT_START)  # Monday 30.11.2026 10:00 Moscow
    async with running_bot(tg, tmp_path, clock=clock) as app:
        await import_school(app)
        officer = await link_e2e(tg, app, IT_OFFICER, "Пётр", "Петров")
        elena = await link_e2e(tg, app, PARENT_TWO, "Елена", "Иванова")
        oleg = await link_e2e(tg, app, PARENT_ONE, "Олег", "Смирнов")

        await officer.send("/admin")
        menu = await tg.wait_for(IT_OFFICER, lambda m: "Администрирование" in (m.plain or ""))
        await officer.press(menu, "🎓 Обучение и собрания")
        sessions = await tg.wait_for(IT_OFFICER, lambda m: "Выберите занятие" in (m.plain or ""))
        await officer.press(sessions, "➕ Новое занятие или собрание")
        await tg.wait_for(IT_OFFICER, lambda m: "Название занятия" in (m.plain or ""))
        await officer.send("Родительское собрание 5А: электронный дневник")
        audience = await tg.wait_for(IT_OFFICER, lambda m: "Кого пригласить" in (m.plain or ""))
        await officer.press(audience, "👪 Родители класса (собрание)")
        await tg.wait_for(IT_OFFICER, lambda m: any("Выберите класс" in (e.text or "") for e in m.edits))
        await officer.press(tg.message(IT_OFFICER, audience.message_id), "5А")
        await tg.wait_for(IT_OFFICER, lambda m: any("дд.мм.гггг" in (e.text or "") for e in m.edits))
        await officer.send("02.12.2026 18:30")
        await tg.wait_for(IT_OFFICER, lambda m: "Место" in (m.plain or ""))
        await officer.send("Кабинет 21")
        preview = await tg.wait_for(IT_OFFICER, lambda m: "Приглашённых: 2" in (m.plain or ""))
        await officer.press(preview, "✅ Создать")
        await tg.wait_for(IT_OFFICER, lambda m: any("приглашений отправлено: 2" in (e.text or "") for e in m.edits))

        invite_e = await tg.wait_for(PARENT_TWO, lambda m: "Приглашение" in (m.plain or ""))
        invite_o = await tg.wait_for(PARENT_ONE, lambda m: "Приглашение" in (m.plain or ""))
        assert "02.12.2026 18:30" in (invite_e.plain or "") and "Кабинет 21" in (invite_e.plain or "")
        await elena.press(invite_e, "✅ Приду")
        await oleg.press(invite_o, "❌ Не смогу")
        await tg.wait_for(PARENT_TWO, lambda m: any("Ваш ответ: приду" in (e.text or "") for e in m.edits))
        await tg.wait_for(PARENT_ONE, lambda m: any("Ваш ответ: не смогу" in (e.text or "") for e in m.edits))

        # Tuesday 17:59: nothing yet. 18:00: the evening reminder, only to those not declining.
        clock.set(msk(1, 17, 59))
        await app.tick()
        assert await _outbox_keys(app, "training:1:evening:%") == []
        clock.set(msk(1, 18, 0))
        await app.tick()
        evening = await tg.wait_for(PARENT_TWO, lambda m: "завтра" in (m.plain or ""))
        assert "Родительское собрание 5А" in (evening.plain or "")
        # Wednesday 17:29: nothing; 17:30: one hour before.
        clock.set(msk(2, 17, 29))
        await app.tick()
        assert await _outbox_keys(app, "training:1:hour:%") == []
        clock.set(msk(2, 17, 30))
        await app.tick()
        await tg.wait_for(PARENT_TWO, lambda m: "через час" in (m.plain or ""))
        assert not any("Напоминание" in (m.plain or "") for m in tg.sent(PARENT_ONE))
        assert len(await _outbox_keys(app, "training:1:%:%")) == 4  # 2 invitations + 2 reminders
