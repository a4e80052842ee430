"""End to end over both wires (issue #17): the same journeys on Telegram and on MAX.

On the "telegram" wire the bot runs as a Telegram-only school does today; on the "max" wire it serves
Telegram and MAX (MAX_TOKEN, MAX_API_URL at the fake MAX server, checked against the official schema)
and the people act in MAX. One set of handlers and services serves both.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from openpyxl import load_workbook

from bot.app import App
from bot.channels import Channel, DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.services import status
from storage.messengers import MessengerRepo
from storage.outbox import Payload
from tests.codes_helpers import CODES, decode_qr, load_school, person_id
from tests.harness import IT_OFFICER, PARENT_ONE, PARENT_TWO, TEACHER, running_bot
from tests.help_helpers import PHONES

SHARE = "📱 Поделиться номером телефона"
TEACHER_NAME = "Морозов Игорь Сергеевич"
ELENA = "Иванова Елена Викторовна"
MISHA = "Иванов Миша Андреевич"
MASHA = "Иванова Маша Андреевна"


class Wire(Protocol):
    id: int

    async def send(self, text: str, reply_to: Any = None) -> None: ...
    async def wait(self, predicate: Callable[[str], bool], after: int = 0) -> Any: ...
    async def share_contact(self, ask: Any) -> None: ...
    async def press(self, message: Any, label: str) -> None: ...
    def count(self) -> int: ...
    def photos(self) -> list[bytes]: ...
    def labels(self, message: Any) -> list[str]: ...


class TelegramWire:
    def __init__(self, tg: FakeTelegram, user_id: int, first: str, last: str, phone: str) -> None:
        self.tg, self.id = tg, user_id
        self.user = tg.user(user_id, first, last, phone=phone)

    async def send(self, text: str, reply_to: Any = None) -> None:
        await self.user.send(text, reply_to=reply_to)

    async def wait(self, predicate: Callable[[str], bool], after: int = 0) -> Any:
        return await self.tg.wait_for(self.id, lambda m: predicate(m.plain or ""), after=after)

    async def share_contact(self, ask: Any) -> None:
        await self.user.press_reply(ask, SHARE)

    async def press(self, message: Any, label: str) -> None:
        await self.user.press(message, label)

    def count(self) -> int:
        return len(self.tg.sent(self.id))

    def photos(self) -> list[bytes]:
        return [m.file or b"" for m in self.tg.sent(self.id) if m.method == "sendPhoto"]

    def labels(self, message: Any) -> list[str]:
        current = self.tg.message(message.chat_id, message.message_id)
        return [label for row in [*current.buttons(), *current.reply_buttons()] for label in row]


class MaxWire:
    def __init__(self, mx: FakeMax, user_id: int, first: str, last: str, phone: str) -> None:
        self.mx, self.id = mx, user_id
        self.user = mx.user(user_id, first, last, phone=phone)

    async def send(self, text: str, reply_to: Any = None) -> None:
        await self.user.send(text, reply_to=reply_to)

    async def wait(self, predicate: Callable[[str], bool], after: int = 0) -> Any:
        return await self.mx.wait_for(self.id, lambda m: predicate(m.plain), after=after)

    async def share_contact(self, ask: Any) -> None:
        await self.user.press(ask, SHARE)  # MAX's request_contact button: the own contact card

    async def press(self, message: Any, label: str) -> None:
        await self.user.press(message, label)

    def count(self) -> int:
        return len(self.mx.sent(self.id))

    def photos(self) -> list[bytes]:
        return [
            self.mx.file(a["payload"]["token"]).data
            for m in self.mx.sent(self.id)
            for a in m.files()
            if a["type"] == "image"
        ]

    def labels(self, message: Any) -> list[str]:
        return message.buttons()  # type: ignore[no-any-return]


@pytest.fixture(params=["telegram", "max"])
def wire_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)



class World:
    def __init__(self, wire_name: str, app: App, tg: FakeTelegram, mx: FakeMax) -> None:
        self.wire_name, self.app, self.tg, self.mx = wire_name, app, tg, mx

    def person(self, user_id: int, first: str, last: str) -> Wire:
        phone = PHONES[user_id]
        if self.wire_name == "max":
            return MaxWire(self.mx, user_id, first, last, phone.lstrip("+"))
        return TelegramWire(self.tg, user_id, first, last, phone)

    async def link(self, user_id: int, first: str, last: str) -> Wire:
        who = self.person(user_id, first, last)
        await who.send("/start")
        ask = await who.wait(lambda text: "поделитесь своим номером" in text)
        await who.share_contact(ask)
        # The greeting names the person: where the policy keeps names off Telegram, the pointer instead.
        await who.wait(lambda text: "Ваши роли" in text or "🔒" in text)
        return who


@asynccontextmanager
async def world(wire_name: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> AsyncIterator[World]:
    served = mx if wire_name == "max" else None
    async with running_bot(tg, tmp_path, mx=served) as app:
        await load_school(app)
        yield World(wire_name, app, tg, mx)


async def _eventually(check: Callable[[], Awaitable[bool]], attempts: int = 400) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition did not become true within 8 s")


async def test_onboarding_by_own_contact(wire_name: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> None:
    async with world(wire_name, tg, mx, tmp_path) as w:
        teacher = w.person(TEACHER, "Игорь", "Морозов")
        await teacher.send("/start")
        ask = await teacher.wait(lambda text: "поделитесь своим номером" in text)
        assert SHARE in teacher.labels(ask)
        await teacher.share_contact(ask)
        hello = await teacher.wait(lambda text: "Здравствуйте, Игорь Сергеевич" in text)
        assert TEACHER_NAME in str(hello.plain)
        # Each messenger is told where its commands are: MAX has no «Меню» button.
        assert ("по кнопке «Меню»" in str(hello.plain)) == (wire_name == "telegram")
        assert ("например /help" in str(hello.plain)) == (wire_name == "max")
        person = await w.app.people.get(await person_id(w.app, TEACHER_NAME))
        assert person is not None
        # Linked as an account of the messenger used, and of that one only.
        assert [(a.channel, a.user_id) for a in person.accounts] == [(wire_name, TEACHER)]

        # Staff get their invitation code card on linking, over the wire they use.
        async def card() -> bool:
            return len(teacher.photos()) == 1

        await _eventually(card)
        assert decode_qr(teacher.photos()[0]) == [CODES[TEACHER_NAME]]


async def test_consent_then_family_codes(wire_name: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> None:
    async with world(wire_name, tg, mx, tmp_path) as w:
        parent = await w.link(PARENT_TWO, "Елена", "Иванова")
        await w.app.tick()
        await asyncio.sleep(0.2)
        assert parent.photos() == []  # no consent yet: no codes
        elena = await w.app.people.get(await person_id(w.app, ELENA))
        assert elena is not None
        version = await w.app.services.consent.current()
        children = [await person_id(w.app, MISHA)]
        for child_id in children:
            child = await w.app.people.get(child_id)
            assert child is not None
            await w.app.services.consent.open_document(elena, child, "ru")
        # The press names its account: the messenger it came from and the user id there.
        await w.app.services.consent.decide(
            parent=elena, child_ids=children, decision="given", version=version.number,
            channel=Channel(wire_name), user_id=PARENT_TWO, update_id=None, callback_id="e2e",
        )
        w.app.wake_sender()

        async def two_cards() -> bool:
            return len(parent.photos()) == 2

        await _eventually(two_cards)
        assert sorted(decode_qr(p)[0] for p in parent.photos()) == sorted([CODES[MISHA], CODES[ELENA]])


async def test_question_to_the_it_officer(wire_name: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> None:
    async with world(wire_name, tg, mx, tmp_path) as w:
        officer = await w.link(IT_OFFICER, "Пётр", "Петров")
        parent = await w.link(PARENT_ONE, "Олег", "Смирнов")
        mark = parent.count()
        await parent.send("Где взять справку для бассейна?")
        offer = await parent.wait(lambda text: "Возможно, ответ здесь" in text, after=mark)
        await parent.press(offer, parent.labels(offer)[-1])
        notice = await officer.wait(lambda text: "Вопрос №1" in text)
        assert "Смирнов Олег Павлович" in str(notice.plain) and "справку для бассейна" in str(notice.plain)

        # No wait for the sender to record the notice's message id: the reply is resolved from the
        # notice's own buttons, which both messengers hand back with the replied-to message.
        mark = parent.count()
        await officer.send("Справку выдаёт медсестра, кабинет 3, с 9 до 12.", reply_to=notice)
        answer = await parent.wait(lambda text: "медсестра" in text, after=mark)
        assert "Где взять справку для бассейна?" in str(answer.plain)


async def test_a_credential_never_goes_out_on_a_channel_the_policy_forbids(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    """MAX is served, so the default policy holds: Telegram carries public notices only. A teacher
    linked on Telegram alone gets a pointer there, never the card; once linked on MAX too, the card
    goes to MAX, still never to Telegram. The send log says so, with no personal data in it."""
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        teacher = TelegramWire(tg, TEACHER, "Игорь", "Морозов", PHONES[TEACHER])
        await teacher.send("/start")
        ask = await teacher.wait(lambda text: "поделитесь своим номером" in text)
        await teacher.share_contact(ask)
        pointer = await teacher.wait(lambda text: "Код приглашения" in text)
        assert "в боте школы в MAX: https://max.ru/" in str(pointer.plain)
        assert CODES[TEACHER_NAME] not in str(pointer.plain)
        assert teacher.photos() == []
        repo = MessengerRepo(app.db)

        async def logged() -> bool:
            return any(r.channel == "paper" for r in await repo.send_log())

        await _eventually(logged)
        log = [(r.channel, r.data_class, r.outcome) for r in await repo.send_log()]
        assert ("telegram", DataClass.CREDENTIAL, "pointer") in log
        assert ("paper", DataClass.CREDENTIAL, "paper") in log
        assert ("telegram", DataClass.CREDENTIAL, "sent") not in log

        # The same teacher links MAX as well and asks for the card again: it goes to MAX.
        on_max = MaxWire(mx, 99_004, "Игорь", "Морозов", PHONES[TEACHER].lstrip("+"))
        await on_max.send("/start")
        ask = await on_max.wait(lambda text: "поделитесь своим номером" in text)
        await on_max.share_contact(ask)
        await on_max.wait(lambda text: "Ваши роли" in text)
        person = await app.people.get(await person_id(app, TEACHER_NAME))
        assert person is not None
        assert (person.user_id(Channel.TELEGRAM), person.user_id(Channel.MAX)) == (TEACHER, 99_004)
        assert (await repo.people_per_channel())["both"] == 1
        await on_max.send("/codes")
        menu = await on_max.wait(lambda text: "Чей код" in text or "код" in text.lower())
        labels = on_max.labels(menu)
        if labels:
            await on_max.press(menu, labels[0])

        async def card_on_max() -> bool:
            return len(on_max.photos()) >= 1

        await _eventually(card_on_max)
        assert decode_qr(on_max.photos()[0]) == [CODES[TEACHER_NAME]]
        assert teacher.photos() == []  # never on Telegram
        assert all(m.method != "sendPhoto" for m in tg.sent(TEACHER))
        for record in await repo.send_log():
            if record.data_class is DataClass.CREDENTIAL:
                assert not (record.channel == "telegram" and record.outcome == "sent")
        # On Telegram, asking for the card directly gets the pointer too.
        mark = teacher.count()
        await teacher.send("/codes")
        menu = await teacher.wait(lambda text: bool(text), after=mark)
        labels = teacher.labels(menu)
        if labels and "код" in labels[0].lower():
            await teacher.press(menu, labels[0])
            await teacher.wait(lambda text: "в боте школы в MAX" in text, after=mark)
        assert all(m.method != "sendPhoto" for m in tg.sent(TEACHER))


async def test_the_person_chooses_the_messenger(tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> None:
    """Linked on both, the parent picks MAX with /messenger; a notice then goes to MAX, not Telegram.
    A button naming a messenger the person is not linked on changes nothing."""
    async with running_bot(tg, tmp_path, mx=mx) as app:
        await load_school(app)
        w = World("telegram", app, tg, mx)
        on_tg = await w.link(PARENT_ONE, "Олег", "Смирнов")
        on_max = MaxWire(mx, 77_006, "Олег", "Смирнов", PHONES[PARENT_ONE].lstrip("+"))
        await on_max.send("/start")
        await on_max.share_contact(await on_max.wait(lambda text: "поделитесь своим номером" in text))
        await on_max.wait(lambda text: "Ваши роли" in text)
        oleg = await app.people.by_account(Channel.MAX, 77_006)
        assert oleg is not None and oleg.user_id(Channel.TELEGRAM) == PARENT_ONE

        mark = on_tg.count()
        await on_tg.send("/messenger")
        choice = await on_tg.wait(lambda text: "Куда присылать" in text, after=mark)
        assert on_tg.labels(choice) == ["✅ Telegram", "MAX"]
        await on_tg.press(choice, "MAX")
        repo = MessengerRepo(app.db)

        async def chosen() -> bool:
            reach = await repo.reach(oleg.id)
            return reach is not None and reach.preferred is Channel.MAX

        await _eventually(chosen)
        async with app.db.transaction() as conn:
            await app.services.outbox.notify(
                conn, oleg, key="e2e:notice", payload=Payload(text="Собрание в четверг в 18:00"),
                now=app.clock.now(), data_class=DataClass.PUBLIC,
            )  # fmt: skip
        await on_max.wait(lambda text: "Собрание в четверг" in text)
        assert not any("Собрание" in (m.plain or "") for m in tg.sent(PARENT_ONE))

        # Someone linked on Telegram only cannot pick MAX, even with a forged button.
        ivan = await w.link(PARENT_TWO, "Елена", "Иванова")
        mark = ivan.count()
        await ivan.send("/messenger")
        only = await ivan.wait(lambda text: "Куда присылать" in text, after=mark)
        assert ivan.labels(only) == ["✅ Telegram"]
        elena = await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
        assert elena is not None
        async with app.db.transaction() as conn:
            assert not await MessengerRepo.set_preferred(conn, elena.id, Channel.MAX, app.clock.now())
        # The IT officer's status counts people per messenger.
        text = status.render(await app.services.status.collect(), app.catalog.bind("ru"), app.school.tz)
        assert "В Telegram: 1, в MAX: 0, в обоих: 1" in text
        # So does the XLSX report, on a sheet of its own.
        book = load_workbook(io.BytesIO(await app.services.report.render_report(app.catalog.bind("ru"))))
        sheet = book["Мессенджеры"]
        counts = {str(r[0]): r[1] for r in sheet.iter_rows(min_row=2, values_only=True)}
        assert counts["Только Telegram"] == 1 and counts["Telegram и MAX"] == 1 and counts["Только MAX"] == 0
        assert counts["Всего в составе"] == counts["Только Telegram"] + counts["Только MAX"] + counts[
            "Telegram и MAX"] + counts["Не подключены (бумага)"]
