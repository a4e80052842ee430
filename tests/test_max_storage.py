"""Migration 015: people on Telegram, MAX or both, the preferred channel, and the send log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels import Channel, DataClass
from storage import dialect
from storage.accounts import AccountRepo
from storage.db import Database
from storage.messengers import MessengerRepo
from storage.people import PersonRepo

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "school.sqlite")
    await database.open()
    yield database
    await database.close()


async def _person(db: Database, key: str, name: str) -> int:
    async with db.transaction() as conn:
        return await PersonRepo.create(conn, roster_key=key, full_name=name, roles=["parent"], now=NOW)


async def test_a_person_on_telegram_max_or_both(db: Database) -> None:
    repo = MessengerRepo(db)
    olga = await _person(db, "ольга", "Ольга Петрова")
    ivan = await _person(db, "иван", "Иван Сидоров")
    nina = await _person(db, "нина", "Нина Козлова")
    async with db.transaction() as conn:
        await AccountRepo.link(conn, olga, Channel.TELEGRAM, 501, None, NOW)
        await AccountRepo.link(conn, olga, Channel.MAX, 501, "olga_max", NOW)  # same number, another id space
        await AccountRepo.link(conn, ivan, Channel.MAX, 7002, None, NOW)
    both = await repo.reach(olga)
    assert both is not None
    assert both.reachable == [Channel.TELEGRAM, Channel.MAX]
    assert both.preferred is Channel.TELEGRAM
    assert (both.user_id(Channel.TELEGRAM), both.user_id(Channel.MAX)) == (501, 501)
    only_max = await repo.reach(ivan)
    assert only_max is not None and only_max.reachable == [Channel.MAX] and only_max.preferred is Channel.MAX
    people = PersonRepo(db)
    assert [await people.by_account(Channel.MAX, n) for n in (7002, 501)] == [
        await people.get(ivan), await people.get(olga)
    ]
    assert await people.by_account(Channel.TELEGRAM, 7002) is None
    assert await repo.people_per_channel() == {"both": 1, "max": 1, "none": 1}
    async with db.transaction() as conn:
        assert await MessengerRepo.set_preferred(conn, olga, Channel.MAX, NOW)
        assert not await MessengerRepo.set_preferred(conn, nina, Channel.MAX, NOW)  # not linked on MAX
        person = await people.get(ivan)
        account = person.account(Channel.MAX) if person is not None else None
        assert account is not None
        await AccountRepo.mark_unreachable(conn, account.id, "403 bot stopped", NOW)
    chosen = await repo.reach(olga)
    assert chosen is not None and chosen.preferred is Channel.MAX
    stopped = await repo.reach(ivan)
    assert stopped is not None and stopped.reachable == []


async def test_one_max_account_is_one_person(db: Database) -> None:
    repo = MessengerRepo(db)
    first = await _person(db, "а", "Анна")
    second = await _person(db, "б", "Борис")
    async with db.transaction() as conn:
        await AccountRepo.link(conn, first, Channel.MAX, 9001, None, NOW)
        await AccountRepo.link(conn, second, Channel.MAX, 9001, None, NOW)
    found = await PersonRepo(db).by_account(Channel.MAX, 9001)
    assert found is not None and found.id == second
    moved = await repo.reach(first)
    assert moved is not None and moved.user_id(Channel.MAX) is None


async def test_the_send_log_holds_no_personal_data(db: Database) -> None:
    repo = MessengerRepo(db)
    async with db.transaction() as conn:
        await MessengerRepo.log_send(conn, Channel.MAX, DataClass.CREDENTIAL, "sent", NOW)
        await MessengerRepo.log_send(conn, Channel.TELEGRAM, DataClass.CREDENTIAL, "pointer", NOW)
        await MessengerRepo.log_send(conn, "paper", DataClass.CREDENTIAL, "paper", NOW + timedelta(seconds=1))
        with pytest.raises(ValueError, match="unknown send outcome"):
            await MessengerRepo.log_send(conn, Channel.MAX, DataClass.PUBLIC, "lost", NOW)
    log = await repo.send_log()
    assert [(r.channel, r.data_class, r.outcome) for r in log] == [
        ("max", DataClass.CREDENTIAL, "sent"),
        ("telegram", DataClass.CREDENTIAL, "pointer"),
        ("paper", DataClass.CREDENTIAL, "paper"),
    ]
    columns = await dialect.columns(db.conn, "send_log")
    assert columns == ["id", "at", "channel", "data_class", "outcome", "purpose"]
    assert len(await repo.send_log(since=NOW + timedelta(seconds=1))) == 1
