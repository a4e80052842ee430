"""End to end: the bot as `schoolbot run` builds it, long-polling the fake Bot API server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from tests.harness import PARENT_TWO, roster_csv, running_bot


async def test_it_officer_imports_roster_and_parent_links_by_contact(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path, admin_ids=[1]) as app:
        admin = tg.user(1, "Пётр", "Петров")
        await admin.send("/start")
        welcome = await tg.wait_for(1)
        assert "ответственный по информатизации" in (welcome.plain or "")

        await admin.send_document(roster_csv(), "состав.csv", "text/csv")
        question = await tg.wait_for(1, lambda m: "Что в нём" in (m.plain or ""))
        await admin.press(question, "👥 Состав (ученики, родители, сотрудники)")
        preview = await tg.wait_for(1, lambda m: "добавлено: 9" in (m.plain or ""))
        await admin.press(preview, "✅ Применить")
        await tg.wait_for(1, lambda m: "Импорт выполнен" in (m.plain or ""))
        assert await app.people.count_active() == 10

        parent = tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
        await parent.send("/start")
        ask = await tg.wait_for(PARENT_TWO)
        await parent.press_reply(ask, "📱 Поделиться номером телефона")
        hello = await tg.wait_for(PARENT_TWO, lambda m: "Иванова Елена Викторовна" in (m.plain or ""))
        assert hello.reply_markup is not None
        person = await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
        assert person is not None and "parent" in person.roles
        # Unknown users see the default list, set once at startup, in Russian and in English.
        assert [c["command"] for c in tg.commands()] == ["start", "language"]
        assert tg.commands(language_code="en")[0]["description"] == "Start using the bot"
        # The per-chat list is set right after the welcome message.
        for _ in range(100):
            commands = tg.commands({"type": "chat", "chat_id": PARENT_TWO})
            if commands:
                break
            await asyncio.sleep(0.05)
        assert {c["command"] for c in commands} >= {"menu", "consent", "codes", "faq"}
