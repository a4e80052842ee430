"""The IT officer sees where a person is reached and which messenger they chose (#17 item 4): the
person search of /admin lists each match with their messengers."""

from __future__ import annotations

from aiogram.methods import SendMessage

from bot.channels import Channel
from bot.tg.callbacks import AdminAction
from storage.accounts import AccountRepo
from storage.messengers import MessengerRepo
from tests.codes_helpers import load_school, person_id
from tests.harness import PARENT_ONE, PARENT_TWO, Harness


async def test_person_search_shows_each_persons_messengers_and_choice(harness: Harness) -> None:
    app = harness.app
    await load_school(app, with_codes=False)
    await harness.admin_start()
    await harness.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    oleg = await person_id(app, "Смирнов Олег Павлович")
    async with app.db.transaction() as conn:
        await AccountRepo.link(conn, oleg, Channel.MAX, 77_006, None, app.clock.now())
        assert await MessengerRepo.set_preferred(conn, oleg, Channel.MAX, app.clock.now())

    await harness.press(1, AdminAction(action="link").pack())
    calls = await harness.text(1, "Смирнов")
    [answer] = [c for c in calls if isinstance(c, SendMessage)]
    assert "• Смирнов Олег Павлович — Telegram, MAX; присылать в MAX (выбрано самим человеком)" in answer.text
    assert "• Смирнов Коля Олегович — не подключён к боту" in answer.text
    await harness.press(1, AdminAction(action="link").pack())
    calls = await harness.text(1, "Иванова Елена")
    [answer] = [c for c in calls if isinstance(c, SendMessage)]
    assert "• Иванова Елена Викторовна — Telegram; присылать в Telegram (по умолчанию)" in answer.text
