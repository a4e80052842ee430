from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.tg.fsm import SQLiteStorage
from storage.db import Database, StorageError, migrations


@pytest.mark.sqlite_only(reason="the SQLite file's mode and PRAGMAs (PostgreSQL's: tests/test_pg_storage.py)")
async def test_migrations_apply_once_and_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "db.sqlite3"
    db = Database(path)
    await db.open()
    newest = migrations()[-1][0]
    assert await db.schema_version() == newest
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    await db.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = Database(path)
    await db.open()  # idempotent: nothing re-applied, no error
    assert await db.schema_version() == newest
    await db.close()


async def test_concurrent_write_transactions_do_not_mix(tmp_path: Path) -> None:
    """Each writer inserts a batch, yielding to the loop between statements, then fails half the
    time. With one shared connection and no guard, one writer's ROLLBACK would undo the other's rows
    (or its BEGIN would fail inside the other's transaction). The guard keeps batches whole."""
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    await db.conn.execute("CREATE TABLE t (writer INTEGER, seq INTEGER)")

    async def writer(n: int) -> None:
        try:
            async with db.transaction() as conn:
                for seq in range(5):
                    await conn.execute("INSERT INTO t VALUES (?, ?)", (n, seq))
                    await asyncio.sleep(0)
                if n % 2:
                    raise RuntimeError("fail this one")
        except RuntimeError:
            pass

    await asyncio.gather(*(writer(n) for n in range(20)))
    rows = await db.fetchall("SELECT writer, count(*) FROM t GROUP BY writer ORDER BY writer")
    assert [(r[0], r[1]) for r in rows] == [(n, 5) for n in range(0, 20, 2)]
    await db.close()


@pytest.mark.sqlite_only(reason="a corrupt SQLite file")
async def test_corrupt_database_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="corrupt or not a schoolbot database"):
        await Database(path).open()


async def test_fsm_state_survives_restart(tmp_path: Path) -> None:
    key = StorageKey(bot_id=1, chat_id=5, user_id=5)
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    fsm = SQLiteStorage(db)
    await fsm.set_state(key, "Import:waiting")
    await fsm.set_data(key, {"file": "abc", "n": 2})
    await db.close()

    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    fsm = SQLiteStorage(db)
    assert await fsm.get_state(key) == "Import:waiting"
    assert await fsm.get_data(key) == {"file": "abc", "n": 2}
    await db.close()


async def test_fsm_clear_removes_the_row_and_noop_writes_touch_nothing(tmp_path: Path) -> None:
    key = StorageKey(bot_id=1, chat_id=7, user_id=7)
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    fsm = SQLiteStorage(db)
    await fsm.set_state(key, None)  # clearing an empty state: no row, no transaction
    await fsm.set_data(key, {})
    assert await db.fetchval("SELECT count(*) FROM fsm") == 0
    await fsm.set_state(key, "Form:name")
    data = {"items": [1, 2]}
    await fsm.set_data(key, data)
    data["items"].append(3)  # the caller's dict is not the stored one
    assert await fsm.get_data(key) == {"items": [1, 2]}
    await fsm.set_state(key, None)
    await fsm.set_data(key, {})
    assert await db.fetchval("SELECT count(*) FROM fsm") == 0
    await db.close()


async def test_a_write_cancelled_while_it_begins_leaves_the_connection_usable(tmp_path: Path) -> None:
    """A graceful stop cancels sends mid-flight. A task cancelled while its BEGIN ran in the driver's
    thread left the connection inside a transaction nobody ended: every later write failed with
    "cannot start a transaction within a transaction" (the stop could not hand leased rows back)."""
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    try:
        async def write() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO fsm(key, state) VALUES ('cancelled', 'x')")

        for _ in range(20):  # the cancel lands while BEGIN is in the driver's thread
            task = asyncio.create_task(write())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO fsm(key, state) VALUES ('after', 'y')"
                    " ON CONFLICT(key) DO UPDATE SET state = excluded.state")
        assert await db.fetchval("SELECT count(*) FROM fsm WHERE key = 'cancelled'") == 0
        assert await db.fetchval("SELECT state FROM fsm WHERE key = 'after'") == "y"
    finally:
        await db.close()
