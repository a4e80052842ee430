"""The one outbox helper: a message for a person is enqueued in the caller's transaction, and the
sender is woken by that transaction's commit (never before it, never on a rollback)."""

from __future__ import annotations

import pytest

from bot.channels import Channel
from bot.domain.people import Person
from storage.accounts import AccountRepo
from storage.outbox import Payload
from storage.people import PersonRepo
from tests.harness import Harness


class Boom(Exception):
    pass


async def _person(h: Harness, *, chat: int | None) -> Person:
    now = h.clock.now()
    async with h.app.db.transaction() as conn:
        person_id = await PersonRepo.create(conn, roster_key=f"p-{chat}", full_name="Иванова Мария", roles=["parent"],
                                            now=now)
        if chat is not None:
            await AccountRepo.link(conn, person_id, Channel.TELEGRAM, chat, None, now)
    person = await h.app.people.get(person_id)
    assert person is not None
    return person


async def _queued(h: Harness, key: str) -> int:
    return int(await h.app.db.fetchval("SELECT count(*) FROM outbox WHERE dedupe_key = ?", (key,)))


async def test_the_sender_is_woken_by_the_commit(harness: Harness) -> None:
    h = harness
    person = await _person(h, chat=500_001)
    h.app.outbox_wakeup.clear()
    async with h.app.db.transaction() as conn:
        assert await h.app.services.outbox.notify(
            conn, person, key="t:1", payload=Payload(text="Привет"), now=h.clock.now()
        )
        # Enqueued but not committed: a sender woken now would find nothing.
        assert not h.app.outbox_wakeup.is_set()
    assert h.app.outbox_wakeup.is_set()
    assert await _queued(h, "t:1") == 1
    # The same key again is no new message.
    async with h.app.db.transaction() as conn:
        assert not await h.app.services.outbox.notify(
            conn, person, key="t:1", payload=Payload(text="Привет"), now=h.clock.now()
        )
    assert await _queued(h, "t:1") == 1


async def test_a_rollback_enqueues_nothing_and_wakes_nobody(harness: Harness) -> None:
    h = harness
    person = await _person(h, chat=500_002)
    h.app.outbox_wakeup.clear()

    async def failing_write() -> None:
        async with h.app.db.transaction() as conn:
            await h.app.services.outbox.notify(
                conn, person, key="t:2", payload=Payload(text="Привет"), now=h.clock.now()
            )
            raise Boom

    with pytest.raises(Boom):
        await failing_write()
    assert not h.app.outbox_wakeup.is_set()
    assert await _queued(h, "t:2") == 0
    # The dropped wake-up does not fire at the next, unrelated commit either.
    async with h.app.db.transaction() as conn:
        await conn.execute("SELECT 1")
    assert not h.app.outbox_wakeup.is_set()


async def test_a_person_without_messenger_gets_nothing(harness: Harness) -> None:
    h = harness
    person = await _person(h, chat=None)
    async with h.app.db.transaction() as conn:
        assert not await h.app.services.outbox.notify(
            conn, person, key="t:3", payload=Payload(text="Привет"), now=h.clock.now()
        )
    assert await _queued(h, "t:3") == 0
