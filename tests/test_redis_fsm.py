"""Conversation state in Redis (issue #27): with REDIS_URL, workers behind one webhook endpoint share
every dialogue. Real Updates through the real Dispatcher (tests/harness.py), on a real redis-server
(tests/redis_server.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import User

from bot.app import build_dispatcher, fsm_storage
from bot.fakeapi import FakeTelegram
from bot.tg.fsm import SQLiteStorage, conversation_storage
from tests.district_helpers import add_schools, built_district, district_settings
from tests.harness import PARENT_ONE, free_port, handler_harness, make_settings, running_bot
from tests.help_helpers import linked_school, texts
from tests.mocked_bot import BOT_ID, MockedBot, RecordingSession


@pytest.fixture(autouse=True)
def _redis_as_each_test_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests name REDIS_URL and REDIS_PREFIX themselves and check the defaults; the PostgreSQL +
    # Redis pass's own (tests/conftest.py) would stand in for those defaults.
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_PREFIX", raising=False)


QUESTION = "Когда придут коды для дневника?"


class SecondSchoolBot(MockedBot):
    """Another school's bot (another token, another bot id) that the same parent also uses."""

    def __init__(self) -> None:
        html = DefaultBotProperties(parse_mode=ParseMode.HTML)
        Bot.__init__(self, "43:OTHER", session=RecordingSession(), default=html)
        self._me = User(id=43, is_bot=True, first_name="SchoolBot", username="second_school_bot")


async def test_the_storage_is_chosen_in_one_place(tmp_path: Path) -> None:
    without = make_settings(tmp_path)
    assert isinstance(conversation_storage(without, db=None), SQLiteStorage)  # type: ignore[arg-type]
    with_redis = make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0", redis_prefix="district-7")
    storage = conversation_storage(with_redis, db=None)  # type: ignore[arg-type]
    assert isinstance(storage, RedisStorage)
    # The bot id and the destiny are in every key; the prefix is the operator's (a school's or district's).
    assert storage.key_builder.build(_key(bot_id=42), "state") == "district-7:fsm:42:1006:1006:default:state"
    await storage.close()


def _key(bot_id: int) -> StorageKey:
    return StorageKey(bot_id=bot_id, chat_id=PARENT_ONE, user_id=PARENT_ONE)


async def test_a_dialogue_started_through_one_worker_is_finished_through_another(
    tmp_path: Path, redis_url: str
) -> None:
    async with handler_harness(tmp_path, redis_url=redis_url) as h:
        worker1, worker2 = h.dp, build_dispatcher(h.app)
        try:
            # The parent links through worker 2 (whose storage has read the parent's state since).
            h.dp = worker2
            await linked_school(h, PARENT_ONE)
            h.dp = worker1
            assert "Напишите свой вопрос" in texts(await h.text(PARENT_ONE, "/ask"))[0]
            h.dp = worker2  # the next update of the dialogue lands on the other worker
            [answer] = texts(await h.text(PARENT_ONE, QUESTION))
            assert answer.startswith("Вопрос №")
            tickets = await h.app.services.tickets.help.unclosed_tickets()
            assert [t.text for t in tickets] == [QUESTION]
            # The dialogue is over for both workers.
            assert await worker1.storage.get_state(_key(BOT_ID)) is None
        finally:
            await worker1.storage.close()
            await worker2.storage.close()


async def test_two_bots_do_not_share_the_same_persons_dialogue(tmp_path: Path, redis_url: str) -> None:
    async with handler_harness(tmp_path, redis_url=redis_url) as h:
        try:
            await linked_school(h, PARENT_ONE)
            school_bot, other_bot = h.bot, SecondSchoolBot()
            await h.text(PARENT_ONE, "/ask")  # asked through the first school's bot
            h.bot = other_bot
            answered = texts(await h.text(PARENT_ONE, QUESTION))  # the same person, the other bot
            assert not any(a.startswith("Вопрос №") for a in answered)
            assert await h.app.services.tickets.help.unclosed_tickets() == []
            h.bot = school_bot
            assert texts(await h.text(PARENT_ONE, QUESTION))[0].startswith("Вопрос №")
            assert await h.dp.storage.get_state(_key(43)) is None
        finally:
            await h.dp.storage.close()


async def test_redis_keys_name_the_bot(tmp_path: Path, redis_url: str) -> None:
    async with handler_harness(tmp_path, redis_url=redis_url) as h:
        storage = h.dp.storage
        try:
            await linked_school(h, PARENT_ONE)
            await h.text(PARENT_ONE, "/ask")
            assert isinstance(storage, RedisStorage)
            keys = sorted(k.decode() for k in await storage.redis.keys("schoolbot:fsm:*"))
            assert f"schoolbot:fsm:{BOT_ID}:{PARENT_ONE}:{PARENT_ONE}:default:state" in keys
            ttl = await storage.redis.ttl(f"schoolbot:fsm:{BOT_ID}:{PARENT_ONE}:{PARENT_ONE}:default:state")
            assert 0 < ttl <= 30 * 24 * 3600  # an abandoned dialogue expires
        finally:
            await storage.close()


async def test_with_redis_down_an_update_gets_the_apology_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with handler_harness(tmp_path, redis_url=dead) as h:
        try:
            with caplog.at_level(logging.WARNING):
                calls = await h.text(PARENT_ONE, "/start")
            assert texts(calls) == [h.app.catalog.bind("ru")("fallback.error")]
            [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert line.startswith("update 1 failed: ConnectionError")
            assert dead not in caplog.text
        finally:
            await h.dp.storage.close()


async def test_each_school_of_a_district_keeps_its_own_conversations(tmp_path: Path, redis_url: str) -> None:
    # Two schools' MAX bots share bot id 0 (bot/max/limited.py) and may meet the same person: each
    # school's keys carry its own prefix (bot/district/schools.py), so nothing mixes.
    settings = district_settings(tmp_path, redis_url=redis_url)
    await add_schools(settings, tmp_path)
    async with built_district(settings, separate_reader=False) as district:
        alpha, beta = (fsm_storage(district.schools[key]) for key in ("alpha", "beta"))
        try:
            key = StorageKey(bot_id=0, chat_id=PARENT_ONE, user_id=PARENT_ONE)
            await alpha.set_state(key, "Asking:text")
            assert await beta.get_state(key) is None
            assert await alpha.get_state(key) == "Asking:text"
            assert isinstance(alpha, RedisStorage)
            assert [k.decode() for k in await alpha.redis.keys("*")] == [
                f"schoolbot.alpha:fsm:0:{PARENT_ONE}:{PARENT_ONE}:default:state"
            ]
        finally:
            await alpha.close()
            await beta.close()


@pytest.mark.slow
async def test_the_whole_bot_with_redis_down_answers_updates_with_the_apology(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://:pass-word-1@127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING):
        async with running_bot(tg, tmp_path, redis_url=dead):
            user = tg.user(777, "Анна")
            for _ in range(2):
                seen = len(tg.sent(user.id))
                await user.send("/start")
                await tg.wait_for(user.id, lambda m: "Что-то пошло не так" in (m.plain or ""), after=seen)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # Each update: one line; the send budget: one line for the whole outage.
    assert sum(w.startswith("update ") and "ConnectionError" in w for w in warnings) == 2
    assert sum("shared send budget (Redis) is unreachable" in w for w in warnings) == 1
    assert "pass-word-1" not in caplog.text and tg.token not in caplog.text
