"""The storage ports (issue #27 step 1, bot/unit_of_work.py): services hold opaque handles and pass
the transaction explicitly to whatever must see its uncommitted rows; only storage/ unwraps them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.services.consent_gate import ConsentGate
from storage.consent import ConsentRepo
from storage.consent_form import ConsentFormRepo
from storage.db import Database, database_of, raw
from storage.people import PersonRepo

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


class _OtherBackend:
    """A foreign handle: it has what the Protocols ask, and is neither SQLite's nor storage's adapter's."""

    in_transaction = True


def test_storage_refuses_another_backends_handles() -> None:
    with pytest.raises(TypeError, match="not a handle of the storage: _OtherBackend"):
        raw(_OtherBackend())
    with pytest.raises(TypeError, match="not a storage database: _OtherBackend"):
        database_of(_OtherBackend())  # type: ignore[arg-type]


async def test_the_transaction_passed_on_sees_its_own_rows(tmp_path: Path) -> None:
    """A parent and child written in a transaction, not committed: the reads given the transaction
    (the people, the consent gate) see them; after the rollback nothing is there."""
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    people = PersonRepo(db)
    consent_gate = ConsentGate(db=db, people=people, ledger=ConsentRepo(), forms=ConsentFormRepo())
    ids: list[int] = []

    async def write_and_look() -> None:
        async with db.transaction() as tx:
            parent = await PersonRepo.create(tx, roster_key="p", full_name="Петрова Анна", roles=["parent"],
                                             now=NOW)
            child = await PersonRepo.create(tx, roster_key="c", full_name="Петров Коля", roles=["student"],
                                            now=NOW, class_label="5А")
            ids.append(parent)
            await raw(tx).execute("INSERT INTO guardians(parent_id, child_id) VALUES (?, ?)", (parent, child))
            assert [p.id for p in await people.on(tx).children(parent)] == [child]
            assert (await PersonRepo.active_children_ids(tx, [parent])) == {parent: [child]}
            gate = await consent_gate.code_clearances(tx, [(parent, "parent"), (child, "student")])
            # No consent document yet: the child reads pending, the parent has a child and no consent.
            assert gate[(child, "student")].reason == "pending"
            assert gate[(parent, "parent")].reason == "pending"
            raise RuntimeError("roll back")

    try:
        with pytest.raises(RuntimeError, match="roll back"):
            await write_and_look()
        assert await people.get(ids[0]) is None
        gate = await consent_gate.code_clearances(db.conn, [(ids[0], "parent")])
        assert gate[(ids[0], "parent")].reason == "no_children"
    finally:
        await db.close()
