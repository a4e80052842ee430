"""One process, many bots (issue #27, item 3): school A's and school B's own bots and the district bot
served by one Dispatcher through one webhook server, each update handled with its school's services
only; the district bot's picker for a person known in two schools; update ids that repeat across
bots all handled."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram.fsm.storage.redis import RedisStorage

from bot.channels import Channel, deep_link
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.multibot import DISTRICT_ID_BASE, build_multibot, deep_link_school, serve_multibot
from storage.db import StorageError
from storage.help import HelpRepo
from tests.harness import (
    DEFAULT_START,
    PARENT_TWO,
    ROSTER_ROWS,
    TEACHER,
    WEBHOOK_SECRET,
    csv_bytes,
    free_port,
    make_settings,
    roster_csv,
)
from tests.multibot_helpers import SchoolSetup, running_district, school_apps
from tests.servers import make_unopenable

ASK = "Чтобы бот узнал вас"
# School B's roster: the same people, but the parent's children have other names there.
B_CHILDREN = {"Иванов Миша Андреевич": "Иванов Гоша Андреевич", "Иванова Маша Андреевна": "Иванова Даша Андреевна"}


def roster_b() -> bytes:
    rows = [[_rename(cell) for cell in row] for row in ROSTER_ROWS]
    return csv_bytes(rows)


def _rename(cell: str) -> str:
    for old, new in B_CHILDREN.items():
        cell = cell.replace(old, new)
    return cell


def _secret(name: str) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), name.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeTelegram]]:
    async with (
        FakeTelegram(token="5001:SCHOOL-A", bot_username="school_a_bot") as a,
        FakeTelegram(token="5002:SCHOOL-B", bot_username="school_b_bot") as b,
        FakeTelegram(token="5999:DISTRICT", bot_username="district_bot") as d,
    ):
        yield {"a": a, "b": b, "district": d}


async def test_each_bot_has_its_route_and_secret_and_answers_for_its_school(
    fakes: dict[str, FakeTelegram], mx: FakeMax, tmp_path: Path
) -> None:
    port = free_port()
    a, b = fakes["a"], fakes["b"]
    schools = {"a": SchoolSetup("Школа А", tg=a, mx=mx), "b": SchoolSetup("Школа Б", tg=b)}
    async with running_district(tmp_path, schools, port, district_tg=fakes["district"]) as multibot:
        base = f"http://127.0.0.1:{port}/hook"
        for key, fake in (("a", a), ("b", b), ("district", fakes["district"])):
            hook = fake.webhooks.webhook
            assert hook is not None and hook.url == f"{base}/telegram/{key}"
            assert hook.secret_token == _secret(f"telegram/{key}")
        assert list(mx.subscriptions) == [f"{base}/max/a"]
        assert mx.subscriptions[f"{base}/max/a"].secret == _secret("max/a")
        # One process, one Dispatcher: every bot's updates reach the same router tree.
        assert multibot.dispatcher is not None
        # A's secret does not open B's door, nor the one-school route.
        async with aiohttp.ClientSession() as http:
            for path, secret in (("telegram/b", _secret("telegram/a")), ("telegram/a", _secret("telegram")),
                                 ("telegram", _secret("telegram/a"))):
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with http.post(f"{base}/{path}", json={"update_id": 1}, headers=headers) as resp:
                    assert resp.status in (403, 404)
        # Each school's bot answers with its own school's name; A's bot in MAX too.
        await a.user(TEACHER, "Игорь", "Морозов").send("/start")
        await b.user(TEACHER, "Игорь", "Морозов").send("/start")
        olga = mx.user(77_001, "Ольга", "Иванова")
        await olga.send("/start")
        in_a = await a.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        in_b = await b.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        in_max = await mx.wait_for(olga.id, lambda m: ASK in m.plain)
        assert "Школа А" in (in_a.plain or "") and "Школа Б" not in (in_a.plain or "")
        assert "Школа Б" in (in_b.plain or "") and "Школа А" not in (in_b.plain or "")
        assert "Школа А" in in_max.plain
        # Both Telegram bots delivered update 1: each was handled.
        await a.webhooks.wait_delivered()
        await b.webhooks.wait_delivered()
        assert [d.update_id for d in a.webhooks.deliveries][:1] == [1]
        assert [d.update_id for d in b.webhooks.deliveries][:1] == [1]


async def test_update_ids_repeat_across_bots_and_each_is_handled(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    """School A's own bot and the district bot both deliver update 1 and 2 for school A (one store): the
    contact linked through A's bot (update 2, recorded as processed in A's store) does not make the
    district bot's update 2 a 'duplicate'."""
    port = free_port()
    a, district = fakes["a"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a), "b": SchoolSetup("Школа Б", tg=fakes["b"])}
    async with running_district(tmp_path, schools, port, district_tg=district) as multibot:
        app = multibot.schools["a"].app
        assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        igor = a.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
        await igor.send("/start")
        ask = await a.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        await igor.press_reply(ask, "📱 Поделиться номером телефона")
        await a.wait_for(TEACHER, lambda m: "Ваши роли" in (m.plain or ""))
        assert app.db.is_processed(2)
        # The same person in the district bot: known in A only, so A answers, under A's name.
        same = district.user(TEACHER, "Игорь", "Морозов")
        await same.send("/help")
        await same.send("/menu")
        await district.wait_for(TEACHER, lambda m: "/menu" in (m.plain or ""))
        await district.wait_for(TEACHER, lambda m: "Выберите действие" in (m.plain or "") or "меню" in (m.plain or ""),
                                after=1)
        await district.webhooks.wait_delivered()
        assert [d.update_id for d in district.webhooks.deliveries] == [1, 2]
        texts = [m.plain or "" for m in district.sent(TEACHER)]
        assert len(texts) == 2, texts
        # Under the school's name: the person knows which school speaks; the menu offers another school.
        assert all(t.startswith("🏫 Школа А") for t in texts), texts
        assert "🏫 Сменить школу" in str(district.sent(TEACHER)[1].reply_markup)
        # Each bot's ids in their own space of A's store.
        assert app.db.is_processed(DISTRICT_ID_BASE + 1) and app.db.is_processed(DISTRICT_ID_BASE + 2)


async def test_a_parent_in_two_schools_picks_one_in_the_district_bot_and_sees_its_children_only(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    port = free_port()
    a, b, district = fakes["a"], fakes["b"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a), "b": SchoolSetup("Школа Б", tg=b)}
    async with running_district(tmp_path, schools, port, district_tg=district) as multibot:
        for key, roster in (("a", roster_csv()), ("b", roster_b())):
            app = multibot.schools[key].app
            assert (await app.services.roster_import.import_roster(roster, "roster.csv", now=app.clock.now())).ok
        # The parent links in each school through that school's own bot (same Telegram id).
        for fake in (a, b):
            elena = fake.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
            await elena.send("/start")
            ask = await fake.wait_for(PARENT_TWO, lambda m: ASK in (m.plain or ""))
            await elena.press_reply(ask, "📱 Поделиться номером телефона")
            await fake.wait_for(PARENT_TWO, lambda m: "Ваши роли" in (m.plain or ""))
        # Through A's own bot: A's children only.
        in_a = a.user(PARENT_TWO, "Елена", "Иванова")
        await in_a.send("📝 Согласие")
        consent_a = await a.wait_for(PARENT_TWO, lambda m: "Миша" in (m.plain or "") + str(m.reply_markup))
        assert "Гоша" not in (consent_a.plain or "") + str(consent_a.reply_markup)
        # The district bot: known in both, so it asks which school.
        elena = district.user(PARENT_TWO, "Елена", "Иванова")
        await elena.send("/start")
        pick = await district.wait_for(PARENT_TWO, lambda m: "Выберите школу" in (m.plain or ""))
        await elena.press(pick, "Школа Б")
        await district.wait_for(PARENT_TWO, lambda m: "Вы в школе «Школа Б»" in (m.plain or ""))
        mark = len(district.sent(PARENT_TWO))
        await elena.send("📝 Согласие")
        consent_b = await district.wait_for(PARENT_TWO, lambda m: "Гоша" in (m.plain or "") + str(m.reply_markup))
        assert (consent_b.plain or "").startswith("🏫 Школа Б")
        seen = " ".join((m.plain or "") + str(m.reply_markup) for m in district.sent(PARENT_TWO)[mark:])
        assert "Миша" not in seen and "Маша" not in seen
        # «🏫 Сменить школу» from the menu: back to A, and A's children.
        await elena.send("🏫 Сменить школу")
        pick = await district.wait_for(PARENT_TWO, lambda m: "Выберите школу" in (m.plain or ""), after=mark)
        await elena.press(pick, "Школа А")
        await district.wait_for(PARENT_TWO, lambda m: "Вы в школе «Школа А»" in (m.plain or ""))
        mark = len(district.sent(PARENT_TWO))
        await elena.send("📝 Согласие")
        await district.wait_for(PARENT_TWO, lambda m: "Миша" in (m.plain or "") + str(m.reply_markup), after=mark)
        seen = " ".join((m.plain or "") + str(m.reply_markup) for m in district.sent(PARENT_TWO)[mark:])
        assert "Гоша" not in seen and "Даша" not in seen


async def test_an_unknown_person_joins_a_school_by_its_district_link(
    fakes: dict[str, FakeTelegram], mx: FakeMax, tmp_path: Path
) -> None:
    """A school without a bot of its own is served by the district bot (Telegram and MAX): its invitation
    link names the school (``<key>_<payload>``) and fits both messengers' payload limits; its outbox
    sends through the district bot, under the school's name."""
    port = free_port()
    district = fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=fakes["a"]), "nobot": SchoolSetup("Школа без бота")}
    async with running_district(tmp_path, schools, port, district_tg=district, district_mx=mx) as multibot:
        app = multibot.schools["nobot"].app
        assert app.served.payload_prefix == "nobot_"
        assert app.served.usernames.get(Channel.TELEGRAM) == "district_bot"
        assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        stranger = district.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
        await stranger.send("/start")
        await district.wait_for(TEACHER, lambda m: "ссылку-приглашение" in (m.plain or ""))
        await stranger.send("/start nobot")
        ask = await district.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
        assert (ask.plain or "").startswith("🏫 Школа без бота") and "Школа без бота" in (ask.plain or "")
        await stranger.press_reply(ask, "📱 Поделиться номером телефона")
        await district.wait_for(TEACHER, lambda m: "Ваши роли" in (m.plain or ""))
        assert await app.people.by_account(Channel.TELEGRAM, TEACHER) is not None
        # A sign-in link the school's IT officer gives (the district bot's, the school's key first)
        # opens the district bot and links its owner in that school.
        olga = next(p for p in await app.people.active() if p.full_name.startswith("Кузнецова"))
        token = await app.services.onboarding.create_token(purpose="link", person_id=olga.id, created_by=None)
        newcomer = district.user(5555, "Ольга", "Кузнецова")
        await newcomer.send(f"/start {app.served.payload_prefix}{token}")
        await district.wait_for(5555, lambda m: "Ваши роли" in (m.plain or ""))
        linked = await app.people.by_account(Channel.TELEGRAM, 5555)
        assert linked is not None and linked.id == olga.id
        assert await multibot.choices.chosen(Channel.TELEGRAM, 5555) == "nobot"
        # The IT officer joins in MAX through the district's MAX bot; a question asked on Telegram
        # reaches them through the school's outbox, sent by the district's MAX bot under its name.
        petrov = mx.user(88_001, "Пётр", "Петров", phone="79000000001")
        await petrov.send("/start nobot")
        max_ask = await mx.wait_for(petrov.id, lambda m: ASK in m.plain)
        assert max_ask.plain.startswith("🏫 Школа без бота")
        await petrov.press(max_ask, "📱 Поделиться номером телефона")
        await mx.wait_for(petrov.id, lambda m: "Ваши роли" in m.plain)
        await stranger.send("/ask")
        await district.wait_for(TEACHER, lambda m: "Напишите свой вопрос" in (m.plain or ""))
        await stranger.send("Где найти расписание?")
        notice = await mx.wait_for(petrov.id, lambda m: "Где найти расписание?" in m.plain)
        assert notice.plain.startswith("🏫 Школа без бота")
        assert list(mx.subscriptions) == [f"http://127.0.0.1:{port}/hook/max/district"]
    # The longest key (32) and a sign-in token (24 characters, '_' and '-' in it) fit Telegram's 64.
    key, token = "k" + "-" * 31, "t_-" * 8
    link = deep_link(Channel.TELEGRAM, "district_bot", f"{key}_{token}")
    assert deep_link_school(link.rsplit("=", 1)[1], {key: None}) == (key, token)
    assert deep_link_school("a-b_to-k_en", {"a": None, "a-b": None}) == ("a-b", "to-k_en")
    assert deep_link_school("zzz_token", {"a": None}) is None


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_a_conversation_belongs_to_its_bot_and_its_school(
    fakes: dict[str, FakeTelegram], tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    """The same person is asked for a question in A's own bot and in the district bot while in A; then
    writes in the district bot after picking B: not taken for either of A's answers; back in A, each
    bot's answer goes to A's question asked in that bot. Conversations in each school's database, or
    in one Redis (each school's keys under its prefix, the district bot's keys naming the school)."""
    port = free_port()
    a, b, district = fakes["a"], fakes["b"], fakes["district"]
    schools = {"a": SchoolSetup("Школа А", tg=a), "b": SchoolSetup("Школа Б", tg=b)}
    extra = {"redis_url": request.getfixturevalue("redis_url")} if store == "redis" else {}
    async with running_district(tmp_path, schools, port, district_tg=district, **extra) as multibot:
        if store == "redis":
            assert all(isinstance(s.storage, RedisStorage) for s in multibot.schools.values())
        for key in ("a", "b"):
            app = multibot.schools[key].app
            assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        for fake in (a, b):
            igor = fake.user(TEACHER, "Игорь", "Морозов", phone="+79000000004")
            await igor.send("/start")
            ask = await fake.wait_for(TEACHER, lambda m: ASK in (m.plain or ""))
            await igor.press_reply(ask, "📱 Поделиться номером телефона")
            await fake.wait_for(TEACHER, lambda m: "Ваши роли" in (m.plain or ""))
        prompt = "Напишите свой вопрос"
        in_a = a.user(TEACHER, "Игорь", "Морозов")
        await in_a.send("/ask")
        await a.wait_for(TEACHER, lambda m: prompt in (m.plain or ""))
        igor = district.user(TEACHER, "Игорь", "Морозов")

        async def pick(title: str) -> None:
            mark = len(district.sent(TEACHER))
            await igor.send("/school")
            menu = await district.wait_for(TEACHER, lambda m: "Выберите школу" in (m.plain or ""), after=mark)
            await igor.press(menu, title)
            await district.wait_for(TEACHER, lambda m: f"Вы в школе «{title}»" in (m.plain or ""), after=mark)

        await pick("Школа А")
        await igor.send("/ask")
        await district.wait_for(TEACHER, lambda m: prompt in (m.plain or ""))
        await pick("Школа Б")
        mark = len(district.sent(TEACHER))
        await igor.send("И это не вопрос")
        await district.wait_for(TEACHER, lambda m: True, after=mark)
        await pick("Школа А")
        await igor.send("Вопрос из бота района")
        await district.wait_for(TEACHER, lambda m: "отправлен ответственному" in (m.plain or ""))
        await in_a.send("Когда собрание?")
        await a.wait_for(TEACHER, lambda m: "отправлен ответственному" in (m.plain or ""))
        for key, expected in (("a", ["Вопрос из бота района", "Когда собрание?"]), ("b", [])):
            tickets = await HelpRepo(multibot.schools[key].app.db).unclosed_tickets()
            assert sorted(t.text for t in tickets) == sorted(expected), key


async def test_a_school_that_cannot_start_stops_the_start_and_leaves_nothing_running(
    fakes: dict[str, FakeTelegram], tmp_path: Path
) -> None:
    """School B's store cannot be opened: the start fails with its one-line error, and school A, which
    did start, is stopped (its sender and tick, its store closed) rather than left sending."""
    port = free_port()
    schools = {"a": SchoolSetup("Школа А", tg=fakes["a"]), "b": SchoolSetup("Школа Б", tg=fakes["b"])}
    apps = school_apps(tmp_path, schools, ManualClock(DEFAULT_START))
    make_unopenable(apps["b"].db, apps["b"].settings.database_path)
    settings = make_settings(tmp_path, bot_token=None, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_port=port,
                             webhook_secret=WEBHOOK_SECRET)
    multibot = build_multibot(settings, apps)
    with pytest.raises(StorageError):
        await asyncio.wait_for(serve_multibot(multibot, handle_signals=False), timeout=60)
    started = apps["a"]
    assert started.sender is not None and started.sender._task is None  # started, then stopped
    assert not started.db.is_open and not apps["b"].db.is_open
    assert fakes["a"].webhooks.webhook is None  # nothing registered for a server that never listened
