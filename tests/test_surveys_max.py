"""Surveys and acknowledgements on both messengers and under the channel policy (issue #26, item 6):
MAX is served and the school is the shipped (municipal) example and Telegram carries public notices only. A survey
about a family is child personal data: its invitation goes to the parent's MAX, she answers there;
on Telegram the list of her surveys (titles only) is shown, but opening one gets the pointer, never
a question. An acknowledgement (a public notice) is confirmed from MAX and recorded as such."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.channels import Channel
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.services.broadcast import Audience as BroadcastAudience
from bot.services.surveys import Audience
from tests.codes_helpers import load_school
from tests.harness import PARENT_ONE, PARENT_TWO, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import MaxWire, TelegramWire

POINTER = "в боте школы в MAX"
ELENA_MAX, OLEG_MAX = 88_005, 88_006



async def _link(who: TelegramWire | MaxWire) -> None:
    await who.send("/start")
    ask = await who.wait(lambda text: "поделитесь своим номером" in text)
    await who.share_contact(ask)
    await who.wait(lambda text: "Ваши роли" in text or POINTER in text)


async def test_a_family_survey_is_answered_in_max_and_withheld_from_telegram(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app, with_codes=False)
        on_tg = TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO])
        await _link(on_tg)
        on_max = MaxWire(mx, ELENA_MAX, "Елена", "Иванова", PHONES[PARENT_TWO].lstrip("+"))
        await _link(on_max)
        tg_mark, max_mark = on_tg.count(), on_max.count()
        surveys = app.services.surveys
        sid, _, sent = await surveys.create(None, surveys.templates["parents_readiness"], Audience("parents", "5А"), 5,
                                            anonymous=False)
        assert sent >= 1
        invite = await on_max.wait(lambda text: "просим ответить на опрос" in text, after=max_mark)
        await on_max.press(invite, "📝 Ответить")
        q1 = await on_max.wait(lambda text: "Вопрос 1 из 5" in text, after=max_mark)
        await on_max.press(q1, "Нет")
        await on_max.wait(lambda text: "Вопрос 2 из 5" in text, after=max_mark)
        elena = await app.people.by_account(Channel.MAX, ELENA_MAX)
        assert elena is not None
        assert (await surveys.state(elena, sid)).answers == {0: 2}

        # Telegram: the invitation did not come here; the list (titles) does; a question does not.
        await asyncio.sleep(0.2)
        assert not any("просим ответить" in (m.plain or "") for m in tg.sent(PARENT_TWO)[tg_mark:])
        mark = on_tg.count()
        await on_tg.send("/surveys")
        listing = await on_tg.wait(lambda text: "Опросы, на которые" in text, after=mark)
        label = next(b for b in on_tg.labels(listing) if "Готовность семьи" in b)
        assert "1 из 5" in label
        mark = on_tg.count()
        await on_tg.press(listing, label)
        await on_tg.wait(lambda text: POINTER in text, after=mark)
        await asyncio.sleep(0.2)
        for message in tg.sent(PARENT_TWO)[mark:]:
            assert "Вопрос" not in (message.plain or "") and "интернет" not in (message.plain or "")

        # An acknowledgement its author marked as naming no one (a public notice) goes where each
        # parent is: Олег only in MAX confirms there, Елена on Telegram (her preferred messenger); the
        # record names the messenger.
        oleg = MaxWire(mx, OLEG_MAX, "Олег", "Смирнов", PHONES[PARENT_ONE].lstrip("+"))
        await _link(oleg)
        oleg_mark, tg_mark = oleg.count(), on_tg.count()
        cid, n, _ = await app.services.acks.create(None, title="Памятка для родителей", body="Как войти в дневник",
                                                   audience=BroadcastAudience("class", "5А"), public=True)
        assert n == 2
        note = await oleg.wait(lambda text: "Памятка для родителей" in text, after=oleg_mark)
        await oleg.press(note, "✅ Ознакомлен(а)")
        await oleg.wait(lambda text: "Вы ознакомились" in text, after=oleg_mark)
        on_telegram = await on_tg.wait(lambda text: "Памятка для родителей" in text, after=tg_mark)
        await on_tg.press(on_telegram, "✅ Ознакомлен(а)")
        await on_tg.wait(lambda text: "Вы ознакомились" in text, after=tg_mark)
        rows = await app.db.fetchall("SELECT person_id, channel FROM ack_confirmations WHERE campaign_id = ?", (cid,))
        oleg_person = await app.people.by_account(Channel.MAX, OLEG_MAX)
        assert oleg_person is not None
        assert {(r[0], r[1]) for r in rows} == {(oleg_person.id, "max"), (elena.id, "telegram")}
