"""The IT officer's one-time sign-in link opens the bot in the messenger it is for (#22, links).

It used to be a Telegram link wherever it was made: in a MAX-only school the IT officer got
`https://t.me/<the MAX bot>?start=...`, which opens nothing. Now the screen gives a link per
messenger the school serves, each named, in that messenger's form (bot/channels.py deep_link), and
a newcomer who opens it (the fake MAX's deep link: Start with the payload) is linked to the roster
person it was made for. Built as `schoolbot run` builds it, against the fakes.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from tests.codes_helpers import load_school
from tests.harness import IT_OFFICER, PARENT_ONE, PARENT_TWO, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import MaxWire
from tests.test_max_only_school import OLEG, _eventually

ELENA_PARENT = "Иванова Елена Викторовна"
MAX_LINK = re.compile(r"MAX: https://max\.ru/(\w+)\?start=([\w-]+)")
TG_LINK = re.compile(r"Telegram: https://t\.me/(\w+)\?start=([\w-]+)")



async def _officer_in_max(mx: FakeMax) -> MaxWire:
    officer = MaxWire(mx, IT_OFFICER, "Пётр", "Петров", PHONES[IT_OFFICER].lstrip("+"))
    await officer.send("/start")
    await officer.share_contact(await officer.wait(lambda text: "поделитесь своим номером" in text))
    await officer.wait(lambda text: "Ваши роли" in text)
    return officer


async def _make_link(officer: MaxWire, query: str, surname: str) -> str:
    """/admin -> «Ссылка для привязки» -> part of the name -> the person: the screen's text."""
    mark = officer.count()
    await officer.send("/admin")
    menu = await officer.wait(lambda text: "Администрирование" in text, after=mark)
    await officer.press(menu, next(label for label in officer.labels(menu) if "Ссылка для привязки" in label))
    await officer.wait(lambda text: "Введите часть ФИО" in text, after=mark)
    mark = officer.count()
    await officer.send(query)
    pick = await officer.wait(lambda text: "Выберите человека" in text, after=mark)
    await officer.press(pick, next(label for label in officer.labels(pick) if surname in label))
    made = await officer.wait(lambda text: "Одноразовая ссылка" in text, after=mark)
    return str(made.plain)


async def test_a_max_only_school_gives_a_max_link_that_links_the_newcomer(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, telegram=False) as app:
        await load_school(app, with_codes=False)
        officer = await _officer_in_max(mx)
        text = await _make_link(officer, "Смирнов Олег", "Смирнов")
        assert "t.me" not in text and "Telegram" not in text
        found = MAX_LINK.search(text)
        assert found is not None, text
        assert found.group(1) == mx.bot_username
        # The newcomer opens the link in MAX: Start with the payload.
        oleg = mx.user(PARENT_ONE, "Олег", "Смирнов", phone=PHONES[PARENT_ONE].lstrip("+"))
        await oleg.start(found.group(2))
        await mx.wait_for(PARENT_ONE, lambda m: "Ваши роли" in m.plain)
        linked = await app.people.by_account(Channel.MAX, PARENT_ONE)
        assert linked is not None and linked.full_name == OLEG


async def test_a_school_on_both_messengers_gives_both_links_and_each_works(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx) as app:
        await load_school(app, with_codes=False)
        # Under the municipal rules a link is a credential: the IT officer makes it in MAX.
        officer = await _officer_in_max(mx)
        text = await _make_link(officer, "Смирнов Олег", "Смирнов")
        on_telegram, on_max = TG_LINK.search(text), MAX_LINK.search(text)
        assert on_telegram is not None and on_max is not None, text
        assert (on_telegram.group(1), on_max.group(1)) == (tg.bot_username, mx.bot_username)
        assert on_telegram.group(2) == on_max.group(2)
        # Oleg uses Telegram: the t.me link opens the Telegram bot with the token.
        oleg = tg.user(PARENT_ONE, "Олег", "Смирнов", phone=PHONES[PARENT_ONE])
        await oleg.send(f"/start {on_telegram.group(2)}")

        async def oleg_linked() -> bool:
            person = await app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
            return person is not None and person.full_name == OLEG

        await _eventually(oleg_linked, "Oleg linked on Telegram")

        # Elena uses MAX: her link opens the MAX bot.
        text = await _make_link(officer, "Иванова Елена", "Иванова")
        on_max = MAX_LINK.search(text)
        assert on_max is not None, text
        elena = mx.user(PARENT_TWO, "Елена", "Иванова", phone=PHONES[PARENT_TWO].lstrip("+"))
        await elena.start(on_max.group(2))
        await mx.wait_for(PARENT_TWO, lambda m: "Ваши роли" in m.plain)
        linked = await app.people.by_account(Channel.MAX, PARENT_TWO)
        assert linked is not None and linked.full_name == ELENA_PARENT
