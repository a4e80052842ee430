"""A district's storage (#27): its registry of schools and operators, where each school's own store
lives, and the aggregate reads the district role sees across schools.

A store per school, not a `school_id` column on forty tables. Each school's rows live in a store of
their own: on SQLite one database file per school under the district's folder
(`<DISTRICT_DIR>/schools/<key>/schoolbot.sqlite3`, for development and tests), on PostgreSQL one
schema per school (`schema_name(key)`) on one shared pool. Isolation is then decided in one place,
the store a school's services are built on (bot/district/), instead of in every query remembering
`WHERE school_id = ?`: a forgotten condition cannot leak school B's consent into school A, and each
school has its own ledger chain and head, consent versions, codes, plan, staff and calendar by
construction, with every migration, trigger and repository unchanged. The one-school install is the
same store with no district around it.

The registry itself is a small store of its own (`district.db` in DISTRICT_DIR; the `district`
schema on PostgreSQL) with its own numbered migrations (storage/district_migrations/, portable SQL,
applied in order and recorded in `district_migrations`). It holds each school's key, title, settings
(the school.toml text) and optional bot tokens, and the district's operators with their messenger
accounts. Tokens are secrets: the record (bot.domain.district) keeps them out of its repr, the service wraps them
in SecretStr and no command prints them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
import psycopg

from bot.domain.district import SCHOOL_KEY, FamilyReach, OperatorRecord, SchoolRecord
from bot.unit_of_work import UnitOfWork
from storage.db import INTEGRITY_ERRORS, Database, StorageError, database_of, private_dir
from storage.pg import MIGRATION_LOCK, PgDatabase, ddl, redact
from storage.sql import CURRENT_UPDATE, Row, SqlConn, SqlDatabase
from storage.timefmt import from_db, to_db

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
REGISTRY_FILE = "district.db"
REGISTRY_SCHEMA = "district"
SCHOOLS_FOLDER = "schools"
SCHOOL_FILE = "schoolbot.sqlite3"


def district_store_path(district_dir: Path) -> Path:
    return district_dir / REGISTRY_FILE


def school_folder(district_dir: Path, key: str) -> Path:
    """The school's own folder on SQLite: its database file and its backups."""
    if not SCHOOL_KEY.fullmatch(key):
        raise ValueError(f"not a school key: {key!r}")
    return district_dir / SCHOOLS_FOLDER / key


def school_store_path(district_dir: Path, key: str) -> Path:
    return school_folder(district_dir, key) / SCHOOL_FILE


def schema_name(key: str) -> str:
    """The school's PostgreSQL schema: `school_` and the key with `-` as `_` (keys hold no `_`, so two
    keys never share a schema, and the name needs no quoting)."""
    if not SCHOOL_KEY.fullmatch(key):
        raise ValueError(f"not a school key: {key!r}")
    return "school_" + key.replace("-", "_")


class DuplicateSchool(StorageError):
    """The registry already holds a school with this key."""


class AccountTaken(StorageError):
    """A messenger account already belongs to another district operator."""


def district_migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every registry migration, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in (resources.files("storage") / "district_migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    return found


def statements(script: str) -> list[str]:
    """A registry migration's statements, one by one (both drivers run one statement per call). The
    registry's migrations are plain DDL: no trigger or function body holds a `;` of its own, and no
    string literal holds `--` or `;`."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]  # comments may hold a `;`
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


class DistrictStore(ABC):
    """The registry, whatever the backend: its SQL is written once on `SqlConn` (storage/sql.py: `?`
    placeholders, portable statements), and a backend supplies the connection: `SqliteDistrictStore`
    (district.db in DISTRICT_DIR) here, a PostgreSQL one in the `district` schema. A handful of rows,
    written by the operator's commands and the district bot's school choices."""

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply the registry's migrations."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[SqlConn]: ...

    def _ddl(self, statement: str) -> str:
        """A portable statement as this backend's DDL needs it (PostgreSQL: BIGINT for INTEGER)."""
        return statement

    async def _migration_lock(self, conn: SqlConn) -> None:
        """Serialise the registry's migrations across processes (SQLite: BEGIN IMMEDIATE already does)."""
        return None

    async def _migrate(self) -> None:
        async with self._transaction() as conn:
            await self._migration_lock(conn)
            await conn.execute(self._ddl(
                "CREATE TABLE IF NOT EXISTS district_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL)"
            ))
        applied = {int(r[0]) for r in await self._read("SELECT number FROM district_migrations")}
        for number, name, sql in district_migrations():
            if number in applied:
                continue
            async with self._transaction() as conn:  # one migration, atomic
                # Several workers may start on a new registry at once: one applies, the others see it.
                await self._migration_lock(conn)
                rows = await conn.execute_fetchall("SELECT 1 FROM district_migrations WHERE number = ?", (number,))
                if list(rows):
                    continue
                log.info("applying district migration %s", name)
                for statement in statements(sql):
                    await conn.execute(self._ddl(statement))
                await conn.execute(
                    "INSERT INTO district_migrations(number, name, applied_at) VALUES (?, ?, ?)",
                    (number, name, to_db(datetime.now(UTC))),
                )


    # --- schools ------------------------------------------------------------------------------------
    @staticmethod
    def _school(row: Row) -> SchoolRecord:
        return SchoolRecord(
            key=row["key"], title=row["title"], settings_toml=row["settings_toml"],
            created_at=from_db(row["created_at"]), telegram_token=row["telegram_token"], max_token=row["max_token"],
        )

    async def schools(self) -> list[SchoolRecord]:
        rows = await self._read(
            "SELECT key, title, settings_toml, telegram_token, max_token, created_at FROM schools ORDER BY key"
        )
        return [self._school(r) for r in rows]

    async def school(self, key: str) -> SchoolRecord | None:
        rows = await self._read(
            "SELECT key, title, settings_toml, telegram_token, max_token, created_at FROM schools WHERE key = ?",
            (key,),
        )
        return next((self._school(r) for r in rows), None)

    async def add_school(self, record: SchoolRecord) -> None:
        async with self._transaction() as conn:
            try:
                await conn.execute(
                    "INSERT INTO schools(key, title, settings_toml, telegram_token, max_token, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record.key, record.title, record.settings_toml, record.telegram_token, record.max_token,
                     to_db(record.created_at)),
                )
            except INTEGRITY_ERRORS:
                raise DuplicateSchool(record.key) from None

    async def remove_school(self, key: str, drop_store: Callable[[SqlConn], Awaitable[None]]) -> bool:
        """The school's row gone, with the district bot's choices of it (the next message from those
        people gets the picker), and its store dropped by `drop_store` inside the same transaction:
        on PostgreSQL the schema goes in it (both or neither), on SQLite the folder is moved aside
        there and put back if the registry's commit fails. False when the registry has no such school."""
        async with self._transaction() as conn:
            found = list(await conn.execute_fetchall("SELECT 1 FROM schools WHERE key = ?", (key,)))
            if not found:
                return False
            await conn.execute("DELETE FROM school_choices WHERE school_key = ?", (key,))
            await conn.execute("DELETE FROM schools WHERE key = ?", (key,))
            await drop_store(conn)
        return True

    # --- operators ----------------------------------------------------------------------------------
    async def operators(self) -> list[OperatorRecord]:
        people = await self._read("SELECT id, full_name, created_at FROM operators ORDER BY id")
        accounts = await self._read(
            "SELECT operator_id, channel, user_id FROM operator_accounts ORDER BY channel, user_id"
        )
        by_operator: dict[int, list[tuple[str, int]]] = {}
        for a in accounts:
            by_operator.setdefault(int(a["operator_id"]), []).append((str(a["channel"]), int(a["user_id"])))
        return [
            OperatorRecord(int(p["id"]), p["full_name"], tuple(by_operator.get(int(p["id"]), ())),
                           from_db(p["created_at"]))
            for p in people
        ]

    async def operator_by_account(self, channel: str, user_id: int) -> OperatorRecord | None:
        rows = await self._read(
            "SELECT operator_id FROM operator_accounts WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        if not rows:
            return None
        wanted = int(rows[0][0])
        return next((o for o in await self.operators() if o.id == wanted), None)

    async def add_operator(self, full_name: str, accounts: Iterable[tuple[str, int]], now: datetime) -> OperatorRecord:
        wanted = tuple(dict.fromkeys(accounts))
        async with self._transaction() as conn:
            rows = list(await conn.execute_fetchall("SELECT COALESCE(MAX(id), 0) + 1 FROM operators"))
            new_id = int(rows[0][0])
            await conn.execute(
                "INSERT INTO operators(id, full_name, created_at) VALUES (?, ?, ?)", (new_id, full_name, to_db(now))
            )
            for channel, user_id in wanted:
                try:
                    await conn.execute(
                        "INSERT INTO operator_accounts(operator_id, channel, user_id) VALUES (?, ?, ?)",
                        (new_id, channel, user_id),
                    )
                except INTEGRITY_ERRORS:
                    raise AccountTaken(f"{channel}:{user_id}") from None
        return OperatorRecord(new_id, full_name, wanted, now)

    # --- the district bot's remembered choices ----------------------------------------------------------
    async def chosen(self, channel: str, user_id: int) -> str | None:
        rows = await self._read(
            "SELECT school_key FROM school_choices WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return str(rows[0][0]) if rows else None

    async def choose(self, channel: str, user_id: int, key: str, now: datetime) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO school_choices(channel, user_id, school_key, chosen_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, user_id) DO UPDATE SET school_key = excluded.school_key,"
                " chosen_at = excluded.chosen_at",
                (channel, user_id, key, to_db(now)),
            )


class SqliteDistrictStore(DistrictStore):
    """The registry on SQLite (`district.db`): one connection, writes serialised by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def _db(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError("the district registry is not open")
        return self._conn

    async def open(self) -> None:
        if self._conn is not None:
            return
        private_dir(self.path.parent)
        if not self.path.exists():
            # Private before SQLite creates it: the registry holds the schools' bot tokens.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            conn = await aiosqlite.connect(str(self.path), isolation_level=None, timeout=5.0)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"district registry {self.path}: {exc}") from None
        self._conn = conn
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA foreign_keys = ON")
            await self._migrate()
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StorageError(f"district registry {self.path}: {exc}") from None

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._db.execute_fetchall(sql, params))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SqlConn]:
        async with self._write_lock:
            conn = self._db
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")


class _RegistryDatabase(PgDatabase):
    """A PostgreSQL unit of work on the registry's schema: the registry applies its own migrations
    (storage/district_migrations/) and records no processed updates, so a school's are not run."""

    async def _migrate(self) -> None:
        async with self._connection() as conn, conn.transaction():
            # Two workers creating the schema at once would collide even with IF NOT EXISTS.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (self.schema, MIGRATION_LOCK))
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    async def _load_processed(self) -> None:
        return None


class PgDistrictStore(DistrictStore):
    """The registry on PostgreSQL, in the `district` schema of the district's database (a small pool of
    its own: the operator's commands and the district bot's choices)."""

    def __init__(self, url: str) -> None:
        self._db = _RegistryDatabase(url, schema=REGISTRY_SCHEMA, min_size=1, max_size=2)

    @property
    def is_open(self) -> bool:
        return self._db.is_open

    async def open(self) -> None:
        if self._db.is_open:
            return
        await self._db.open()
        try:
            await self._migrate()
        except BaseException:
            await self._db.close()
            raise

    async def close(self) -> None:
        await self._db.close()

    def _ddl(self, statement: str) -> str:
        return ddl(statement)

    async def _migration_lock(self, conn: SqlConn) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, ?))", (REGISTRY_SCHEMA, MIGRATION_LOCK))

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._db.fetchall(sql, params)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SqlConn]:
        # A write made while the district bot handles an update (a school chosen) records no processed
        # update here: those are each school's own (its store's processed_updates).
        token = CURRENT_UPDATE.set(None)
        try:
            async with self._db.transaction() as conn:
                yield conn
        finally:
            CURRENT_UPDATE.reset(token)


def registry(district_dir: Path, database_url: str | None) -> DistrictStore:
    """The district's registry: in the district's PostgreSQL database when it has one, else district.db."""
    if database_url is not None:
        return PgDistrictStore(database_url)
    return SqliteDistrictStore(district_store_path(district_dir))


class SchoolStores:
    """Where the district's schools' stores are: SQLite files under the district's folder, or one
    PostgreSQL schema per school on one pool every school shares (`open()` opens it, `database(key)`
    gives a school's unit of work on it). `create` / `remove` make and undo a new school's store for
    `schoolbot district add-school`; a school's folder (backups, lock files) is made on either."""

    def __init__(self, district_dir: Path, database_url: str | None, *, pool_size: int = 10) -> None:
        self.district_dir = district_dir
        self.url = database_url
        self._pool = PgDatabase.make_pool(database_url, min_size=1, max_size=pool_size) if database_url else None
        self._pool_open = False

    @property
    def on_postgres(self) -> bool:
        return self.url is not None

    def where(self, key: str) -> str:
        """The store as an operator reads it (never the URL's password)."""
        if self.url is not None:
            return f"{redact(self.url)} (schema {schema_name(key)})"
        return str(school_store_path(self.district_dir, key))

    async def open(self) -> None:
        if self._pool is not None and not self._pool_open:
            await self._pool.open(wait=True, timeout=30)
            self._pool_open = True

    async def close(self) -> None:
        if self._pool is not None and self._pool_open:
            self._pool_open = False
            await self._pool.close()

    def database(self, key: str) -> SqlDatabase | None:
        """The school's unit of work on the shared pool (PostgreSQL); None on SQLite, where the
        school's settings name its file (storage.backend.make_database)."""
        if self._pool is None:
            return None
        return PgDatabase(pool=self._pool, schema=schema_name(key))

    async def exists(self, key: str) -> bool:
        if school_folder(self.district_dir, key).exists():
            return True
        if self.url is None:
            return False
        try:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                cur = await conn.execute(
                    "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema_name(key),)
                )
                return await cur.fetchone() is not None
        except psycopg.Error as exc:
            raise StorageError(self._unreachable(exc)) from None

    def _unreachable(self, exc: BaseException) -> str:
        # The server's reason, never the URL's password.
        assert self.url is not None
        text = str(exc).strip()
        secret = urlsplit(self.url).password
        return f"database {redact(self.url)}: {text.replace(secret, '***') if secret else text}"

    async def create(self, key: str) -> None:
        """The school's store with every migration applied (its folder too)."""
        private_dir(school_folder(self.district_dir, key))
        if self.url is None:
            db: SqlDatabase = Database(school_store_path(self.district_dir, key))
        else:
            db = PgDatabase(self.url, schema=schema_name(key), min_size=1, max_size=1)
        try:
            await db.open()
        finally:
            await db.close()

    async def destroy(self, key: str, registry: DistrictStore) -> bool:
        """`schoolbot district remove-school`: the school's registry row and its store (its schema, its
        folder with its file, backups and lock files) go together. The folder is moved aside inside the
        registry's transaction and deleted only once it commits; a failure before puts it back. False
        (nothing changed) when the registry has no such school."""
        folder = school_folder(self.district_dir, key)
        aside = folder.with_name(f".removing-{key}")
        moved = False

        async def drop(conn: SqlConn) -> None:
            nonlocal moved
            if folder.exists():
                shutil.rmtree(aside, ignore_errors=True)  # a removal cut short before
                os.replace(folder, aside)
                moved = True
            if self.url is not None:
                # The registry's connection is on the district's database: the schema goes in its
                # transaction, so a failed commit keeps both the row and the schema.
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema_name(key)}" CASCADE')

        try:
            removed = await registry.remove_school(key, drop)
        except BaseException:
            if moved:
                os.replace(aside, folder)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return removed

    async def remove(self, key: str) -> None:
        """Undo `create` (a school whose registry row could not be written): its folder and schema."""
        shutil.rmtree(school_folder(self.district_dir, key), ignore_errors=True)
        if self.url is not None:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema_name(key)}" CASCADE')
            except psycopg.Error as exc:
                raise StorageError(self._unreachable(exc)) from None


# --- what the district role sees of one school's store -------------------------------------------------
class SchoolFiguresRepo:
    """Aggregate reads on one school's store for the district's coverage table: ids and flags, no
    name, no code. Built on the school's own unit of work, so it reads that school and no other."""

    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def families(self) -> list[FamilyReach]:
        rows = await self.db.fetchall(
            "SELECT p.id,"
            " CASE WHEN EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = p.id)"
            "   OR EXISTS (SELECT 1 FROM guardians g JOIN persons gp ON gp.id = g.parent_id AND gp.active = 1"
            "     JOIN accounts a ON a.person_id = g.parent_id WHERE g.child_id = p.id)"
            "   OR EXISTS (SELECT 1 FROM code_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.outbox_key"
            "     WHERE (d.tg_message_id IS NOT NULL OR o.status = 'sent')"
            "     AND (d.recipient_id = p.id OR d.recipient_id IN (SELECT g.parent_id FROM guardians g"
            "       WHERE g.child_id = p.id)))"
            " THEN 1 ELSE 0 END AS reached"
            " FROM persons p WHERE p.active = 1"
            " AND EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = 'student')"
            " ORDER BY p.id"
        )
        return [FamilyReach(int(r[0]), bool(r[1])) for r in rows]
