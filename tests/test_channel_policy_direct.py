"""The channel policy on direct answers (issue #17, item 5): MAX is served, so the default municipal
policy holds and Telegram carries public notices only. A parent on Telegram who opens /consent gets
the pointer, never the children's names; the same parent in MAX gets the consent menu; the IT officer
on Telegram sees the per-class counts but asking for the consent register gets the pointer, not the
file. The send log records the pointer (and the paper path for the file), with no personal data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.channels import Channel, DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from storage.messengers import MessengerRepo
from tests.codes_helpers import load_school
from tests.harness import IT_OFFICER, PARENT_TWO, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import ELENA, MASHA, MISHA, MaxWire, TelegramWire

POINTER = "в боте школы в MAX"
CHILDREN = ("Миша", "Маша", "Иванов Миша", MISHA, MASHA)



async def _eventually(check: Callable[[], Awaitable[bool]], attempts: int = 400) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not become true within 8 s")


async def _link(who: TelegramWire | MaxWire) -> None:
    await who.send("/start")
    ask = await who.wait(lambda text: "поделитесь своим номером" in text)
    await who.share_contact(ask)
    # The greeting names the person: on Telegram the pointer stands in for it.
    await who.wait(lambda text: "Ваши роли" in text or POINTER in text)


async def test_parent_consent_on_telegram_gets_the_pointer_and_in_max_the_menu(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        on_tg = TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO])
        await _link(on_tg)
        mark = len(tg.sent(PARENT_TWO))
        await on_tg.send("/consent")
        pointer = await on_tg.wait(lambda text: POINTER in text, after=mark)
        assert "Сведения о ребёнке" in str(pointer.plain)
        await asyncio.sleep(0.2)  # nothing else may follow the pointer
        answered = tg.sent(PARENT_TWO)[mark:]
        for sent in answered:
            text = f"{sent.plain or ''} {sent.buttons()}"
            assert not any(name in text for name in CHILDREN), text
            assert "Согласие на обработку" not in text
        repo = MessengerRepo(app.db)
        log = [(r.channel, r.data_class, r.outcome) for r in await repo.send_log()]
        assert ("telegram", DataClass.CHILD_PERSONAL, "pointer") in log

        # The same parent in MAX gets the consent menu with the children.
        on_max = MaxWire(mx, 88_005, "Елена", "Иванова", PHONES[PARENT_TWO].lstrip("+"))
        await _link(on_max)
        mark = on_max.count()
        await on_max.send("/consent")
        menu = await on_max.wait(lambda text: "Согласие на обработку" in text, after=mark)
        assert "Иванов Миша" in str(menu.plain) or "Миша" in " ".join(on_max.labels(menu))
        assert POINTER not in str(menu.plain)
        person = await app.people.by_account(Channel.MAX, 88_005)
        assert person is not None and person.full_name == ELENA


async def test_consent_register_on_telegram_gets_the_pointer_not_the_file(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        officer = TelegramWire(tg, IT_OFFICER, "Пётр", "Петров", PHONES[IT_OFFICER])
        await _link(officer)
        mark = len(tg.sent(IT_OFFICER))
        # /consent can show a class's children (a class teacher's view): the pointer on Telegram.
        await officer.send("/consent")
        await officer.wait(lambda text: POINTER in text, after=mark)
        # The administrator's entry shows counts per class only (public), with the export buttons.
        mark = len(tg.sent(IT_OFFICER))
        await officer.send("/admin")
        menu = await officer.wait(lambda text: "Администрирование" in text, after=mark)
        mark = len(tg.sent(IT_OFFICER))
        await officer.press(menu, "✅ Согласия: реестр по классам")
        overview = await officer.wait(lambda text: "Согласия по классам" in text, after=mark)
        mark = len(tg.sent(IT_OFFICER))
        await officer.press(overview, "📥 Реестр XLSX")
        await officer.wait(lambda text: POINTER in text, after=mark)
        await asyncio.sleep(0.2)
        assert all(m.method != "sendDocument" for m in tg.sent(IT_OFFICER))
        repo = MessengerRepo(app.db)

        async def logged() -> bool:
            log = [(r.channel, r.data_class, r.outcome) for r in await repo.send_log()]
            return ("telegram", DataClass.PERSONAL_FILE, "pointer") in log and (
                "paper", DataClass.PERSONAL_FILE, "paper") in log

        await _eventually(logged)
