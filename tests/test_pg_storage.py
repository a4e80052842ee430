"""The PostgreSQL storage (#27): its schema equals SQLite's at head, the database enforces the consent
ledger's chain and the append-only rules, schools live in schemas of one pool, transactions run side
by side, and the password in DATABASE_URL reaches no log and no error text.

These run on a throwaway PostgreSQL in both passes of the suite (tests/servers.py), and are skipped
where PostgreSQL is not installed."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.services import ledger
from storage import chain
from storage.backend import make_database
from storage.consent import ConsentRepo
from storage.db import CURRENT_UPDATE, INTEGRITY_ERRORS, DuplicateUpdate, UpdateMark, migrations
from storage.db import Database as SqliteDatabase  # this name is never switched to PostgreSQL (tests/conftest.py)
from storage.pg import PgDatabase, redact, translate
from storage.sql import SqlDatabase, StorageError
from tests.servers import FreshDatabases

NOW = "2026-09-01T09:00:00.000000Z"


# --- the schema at head ---------------------------------------------------------------------------


async def _sqlite_schema(path: Path) -> dict[str, Any]:
    db = SqliteDatabase(path)
    await db.open()
    try:
        tables = [r[0] for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]  # fmt: skip
        schema: dict[str, Any] = {}
        for table in tables:
            info = await db.fetchall(f"PRAGMA table_info({table})")
            columns = sorted(str(r["name"]) for r in info)
            pk = tuple(str(r["name"]) for r in sorted(info, key=lambda r: r["pk"]) if r["pk"])
            uniques = set()
            for index in await db.fetchall(f"PRAGMA index_list({table})"):
                if index["unique"] and index["origin"] != "pk":
                    cols = [str(r["name"]) for r in await db.fetchall(f"PRAGMA index_info({index['name']})")]
                    uniques.add((tuple(sorted(cols)), bool(index["partial"])))
            schema[table] = {"columns": columns, "pk": tuple(sorted(pk)), "unique": uniques}
        return schema
    finally:
        await db.close()


async def _pg_schema(db: PgDatabase) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    tables = [r[0] for r in await db.fetchall(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'"
        " AND table_name <> 'schema_version'", (db.schema,)
    )]  # fmt: skip
    for table in tables:
        columns = sorted(str(r[0]) for r in await db.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            (db.schema, table),
        ))  # fmt: skip
        indexes = await db.fetchall(
            "SELECT i.indisprimary, i.indisunique, i.indpred IS NOT NULL,"
            " ARRAY(SELECT a.attname::text FROM unnest(i.indkey) k JOIN pg_attribute a"
            "       ON a.attrelid = i.indrelid AND a.attnum = k ORDER BY a.attname)"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = ? AND c.relname = ?",
            (db.schema, table),
        )
        pk: tuple[str, ...] = ()
        uniques = set()
        for primary, unique, partial, cols in indexes:
            if primary:
                pk = tuple(sorted(cols))
            elif unique:
                uniques.add((tuple(sorted(cols)), bool(partial)))
        schema[table] = {"columns": columns, "pk": pk, "unique": uniques}
    return schema


async def test_the_postgresql_schema_at_head_equals_sqlites(tmp_path: Path, pg_databases: FreshDatabases) -> None:
    sqlite = await _sqlite_schema(tmp_path / "head.sqlite3")
    db = PgDatabase(pg_databases.url("schema"), schema="school")
    await db.open()
    try:
        assert await db.schema_version() == migrations()[-1][0]
        pg = await _pg_schema(db)
    finally:
        await db.close()
    assert sorted(pg) == sorted(sqlite)
    for table in sqlite:
        assert pg[table] == sqlite[table], table


async def test_identifiers_and_money_columns_are_64_bit(pg_databases: FreshDatabases) -> None:
    """Telegram's ids exceed 32 bits: no 32-bit integer column anywhere, and a REAL (lease times) is
    a double, not PostgreSQL's 4-byte real."""
    db = PgDatabase(pg_databases.url("types"))
    await db.open()
    try:
        narrow = await db.fetchall(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'school' AND data_type IN ('integer', 'smallint', 'real')"
        )
        assert [tuple(r) for r in narrow] == []
    finally:
        await db.close()


# --- the adapter ------------------------------------------------------------------------------------


def test_placeholders_and_percent_signs_are_translated_outside_literals() -> None:
    assert translate("SELECT * FROM t WHERE a = ? AND b LIKE '%?%' -- why?") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '%%?%%' -- why "
    )
    assert translate('SELECT "a?b" FROM t WHERE x = ?') == 'SELECT "a?b" FROM t WHERE x = %s'
    assert translate("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)") == (
        "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL)"
    )
    assert translate("SELECT CAST(x AS INTEGER) FROM t") == "SELECT CAST(x AS INTEGER) FROM t"


async def test_rows_read_like_sqlite_rows(pg_databases: FreshDatabases) -> None:
    db = PgDatabase(pg_databases.url("rows"))
    await db.open()
    try:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO persons(roster_key, full_name, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                ("k1", "Иванов 100%", True, NOW, NOW),
            )
        row = await db.fetchone(
            "SELECT id, full_name AS fullName, active, count(*) OVER () AS n, sum(active) OVER () AS s,"
            " active = 1 AS flag FROM persons WHERE ? IS NULL", (None,)
        )  # fmt: skip
        assert row is not None
        assert row["fullname"] == row["fullName"] == row[1] == "Иванов 100%"
        assert (row["active"], row["n"], row["s"], row["flag"]) == (1, 1, 1, 1)
        assert type(row["s"]) is int and type(row["flag"]) is int
        assert dict(row)["fullname"] == "Иванов 100%"
        with pytest.raises(IndexError):
            row["missing"]
    finally:
        await db.close()


# --- the consent ledger, enforced by PostgreSQL -----------------------------------------------------


async def _ledger_fixture(db: SqlDatabase) -> None:
    async with db.transaction() as tx:
        for key in ("p", "c"):
            await tx.execute(
                "INSERT INTO persons(roster_key, full_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (key, key, NOW, NOW),
            )
        await tx.execute(
            "INSERT INTO consent_versions(number, sha256, text, published_at) VALUES (1, 'h', 'text', ?)", (NOW,)
        )


def _values(receipt: str, *, callback: str, user_id: int | None = None, max_user_id: int | None = None) -> tuple:
    # chain.COLUMNS: receipt, parent, child, decision, version, sha256, channel, tg_user_id, tg_update_id,
    # tg_callback_id, recorded_by, paper_date, created_at, max_user_id, user_id
    channel, tg_user = ("max", None) if max_user_id else ("telegram", None if user_id else 7_000_000_001)
    return (receipt, 1, 2, "given", 1, "h", channel, tg_user, 5_000_000_000, callback, None, None, NOW,
            max_user_id, user_id)


async def _insert(db: SqlDatabase, values: tuple, prev: str, row_hash: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            f"INSERT INTO consent_ledger({', '.join(chain.COLUMNS)}, prev_hash, row_hash)"
            f" VALUES ({', '.join('?' * (len(chain.COLUMNS) + 2))})",
            (*values, prev, row_hash),
        )


async def _append(db: SqlDatabase, values: tuple, *, row_hash: str | None = None) -> None:
    prev = str(await db.fetchval("SELECT last_hash FROM consent_ledger_head WHERE id = 1"))
    await _insert(db, values, prev, row_hash or chain.row_hash(prev, values))


async def test_the_ledger_chain_holds_on_postgresql(pg_databases: FreshDatabases) -> None:
    """Rows hashed by storage/chain.py chain on PostgreSQL (its trigger recomputes the same hash,
    whatever the text holds), verify with the same check as `schoolbot verify-ledger`, and a row whose
    hash does not match its content, or that does not chain onto the head, is refused."""
    db = PgDatabase(pg_databases.url("ledger"))
    await db.open()
    try:
        await _ledger_fixture(db)
        await _append(db, _values('R-1 "quoted" \\ back\nslash\t\x01 Ёлка', callback="cb1"))
        await _append(db, _values("R-2", callback="cb2", user_id=9_000_000_000))
        await _append(db, _values("R-3", callback="cb3", max_user_id=8_000_000_000))
        verdict = await ledger.check(db, ConsentRepo())
        assert verdict.ok and verdict.rows == 3 and verdict.last_receipt == "R-3"
        rows = await ConsentRepo.chain_rows(db.conn)
        assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]

        with pytest.raises(INTEGRITY_ERRORS, match="row hash does not match"):
            await _append(db, _values("R-4", callback="cb4"), row_hash="0" * 64)
        values = _values("R-5", callback="cb5")
        with pytest.raises(INTEGRITY_ERRORS, match="must chain onto the ledger head"):
            await _insert(db, values, chain.GENESIS, chain.row_hash(chain.GENESIS, values))
        assert (await ledger.check(db, ConsentRepo())).rows == 3
    finally:
        await db.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_ledger SET decision = 'declined'",
        "DELETE FROM consent_ledger",
        "TRUNCATE consent_ledger CASCADE",
        "UPDATE consent_ledger_head SET rows = 0",
        "DELETE FROM consent_ledger_head",
        "INSERT INTO consent_ledger_head(id, rows, last_hash) VALUES (2, 0, 'x')",
        "UPDATE consent_versions SET text = 'other'",
        "DELETE FROM consent_versions",
        "INSERT INTO access_log(at, channel, kind) VALUES ('t', 'cli', 'k')",  # allowed: then refused below
    ],
)
async def test_append_only_rules_are_enforced_by_postgresql(pg_databases: FreshDatabases, statement: str) -> None:
    db = PgDatabase(pg_databases.url("rules"))
    await db.open()
    try:
        await _ledger_fixture(db)
        await _append(db, _values("R-1", callback="cb1"))
        if statement.startswith("INSERT INTO access_log"):
            async with db.transaction() as tx:
                await tx.execute(statement)
            for change in ("UPDATE access_log SET kind = 'x'", "DELETE FROM access_log", "TRUNCATE access_log"):
                with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
                    async with db.transaction() as tx:
                        await tx.execute(change)
            return
        with pytest.raises(INTEGRITY_ERRORS):
            async with db.transaction() as tx:
                await tx.execute(statement)
        assert (await ledger.check(db, ConsentRepo())).ok
    finally:
        await db.close()


# --- schools in schemas, transactions side by side --------------------------------------------------


async def test_schools_in_schemas_of_one_pool_see_only_their_own_rows(pg_databases: FreshDatabases) -> None:
    pool = PgDatabase.make_pool(pg_databases.url("district"), max_size=4)
    await pool.open()
    try:
        a, b = PgDatabase(pool=pool, schema="school_a"), PgDatabase(pool=pool, schema="school_b")
        await a.open()
        await b.open()
        for db, name in ((a, "A"), (b, "B")):
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO persons(roster_key, full_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (name, name, NOW, NOW),
                )
        for _ in range(3):  # the same pooled connections serve both, one schema at a time
            assert [r[0] for r in await a.fetchall("SELECT full_name FROM persons")] == ["A"]
            assert [r[0] for r in await b.fetchall("SELECT full_name FROM persons")] == ["B"]
        await a.close()
        await b.close()
        assert not pool.closed  # the pool's owner closes it
    finally:
        await pool.close()


async def test_transactions_run_side_by_side_and_reads_see_only_commits(pg_databases: FreshDatabases) -> None:
    db = PgDatabase(pg_databases.url("side"))
    await db.open()
    woken: list[str] = []
    try:
        inside = asyncio.Event()
        release = asyncio.Event()

        async def slow() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO fsm(key, state) VALUES ('slow', 's')")
                db.after_commit(lambda: woken.append("slow"))
                inside.set()
                await release.wait()

        task = asyncio.create_task(slow())
        await inside.wait()
        # Another transaction commits while the first is open (no process-wide lock), and its
        # after_commit runs at its own commit, not at the other's.
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO fsm(key, state) VALUES ('fast', 'f')")
            db.after_commit(lambda: woken.append("fast"))
        assert woken == ["fast"]
        assert await db.fetchval("SELECT count(*) FROM fsm WHERE key = 'slow'") == 0  # not committed yet
        release.set()
        await task
        assert woken == ["fast", "slow"]
        assert await db.fetchval("SELECT count(*) FROM fsm") == 2
        db.after_commit(lambda: woken.append("now"))  # outside a transaction: at once
        assert woken[-1] == "now"
    finally:
        await db.close()


async def test_an_update_has_its_effects_once(pg_databases: FreshDatabases) -> None:
    db = PgDatabase(pg_databases.url("updates"))
    await db.open()
    try:
        token = CURRENT_UPDATE.set(UpdateMark(4242))
        try:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO fsm(key, state) VALUES ('u', '1')")
        finally:
            CURRENT_UPDATE.reset(token)
        assert db.is_processed(4242)
        token = CURRENT_UPDATE.set(UpdateMark(4242))
        try:
            with pytest.raises(DuplicateUpdate):
                async with db.transaction() as tx:
                    await tx.execute("INSERT INTO fsm(key, state) VALUES ('u2', '1')")
        finally:
            CURRENT_UPDATE.reset(token)
        assert await db.fetchval("SELECT count(*) FROM fsm") == 1
        await db.close()
        reopened = PgDatabase(pg_databases.url("updates"))
        await reopened.open()
        assert reopened.is_processed(4242)  # loaded at open
        await reopened.close()
    finally:
        await db.close()


# --- the password ----------------------------------------------------------------------------------

SECRET = "Pa55-w0rd-never-logged"


async def test_the_password_in_database_url_reaches_no_log_and_no_error(
    pg_databases: FreshDatabases, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    good = pg_databases.url("secret")
    match = re.match(r"postgresql://(\w+)@/(\w+)\?(.*)$", good)
    assert match is not None
    # A database that does not exist: the server refuses, and the error names the URL without the password.
    url = f"postgresql://{match.group(1)}:{SECRET}@/no_such_database?{match.group(3)}"
    settings = Settings(_env_file=None, database_url=url, database_path=tmp_path / "unused.sqlite3")  # type: ignore[call-arg]
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    caplog.set_level(logging.DEBUG)
    db = make_database(settings)
    assert isinstance(db, PgDatabase) and SECRET not in repr(db)
    with pytest.raises(StorageError) as refused:
        await db.open()
    assert "no_such_database" in str(refused.value)
    assert SECRET not in str(refused.value)
    assert "***" in str(refused.value)
    assert SECRET not in caplog.text
    assert redact(url).count("***") == 1 and SECRET not in redact(url)
    with pytest.raises(ValueError, match="postgresql://") as wrong:
        Settings(_env_file=None, database_url=f"mysql://u:{SECRET}@h/db")  # type: ignore[call-arg]
    assert SECRET not in str(wrong.value)


def test_without_database_url_the_school_stays_on_its_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(_env_file=None, database_path=tmp_path / "school.sqlite3")  # type: ignore[call-arg]
    db = make_database(settings)
    assert isinstance(db, SqliteDatabase) and db.dialect == "sqlite" and db.path == tmp_path / "school.sqlite3"
