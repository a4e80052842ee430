"""A school with its own bots reaches a person known only through the district bot (#27, item 3).

A person may talk to a school only through the district bot (its school link, its picker) and never
press Start in the school's own bot: the platform refuses that bot's messages to them (Telegram: 403
"bot can't initiate conversation with a user"; MAX: 404 chat.not.found). The school's outbox sends
each person's messages through a bot that reaches them: the school's own bot on that messenger if
the person has talked to it, else the district bot, under the school's name; a 403 from the school's
own bot for a person the district bot reaches goes there instead of being lost. The channel policy
applies to the district bot's sends exactly as to the school's own."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.channels import Channel, DataClass
from bot.domain.people import Account
from bot.fakeapi import FakeTelegram
from bot.fakeapi.models import SentMessage
from bot.fakemax import FakeMax
from bot.multibot import DISTRICT_ID_BASE, Multibot
from bot.reach import Via, via
from bot.services.broadcast import Audience
from storage.messengers import MessengerRepo
from tests.codes_helpers import CODES, decode_qr, load_school
from tests.harness import CLASS_TEACHER, PARENT_ONE, PARENT_TWO, TEACHER, free_port
from tests.multibot_helpers import SchoolSetup, running_district

ASK = "Чтобы бот узнал вас"
SHARE = "📱 Поделиться номером телефона"
IGOR = "Морозов Игорь Сергеевич"
OLGA = "Кузнецова Ольга Николаевна"
ELENA = "Иванова Елена Викторовна"
MISHA = "Иванов Миша Андреевич"
NUDGE = "Школа просит вас прочитать согласие"
NEWS = "Педсовет в пятницу в 15:00"


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeTelegram]]:
    # Strict chats: as on Telegram, a bot may not write to a user who never pressed Start in it.
    async with (
        FakeTelegram(token="5001:SCHOOL-A", bot_username="school_a_bot", strict_chats=True) as a,
        FakeTelegram(token="5999:DISTRICT", bot_username="district_bot", strict_chats=True) as d,
    ):
        yield {"a": a, "district": d}


async def _eventually(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    # Real sends over a real socket to the fakes: the condition is polled (time is the ManualClock's).
    for _ in range(500):
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not within 10 s")


def _photos(fake: FakeTelegram, chat: int) -> list[SentMessage]:
    return [m for m in fake.sent(chat) if m.method == "sendPhoto"]


def _news(fake: FakeTelegram, chat: int) -> list[SentMessage]:
    return [m for m in fake.sent(chat) if NEWS in (m.plain or "")]


async def _join_by_district_link(district: FakeTelegram, user_id: int, first: str, last: str, phone: str) -> None:
    who = district.user(user_id, first, last, phone=phone)
    await who.send("/start a")
    ask = await district.wait_for(user_id, lambda m: ASK in (m.plain or ""))
    await who.press_reply(ask, SHARE)
    await district.wait_for(user_id, lambda m: "Ваши роли" in (m.plain or ""))


async def _join_by_own_bot(fake: FakeTelegram, user_id: int, first: str, last: str, phone: str) -> None:
    who = fake.user(user_id, first, last, phone=phone)
    await who.send("/start")
    ask = await fake.wait_for(user_id, lambda m: ASK in (m.plain or ""))
    await who.press_reply(ask, SHARE)
    await fake.wait_for(user_id, lambda m: "Ваши роли" in (m.plain or ""))


async def _drained(multibot: Multibot, key: str = "a") -> Callable[[], Awaitable[bool]]:
    app = multibot.schools[key].app

    async def check() -> bool:
        return not await app.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'")

    return check


async def _statuses(multibot: Multibot, key: str = "a") -> dict[str, int]:
    rows = await multibot.schools[key].app.db.fetchall("SELECT status, count(*) FROM outbox GROUP BY status")
    return {str(r[0]): int(r[1]) for r in rows}


async def test_a_school_with_its_own_bot_reaches_through_the_district_bot_whoever_joined_there(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    a, district = fakes["a"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a)}
    async with running_district(tmp_path, schools, free_port(), district_tg=district) as multibot:
        app = multibot.schools["a"].app
        await load_school(app)
        # Igor joins school A by its link in the district bot and never starts A's own bot; Olga joins in
        # A's own bot.
        await _join_by_district_link(district, TEACHER, "Игорь", "Морозов", "+79000000004")
        await _join_by_own_bot(a, CLASS_TEACHER, "Ольга", "Кузнецова", "89000000003")
        # Their code cards go through A's outbox: Igor's by the district bot under A's name, Olga's by A's.
        card = await district.wait_for(TEACHER, lambda m: m.method == "sendPhoto")
        assert card.file is not None and decode_qr(card.file) == [CODES[IGOR]]
        assert (card.plain or "").startswith("🏫 Школа А")
        own_card = await a.wait_for(CLASS_TEACHER, lambda m: m.method == "sendPhoto")
        assert own_card.file is not None and decode_qr(own_card.file) == [CODES[OLGA]]
        assert "🏫" not in (own_card.plain or "")
        # A broadcast of the school to its staff: each once, through the bot that reaches them.
        _, queued = await app.services.broadcast.create(
            audience=Audience("staff"), html_text=NEWS, author=None, data_class=DataClass.PUBLIC,
        )
        assert queued == 2
        news = await district.wait_for(TEACHER, lambda m: NEWS in (m.plain or ""))
        assert (news.plain or "").startswith("🏫 Школа А")
        await a.wait_for(CLASS_TEACHER, lambda m: NEWS in (m.plain or ""))
        await _eventually(await _drained(multibot), "A's outbox drained")
        # Nothing twice, nothing through a bot that cannot reach them, nothing refused or cancelled.
        assert len(_photos(district, TEACHER)) == 1 and len(_news(district, TEACHER)) == 1
        assert len(_photos(a, CLASS_TEACHER)) == 1 and len(_news(a, CLASS_TEACHER)) == 1
        assert a.sent(TEACHER) == [] and district.sent(CLASS_TEACHER) == []
        assert not [r for r in a.requests if r.params.get("chat_id") == TEACHER]
        assert await _statuses(multibot) == {"sent": 4}
        igor = await app.people.by_account(Channel.TELEGRAM, TEACHER)
        assert igor is not None and igor.reachable


async def test_a_refusal_by_the_schools_own_bot_goes_to_the_district_bot_that_reaches_the_person(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    """Igor wrote to school A through both bots, then blocked A's own: its 403 sends A's messages through
    the district bot, not to the bin. Olga, who never wrote to the district bot, blocked A's bot too:
    she is unreachable as before, and the district bot never writes to her."""
    a, district = fakes["a"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a)}
    async with running_district(tmp_path, schools, free_port(), district_tg=district) as multibot:
        app = multibot.schools["a"].app
        await load_school(app, with_codes=False)
        await _join_by_own_bot(a, TEACHER, "Игорь", "Морозов", "+79000000004")
        await _join_by_own_bot(a, CLASS_TEACHER, "Ольга", "Кузнецова", "89000000003")
        # Igor also talks to A in the district bot (known in A only: A answers there).
        await district.user(TEACHER, "Игорь", "Морозов").send("/menu")
        await district.wait_for(TEACHER, lambda m: (m.plain or "").startswith("🏫 Школа А"))
        await district.webhooks.wait_delivered()
        # That it reaches him is noted, but is not the update's effect: the update (it wrote nothing
        # else) is not recorded as processed in the store, so a redelivery after a crash would run again.
        recorded = await app.db.fetchall("SELECT update_id FROM processed_updates WHERE update_id >= ?",
                                         (DISTRICT_ID_BASE,))
        assert list(recorded) == []
        account = await app.db.fetchone("SELECT via_own_at, via_district_at FROM accounts WHERE user_id = ?",
                                        (TEACHER,))
        assert account is not None and account[0] is not None and account[1] is not None
        a.block(TEACHER, notify=False)
        a.block(CLASS_TEACHER, notify=False)
        await app.services.broadcast.create(
            audience=Audience("staff"), html_text=NEWS, author=None, data_class=DataClass.PUBLIC,
        )
        news = await district.wait_for(TEACHER, lambda m: NEWS in (m.plain or ""))
        assert (news.plain or "").startswith("🏫 Школа А")
        await _eventually(await _drained(multibot), "A's outbox drained")
        assert len(_news(district, TEACHER)) == 1 and _news(a, TEACHER) == []
        # A's bot was asked once for Igor (refused), then the district bot took the message.
        refused = [r for r in a.requests if NEWS in str(r.params.get("text")) and r.params.get("chat_id") == TEACHER]
        assert [r.status for r in refused] == [403]
        assert await _statuses(multibot) == {"sent": 1, "cancelled": 1}
        igor = await app.people.by_account(Channel.TELEGRAM, TEACHER)
        assert igor is not None and igor.reachable
        olga = await app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
        assert olga is not None and not olga.reachable
        assert not [r for r in district.requests if r.params.get("chat_id") == CLASS_TEACHER]
        # Igor unblocks A's bot and writes to it: A's own bot is his again.
        await a.user(TEACHER, "Игорь", "Морозов").send("/menu")
        await a.webhooks.wait_delivered()
        await app.services.broadcast.create(
            audience=Audience("staff"), html_text=NEWS + "!", author=None, data_class=DataClass.PUBLIC,
        )
        await a.wait_for(TEACHER, lambda m: NEWS + "!" in (m.plain or ""))
        await _eventually(await _drained(multibot), "A's outbox drained")
        assert len(_news(district, TEACHER)) == 1


async def test_a_municipal_schools_fallback_keeps_personal_data_off_telegram(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    """A municipal school (Telegram: public notices only): what its own Telegram bot may not carry, the
    district's Telegram bot may not either. A code card and a personal broadcast to a person known
    only through the district bot go there as the pointer, under the school's name, and the send log
    says so."""
    a, district = fakes["a"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a, municipal=True)}
    async with running_district(tmp_path, schools, free_port(), district_tg=district) as multibot:
        app = multibot.schools["a"].app
        await load_school(app)
        igor = district.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
        await igor.send("/start a")
        ask = await district.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        await igor.press_reply(ask, SHARE)
        # His code card, by the district bot: the pointer (a code is a credential), never the card.
        await district.wait_for(TEACHER, lambda m: "Код приглашения" in (m.plain or ""))
        await app.services.broadcast.create(audience=Audience("staff"), html_text=NEWS, author=None)
        await _eventually(await _drained(multibot), "A's outbox drained")
        assert await _statuses(multibot) == {"sent": 2}
        texts = [m.plain or "" for m in district.sent(TEACHER)]
        assert not [m for m in district.sent(TEACHER) if m.method != "sendMessage"]
        assert not [t for t in texts if NEWS in t or CODES[IGOR] in t]
        pointers = [t for t in texts if "🔒" in t]
        assert len(pointers) == 3 and all(t.startswith("🏫 Школа А") for t in pointers)  # the roles, card, news
        assert a.sent(TEACHER) == []
        log = await MessengerRepo(app.db).send_log()
        outbox = [(r.channel, r.data_class, r.outcome) for r in log if r.purpose.startswith("outbox:")]
        assert sorted(outbox) == sorted([
            ("telegram", DataClass.CREDENTIAL, "pointer"), ("paper", DataClass.CREDENTIAL, "paper"),
            ("telegram", DataClass.PERSONAL, "pointer"),
        ])


@pytest.fixture
async def maxes() -> AsyncIterator[dict[str, FakeMax]]:
    # One fake MAX per bot: a user exists for a bot only once they have started it (404 chat.not.found
    # otherwise, as MAX answers for a user who never wrote to the bot).
    async with (
        FakeMax(token="max-school-a", bot_id=900_101, bot_username="school_a_max") as a,
        FakeMax(token="max-district", bot_id=900_999, bot_username="district_max") as d,
    ):
        a.allow_http_webhooks = d.allow_http_webhooks = True
        yield {"a": a, "district": d}
    for fake in (a, d):
        assert fake.response_violations == [] and fake.internal_errors == []


def _max_cards(fake: FakeMax, user_id: int) -> list[str]:
    return [m.plain for m in fake.sent(user_id) if any(f["type"] == "image" for f in m.files())]


async def test_on_max_a_school_reaches_through_the_district_bot_whoever_joined_there(
    maxes: dict[str, FakeMax], fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    """School A has its own MAX bot; school B only its own Telegram bot. Igor joins both through the
    district's MAX bot, Olga joins A through A's MAX bot: each school's cards and broadcast reach Igor
    through the district's MAX bot under that school's name (B's too, though B has no MAX bot of its
    own), and Olga through A's."""
    own_max, district_max = maxes["a"], maxes["district"]
    schools = {"a": SchoolSetup("Школа А", mx=own_max), "b": SchoolSetup("Школа Б", tg=fakes["a"])}
    async with running_district(tmp_path, schools, free_port(), district_mx=district_max) as multibot:
        for key in ("a", "b"):
            await load_school(multibot.schools[key].app)
        igor = district_max.user(TEACHER, "Игорь", "Морозов", phone="79000000004")
        for key, title in (("a", "Школа А"), ("b", "Школа Б")):
            mark = len(district_max.sent(TEACHER))
            await igor.send(f"/start {key}")
            ask = await district_max.wait_for(TEACHER, lambda m: ASK in m.plain, after=mark)
            await igor.press(ask, SHARE)
            await district_max.wait_for(TEACHER, lambda m: "Ваши роли" in m.plain, after=mark)
            await district_max.wait_for(TEACHER, lambda m, t=title: m.plain.startswith(f"🏫 {t}") and any(
                f["type"] == "image" for f in m.files()), after=mark)
        olga = own_max.user(CLASS_TEACHER, "Ольга", "Кузнецова", phone="79000000003")
        await olga.send("/start")
        await olga.press(await own_max.wait_for(CLASS_TEACHER, lambda m: ASK in m.plain), SHARE)
        await own_max.wait_for(CLASS_TEACHER, lambda m: any(f["type"] == "image" for f in m.files()))
        for key in ("a", "b"):
            await multibot.schools[key].app.services.broadcast.create(
                audience=Audience("staff"), html_text=f"{NEWS} ({key})", author=None, data_class=DataClass.PUBLIC,
            )
        for key, title in (("a", "Школа А"), ("b", "Школа Б")):
            news = await district_max.wait_for(TEACHER, lambda m, k=key: f"{NEWS} ({k})" in m.plain)
            assert news.plain.startswith(f"🏫 {title}")
        await own_max.wait_for(CLASS_TEACHER, lambda m: f"{NEWS} (a)" in m.plain)
        for key in ("a", "b"):
            await _eventually(await _drained(multibot, key), f"{key}'s outbox drained")
        cards = _max_cards(district_max, TEACHER)
        assert len(cards) == 2 and sorted(c.split("\n")[0] for c in cards) == ["🏫 Школа А", "🏫 Школа Б"]
        assert len([m for m in district_max.sent(TEACHER) if NEWS in m.plain]) == 2
        assert own_max.sent(TEACHER) == [] and district_max.sent(CLASS_TEACHER) == []
        assert len(_max_cards(own_max, CLASS_TEACHER)) == 1
        assert len([m for m in own_max.sent(CLASS_TEACHER) if NEWS in m.plain]) == 1
        assert await _statuses(multibot, "a") == {"sent": 4}
        assert await _statuses(multibot, "b") == {"sent": 2}


def test_the_bot_a_message_goes_by() -> None:
    """bot/reach.py `via`: the school's own bot if the account wrote to it, else the district bot if it
    wrote to that one, else (an account from before this was recorded) the school's own, as before."""
    both = [Via.OWN, Via.DISTRICT]

    def account(*, own: bool = False, district: bool = False) -> Account:
        return Account(1, "telegram", 7, via_own=own, via_district=district)

    assert via(account(own=True, district=True), both) is Via.OWN
    assert via(account(district=True), both) is Via.DISTRICT
    assert via(account(), both) is Via.OWN
    assert via(account(own=True), [Via.DISTRICT]) is Via.DISTRICT  # the only bot there is
    assert via(account(district=True), [Via.OWN]) is Via.OWN
    assert via(account(), []) is None


def _label(message: SentMessage, start: str) -> str | None:
    return next((b for row in message.buttons() for b in row if b.startswith(start) and "Миша" in b), None)


async def test_a_parent_who_joined_through_the_district_bot_gets_the_familys_cards_after_consent_there(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    """Elena and Oleg join school A by its link in the district bot. Elena consents there: her receipt
    and the family's QR cards that follow (the school's outbox) come by the district bot under A's
    name, each once. Oleg does not decide: the school's reminder days later finds him there too."""
    a, district = fakes["a"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a)}
    async with running_district(tmp_path, schools, free_port(), district_tg=district) as multibot:
        app = multibot.schools["a"].app
        await load_school(app)
        await _join_by_district_link(district, PARENT_TWO, "Елена", "Иванова", "+79000000005")
        elena = district.user(PARENT_TWO, "Елена", "Иванова")
        await elena.send("📝 Согласие")
        menu = await district.wait_for(PARENT_TWO, lambda m: _label(m, "📄") is not None)
        await elena.press(menu, _label(menu, "📄") or "")
        holder = await district.wait_for(PARENT_TWO, lambda m: _label(m, "✅") is not None)
        await elena.press(holder, _label(holder, "✅") or "")
        await _eventually(lambda: len(_photos(district, PARENT_TWO)) >= 2, "the family's cards")
        await _eventually(await _drained(multibot), "A's outbox drained")
        cards = _photos(district, PARENT_TWO)
        assert sorted(decode_qr(c.file or b"")[0] for c in cards) == sorted([CODES[ELENA], CODES[MISHA]])
        assert all((c.plain or "").startswith("🏫 Школа А") for c in cards)
        receipts = [m for m in district.sent(PARENT_TWO) if "Квитанция" in (m.plain or "")]
        assert len(receipts) == 1 and (receipts[0].plain or "").startswith("🏫 Школа А")
        # Oleg's reminder to read the consent: the school's sweep, days later, in working hours.
        await _join_by_district_link(district, PARENT_ONE, "Олег", "Смирнов", "+79000000006")
        start, mark = app.clock.now(), len(district.sent(PARENT_ONE))
        for day in range(1, 8):
            app.clock.set(start + timedelta(days=day))  # type: ignore[attr-defined]
            await app.tick()
            app.wake_sender()
            await _eventually(await _drained(multibot), "A's outbox drained")
            if any(NUDGE in (m.plain or "") for m in district.sent(PARENT_ONE)[mark:]):
                break
        nudges = [m for m in district.sent(PARENT_ONE)[mark:] if NUDGE in (m.plain or "")]
        assert len(nudges) == 1 and (nudges[0].plain or "").startswith("🏫 Школа А")
        for parent in (PARENT_TWO, PARENT_ONE):
            assert a.sent(parent) == [] and not [r for r in a.requests if r.params.get("chat_id") == parent]
        statuses = await _statuses(multibot)
        assert set(statuses) == {"sent"}, statuses
