"""What a parent's /codes (child data: the children's names on its buttons, then their code cards)
looks like in each set-up a municipal school can have (issue #22), the bot built as `schoolbot run`
builds it against the fakes, with the shipped school.toml (municipal rules: Telegram carries public
notices only):

- Telegram only: on Telegram, the pointer names what was withheld and leads to the class teacher and
  the paper form; no name, no card reaches Telegram.
- Telegram and MAX: on Telegram, the pointer leads to the school's bot in MAX; the same parent linked
  in MAX gets the names and the card there.
- MAX only: the parent in MAX gets the answer itself; nothing goes to Telegram at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.app import App
from bot.channels import Channel, DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from storage.messengers import MessengerRepo
from tests.codes_helpers import CODES, decode_qr, load_school, person_id
from tests.harness import PARENT_TWO, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import ELENA, MASHA, MISHA, MaxWire, TelegramWire

CHILDREN = ("Миша", "Маша", MISHA, MASHA)
ON_MAX = 77_005  # the parent's MAX user id



async def _eventually(check: Callable[[], Awaitable[bool]], what: str, attempts: int = 500) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not within 10 s")


async def _link(who: TelegramWire | MaxWire) -> None:
    await who.send("/start")
    await who.share_contact(await who.wait(lambda text: "поделитесь своим номером" in text))
    await who.wait(lambda text: "Ваши роли" in text or text.startswith("🔒"))


async def _consent_for_misha(app: App, channel: Channel, user_id: int) -> None:
    """Elena agrees for Миша (as the consent screen's button does), so /codes has a child to show."""
    elena = await app.people.get(await person_id(app, ELENA))
    misha = await app.people.get(await person_id(app, MISHA))
    assert elena is not None and misha is not None
    version = await app.services.consent.current()
    await app.services.consent.open_document(elena, misha, "ru")
    await app.services.consent.decide(
        parent=elena, child_ids=[misha.id], decision="given", version=version.number, channel=channel,
        user_id=user_id, update_id=None, callback_id="setups",
    )
    app.wake_sender()


def _telegram_shows(tg: FakeTelegram) -> str:
    return "\n".join(f"{m.plain or ''} {m.buttons()}" for m in tg.sent(PARENT_TWO))


async def _codes_on_telegram(tg: FakeTelegram, parent: TelegramWire) -> str:
    mark = parent.count()
    await parent.send("/codes")
    pointer = await parent.wait(lambda text: text.startswith("🔒 Сведения о ребёнке"), after=mark)
    await asyncio.sleep(0.2)  # nothing else may follow the pointer
    assert parent.count() == mark + 1
    assert tg.sent(PARENT_TWO)[-1].buttons() == []
    return str(pointer.plain)


async def _codes_on_max(parent: MaxWire) -> None:
    """The names on the buttons, and Миша's card on pressing his."""
    mark = parent.count()
    await parent.send("/codes")
    menu = await parent.wait(lambda text: "Чей код" in text, after=mark)
    labels = parent.labels(menu)
    assert any(MISHA in label for label in labels), labels
    cards = len(parent.photos())
    await parent.press(menu, next(label for label in labels if MISHA in label))

    async def card() -> bool:
        return len(parent.photos()) > cards

    await _eventually(card, "Миша's card in MAX")
    assert decode_qr(parent.photos()[-1]) == [CODES[MISHA]]


async def test_telegram_only_the_pointer_leads_to_the_class_teacher_and_the_paper_form(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        assert app.max_bot is None
        await load_school(app)
        parent = TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO])
        await _link(parent)
        await _consent_for_misha(app, Channel.TELEGRAM, PARENT_TWO)
        # The cards the consent releases: on Telegram the pointer (the paper path), before /codes.
        await parent.wait(lambda text: text.startswith("🔒 Код приглашения или ссылку для входа"))
        pointer = await _codes_on_telegram(tg, parent)
        assert pointer == (
            "🔒 Сведения о ребёнке школа не передаёт через Telegram. "
            "Получите это у классного руководителя на бумажном бланке."
        )
        await asyncio.sleep(0.2)
        assert parent.photos() == []  # the card is not sent either (the paper path)
        assert not any(name in _telegram_shows(tg) for name in CHILDREN)
        log = {(r.channel, r.data_class, r.outcome, r.purpose) for r in await MessengerRepo(app.db).send_log()}
        assert ("telegram", DataClass.CHILD_PERSONAL, "pointer", "codes.my_codes") in log
        assert not [r for r in log if r[0] == "telegram" and r[1] is not DataClass.PUBLIC and r[2] == "sent"]


async def test_telegram_and_max_the_pointer_leads_to_max_where_the_answer_arrives(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        on_tg = TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO])
        await _link(on_tg)
        on_max = MaxWire(mx, ON_MAX, "Елена", "Иванова", PHONES[PARENT_TWO].lstrip("+"))
        await _link(on_max)
        await _consent_for_misha(app, Channel.MAX, ON_MAX)

        async def released() -> bool:  # the cards the consent releases go to MAX
            return len(on_max.photos()) == 2

        await _eventually(released, "the family's cards in MAX")
        pointer = await _codes_on_telegram(tg, on_tg)
        assert pointer.startswith("🔒 Сведения о ребёнке школа не передаёт через Telegram. ")
        assert "Тот же ответ — в боте школы в MAX: https://max.ru/" in pointer
        assert "классного руководителя" not in pointer
        await _codes_on_max(on_max)
        assert on_tg.photos() == []
        assert not any(name in _telegram_shows(tg) for name in CHILDREN)
        log = {(r.channel, r.data_class, r.outcome, r.purpose) for r in await MessengerRepo(app.db).send_log()}
        assert ("telegram", DataClass.CHILD_PERSONAL, "pointer", "codes.my_codes") in log
        assert ("max", DataClass.CHILD_PERSONAL, "sent", "codes.my_codes") in log


async def test_max_only_the_answer_itself_and_nothing_on_telegram(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, telegram=False, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        parent = MaxWire(mx, ON_MAX, "Елена", "Иванова", PHONES[PARENT_TWO].lstrip("+"))
        await _link(parent)
        await _consent_for_misha(app, Channel.MAX, ON_MAX)

        async def released() -> bool:
            return len(parent.photos()) == 2

        await _eventually(released, "the family's cards in MAX")
        await _codes_on_max(parent)
        assert tg.sent(PARENT_TWO) == []
        assert not [m for m in mx.sent(ON_MAX) if str(m.plain).startswith("🔒")]  # no pointer anywhere
        log = await MessengerRepo(app.db).send_log()
        assert {r.channel for r in log} <= {"max"}
        assert ("max", DataClass.CHILD_PERSONAL, "sent", "codes.my_codes") in {
            (r.channel, r.data_class, r.outcome, r.purpose) for r in log
        }
