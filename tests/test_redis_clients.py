"""One Redis client per URL in a process (issue #27): every school's conversation state and every bot's
send budget share it, on one pool of at most REDIS_MAX_CONNECTIONS sockets, whatever the number of
schools; it closes once, with its last user. Counted as Redis itself counts them (`CLIENT LIST`), on a
real redis-server (tests/redis_server.py), with the district served as `schoolbot run` serves it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.app import build_bots
from bot.fakeapi import FakeTelegram
from bot.tg.fsm import conversation_storage
from bot.tg.limiter import limiter_of
from bot.tg.redis_clients import RedisLease, client_name, clients_in_use
from bot.tg.redis_fsm import SharedRedisStorage
from bot.tg.redis_rate import RedisBudget, token_digest
from tests.harness import free_port, make_settings
from tests.multibot_helpers import SchoolSetup, running_district


@pytest.fixture(autouse=True)
def _redis_as_each_test_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests name REDIS_URL and REDIS_PREFIX themselves and check the defaults; the PostgreSQL +
    # Redis pass's own (tests/conftest.py) would stand in for those defaults.
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_PREFIX", raising=False)


ASK = "Чтобы бот узнал вас"
# The pool's bound in these tests: fewer sockets than schools, so a pool per school cannot hide in it.
BOUND = 3


@pytest.fixture
async def probe(redis_url: str) -> AsyncIterator[Redis]:
    """A connection of the test's own, to ask Redis who is connected (not one of the bot's)."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def ours(probe: Redis) -> int:
    """How many sockets this process's bots hold open, as Redis counts them."""
    return sum(1 for c in await probe.client_list() if c.get("name") == client_name())


async def settled(probe: Redis, expected: int) -> int:
    """The count once Redis has seen the closed sockets go (it learns of a close a moment later)."""
    count = await ours(probe)
    for _ in range(200):
        if count == expected:
            break
        await asyncio.sleep(0.01)
        count = await ours(probe)
    return count


async def test_leases_of_one_url_share_one_client_closed_with_the_last(redis_url: str, probe: Redis) -> None:
    first, second = RedisLease(redis_url), RedisLease(redis_url)
    assert first.client is second.client and clients_in_use() == 1
    await first.client.ping()
    await second.client.ping()
    assert await ours(probe) == 1  # one socket served both, one after the other
    await first.close()
    await first.close()  # a second close of the same lease releases nothing more
    assert first.closed and not second.closed
    await second.client.ping()  # still open for the other user
    assert await ours(probe) == 1
    await second.close()
    assert clients_in_use() == 0
    assert await settled(probe, 0) == 0
    third = RedisLease(redis_url)  # after the last one closed, a new client
    assert third.client is not first.client
    await third.close()


async def test_a_schools_bots_and_its_conversations_use_the_one_client(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, max_token="max-secret-token", max_api_url="http://127.0.0.1:1",
                             redis_url=redis_url)
    telegram, max_bot = build_bots(settings)
    assert max_bot is not None
    storage = conversation_storage(settings, db=None)  # type: ignore[arg-type]
    budgets = [limiter_of(bot).shared for bot in (telegram, max_bot)]  # type: ignore[union-attr]
    assert all(isinstance(b, RedisBudget) for b in budgets) and isinstance(storage, SharedRedisStorage)
    clients = {id(b.redis) for b in budgets if isinstance(b, RedisBudget)} | {id(storage.redis)}
    assert len(clients) == 1 and clients_in_use() == 1
    await telegram.session.close()
    await storage.close()
    assert clients_in_use() == 1  # the MAX bot still uses it
    await max_bot.session.close()
    assert clients_in_use() == 0


async def test_a_district_holds_one_bounded_pool_of_redis_connections_whatever_its_schools(
    tmp_path: Path, redis_url: str, probe: Redis
) -> None:
    """Ten schools (one with its own bot, nine served by the district bot), an update for each: the
    process holds at most BOUND sockets to Redis (a pool per school and bot held at least eleven), the
    keys stay each school's, and the stop closes every one."""
    port = free_port()
    redis: dict[str, Any] = {"redis_url": redis_url, "redis_max_connections": BOUND}
    async with (
        FakeTelegram(token="5999:DISTRICT", bot_username="district_bot") as district,
        FakeTelegram(token="5001:SCHOOL-A", bot_username="school_a_bot") as own,
    ):
        keys = [f"s{i}" for i in range(10)]
        schools = {key: SchoolSetup(f"Школа {i}", tg=own if i == 0 else None) for i, key in enumerate(keys)}
        async with running_district(tmp_path, schools, port, district_tg=district, district_extra=redis,
                                    **redis) as multibot:
            assert len(multibot.schools) == 10
            users = [(own if i == 0 else district).user(9000 + i, "Игорь", "Морозов") for i in range(10)]
            await asyncio.gather(*(u.send("/start" if i == 0 else f"/start {keys[i]}") for i, u in enumerate(users)))
            for i, user in enumerate(users):
                fake = own if i == 0 else district
                answer = await fake.wait_for(user.id, lambda m: ASK in (m.plain or ""), timeout=30)
                assert f"Школа {i}" in (answer.plain or "")
            during = await ours(probe)
            assert 1 <= during <= BOUND
            assert clients_in_use() == 1  # one client (one pool) for the URL in this process
            # The keys are separated as before: each school's own prefix, the token's digest, the bot id.
            names = {k.decode() for k in await probe.keys("*")}
            assert f"schoolbot:rate:telegram:{{{token_digest(district.token)}}}" in names
            assert f"schoolbot.s0:rate:telegram:{{{token_digest(own.token)}}}" in names
            assert all(n.startswith(("schoolbot:rate:", "schoolbot.s0:rate:", "schoolbot.s")) for n in names)
            assert not any(district.token in n or own.token in n for n in names)
        # Stopped: every school's storage and every bot released the client, which closed once.
        assert clients_in_use() == 0
        assert await settled(probe, 0) == 0
