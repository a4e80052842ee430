"""The first IT officer can claim the bot in every set-up (#22, links), built as `schoolbot run`
builds it against the fakes.

ADMIN_IDS held Telegram ids only and an admin token was refused in MAX, so a MAX-only school's first
IT officer had no way in but their phone in the roster. On Telegram under the municipal rules the
question "which roster IT officer are you?" names people, so the whole of it, buttons and all, was
replaced by the pointer: a Telegram-only municipal school's IT officer got a note about paper forms
and nothing to press. Now ADMIN_IDS names MAX accounts as `max:<id>`, an admin token works in MAX,
and the question's ways that need no names (find me by my phone, not in the list) arrive wherever it
is asked, the roster's IT officers by name in a message of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.channels import Channel
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from tests.codes_helpers import load_school
from tests.harness import IT_OFFICER, roster_csv, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import SHARE, MaxWire
from tests.test_max_only_school import _eventually

PETROV = "Петров Пётр Петрович"
STRANGER = 4242
ASKED = "Вы указаны администратором бота"



async def _pick_petrov(who: MaxWire) -> None:
    await who.wait(lambda text: ASKED in text)
    names = await who.wait(lambda text: "Ответственные по информатизации из состава школы" in text)
    await who.press(names, PETROV)
    await who.wait(lambda text: "Ваши роли" in text)


async def test_a_max_only_schools_admin_ids_names_a_max_account(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, telegram=False, admin_ids=f"max:{IT_OFFICER}") as app:
        await load_school(app, with_codes=False)
        # A display name and no phone of the roster: ADMIN_IDS alone says who administers the bot.
        officer = MaxWire(mx, IT_OFFICER, "Петя", "", "79990000000")
        await officer.send("/start")
        await _pick_petrov(officer)
        me = await app.people.by_account(Channel.MAX, IT_OFFICER)
        assert me is not None and me.full_name == PETROV and me.is_admin


async def test_a_max_only_schools_admin_token_works_in_max(tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path, mx=mx, telegram=False) as app:
        await load_school(app, with_codes=False)
        token = await app.services.onboarding.create_token(purpose="admin", person_id=None, created_by=None)
        officer = MaxWire(mx, STRANGER, "Петя", "", "79990000000")
        await officer.user.start(token)  # the max.ru link `schoolbot admin-token --max-bot-username` prints
        await _pick_petrov(officer)
        me = await app.people.by_account(Channel.MAX, STRANGER)
        assert me is not None and me.full_name == PETROV and me.is_admin


async def test_a_telegram_only_municipal_schools_admin_claims_by_phone(tg: FakeTelegram, tmp_path: Path) -> None:
    names = [row[0] for row in csv_rows()]
    async with running_bot(tg, tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG, admin_ids=[IT_OFFICER]) as app:
        await load_school(app, with_codes=False)
        officer = tg.user(IT_OFFICER, "Петя", "", phone=PHONES[IT_OFFICER])
        await officer.send("/start")
        question = await tg.wait_for(IT_OFFICER, lambda m: ASKED in (m.plain or ""))
        # The roster's IT officers by name stay off Telegram: their message is the pointer.
        await tg.wait_for(IT_OFFICER, lambda m: (m.plain or "").startswith("🔒"))
        await officer.press(question, "📱 Найти меня по номеру телефона")
        ask = await tg.wait_for(IT_OFFICER, lambda m: "поделитесь своим номером" in (m.plain or ""))
        await officer.press_reply(ask, SHARE)

        async def claimed() -> bool:
            me = await app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
            return me is not None and me.full_name == PETROV and me.is_admin

        await _eventually(claimed, "the IT officer linked to their roster row")
        shown = [str(m.plain or "") + repr(m.reply_markup) for m in tg.sent(IT_OFFICER)]
        assert not [text for text in shown for name in names if name in text]


def csv_rows() -> list[Any]:
    text = roster_csv(encoding="utf-8").decode("utf-8").lstrip("\ufeff")
    return [line.split(";") for line in text.splitlines()[1:]]
