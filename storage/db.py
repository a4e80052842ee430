"""The SQLite database: one aiosqlite connection, numbered migrations, guarded write transactions.

What both backends share (the connection type repositories program against, the errors, the
update-idempotency mark) is in storage/sql.py and re-exported here, so callers keep one import; the
PostgreSQL database is storage/pg.py, and storage/backend.py picks one of them.

One aiosqlite connection serialises statements, not transactions: two coroutines that each run
BEGIN ... COMMIT on it would interleave their statements inside one transaction. Every write
therefore goes through `Database.transaction()`, which holds an asyncio.Lock from BEGIN to
COMMIT/ROLLBACK. Reads may run outside it.

Idempotent updates: the dispatcher middleware puts the Telegram update id into `CURRENT_UPDATE`;
the first write transaction of that update records the id in `processed_updates` inside the same
transaction as its effects. A second delivery of the same update then fails that insert, rolls
back its effects and raises DuplicateUpdate, so the effects happen once. What the update owes the user
for its effects (a receipt, a code card) is queued in that same transaction (storage/outbox.py,
answers), so dropping the second delivery loses no answer, whatever happened after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from bot.paths import private_dir as private_dir  # re-exported: callers import it from here
from bot.unit_of_work import Connection, UnitOfWork
from storage import chain
from storage.sql import CURRENT_UPDATE as CURRENT_UPDATE  # re-exported: callers import them from here
from storage.sql import PROCESSED_MEMORY as PROCESSED_MEMORY
from storage.sql import AdapterConn, Dialect, IntegrityError, Row, SqlConn, SqlDatabase
from storage.sql import DiskFull as DiskFull
from storage.sql import DuplicateUpdate as DuplicateUpdate
from storage.sql import StorageError as StorageError
from storage.sql import UpdateMark as UpdateMark

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class QuietStatementLog(logging.Filter):
    """aiosqlite logs every statement with its parameters at DEBUG, and those parameters carry
    invitation codes (the import's INSERTs). Drop those records at the logger, so no handler
    configuration (LOG_LEVEL=DEBUG, pytest's caplog) can put a code into a log. The driver is
    storage's business, so the filter lives here; the codes capability installs it at set-up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def quiet_statement_log() -> None:
    logger = logging.getLogger("aiosqlite")
    if not any(isinstance(f, QuietStatementLog) for f in logger.filters):
        logger.addFilter(QuietStatementLog())


def _disk_full(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


# A constraint refused the statement, on either backend: `except INTEGRITY_ERRORS:`.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, IntegrityError)


def write_refusal(exc: BaseException) -> Literal["full", "read_only"] | None:
    """Whether the driver's error says the disk is full or the database is read-only (None: it
    says neither, or it is not the driver's): the start-up checks name the folder to fix."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    text = str(exc).lower()
    if "disk is full" in text or "disk i/o error" in text:
        return "full"
    if "readonly" in text or "read-only" in text:
        return "read_only"
    return None


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every shipped migration, in order."""
    found: list[tuple[int, str, str]] = []
    folder = resources.files("storage") / "migrations"
    for entry in folder.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(set(numbers)) != len(numbers):
        raise StorageError(f"two migrations share a number: {[name for _, name, _ in found]}")
    return found


class Database(SqlDatabase):
    """The unit of work (bot/unit_of_work.py) on SQLite: one connection writes, in guarded
    transactions, and by default reads too.

    With `separate_reader` the reads outside a transaction's handle (`conn`, `fetchall`, ...) go to
    a second connection, which sees only what is committed, as a pooled backend's reads would
    (PostgreSQL, #27). The tests run flows this way to show that whatever must see a transaction's
    rows is passed the transaction; a file database only (each `:memory:` connection is its own)."""

    dialect: Dialect = "sqlite"
    path: Path

    def __init__(self, path: Path | str, *, separate_reader: bool = False) -> None:
        super().__init__()
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self._conn: aiosqlite.Connection | None = None  # the writer
        self._separate_reader = separate_reader and str(path) != ":memory:"
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        # Run once the write transaction in progress commits; dropped when it rolls back.
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the write transaction in progress commits (never if it rolls back);
        outside a transaction, at once. The outbox wakes its sender this way, so a woken sender
        always finds the message it was woken for."""
        if self._conn is not None and self._conn.in_transaction:
            self._after_commit.append(callback)
        else:
            callback()

    @property
    def conn(self) -> aiosqlite.Connection:
        """The connection to read on (the writer itself unless `separate_reader`)."""
        return self._reader if self._reader is not None else self._writer

    @property
    def _writer(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError("the database is not open")
        return self._conn

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def total_changes(self) -> int:
        """Rows changed through this connection since it opened (0 when closed)."""
        return self._conn.total_changes if self._conn is not None else 0

    async def open(self) -> None:
        memory = str(self.path) == ":memory:"
        if not memory:
            private_dir(self.path.parent)
            if not self.path.exists():
                # Create it private before SQLite does (SQLite would use the umask).
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._conn = await self._connect(memory)
            await self._migrate()
            if self._separate_reader:
                self._reader = await self._connect(memory)
            await self._load_processed()
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StorageError(self._explain(exc)) from None

    async def _connect(self, memory: bool) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(str(self.path), isolation_level=None, timeout=5.0)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA busy_timeout = 5000")
            if not memory:
                await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
            # Migration 008 hashes the consent ledger's existing rows with this function.
            await conn.create_function(
                chain.SQL_FUNCTION, len(chain.BASE_COLUMNS) + 1, chain.sql_row_hash, deterministic=True
            )
        except BaseException:
            await conn.close()  # not yet the database's: close() would not see it
            raise
        return conn

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return f"database {self.path} is locked by another process (is another schoolbot running?)"
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return (
                f"database {self.path} is corrupt or not a schoolbot database ({text}); "
                "restore a backup with `schoolbot restore FILE`"
            )
        return f"database {self.path}: {text}"

    async def _migrate(self) -> None:
        conn = self._writer
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        known = migrations()
        newest = known[-1][0] if known else 0
        if current > newest:
            raise StorageError(
                f"database {self.path} has schema version {current}, newer than this schoolbot knows ({newest})"
            )
        for number, name, sql in known:
            if number <= current:
                continue
            log.info("applying migration %s", name)
            async with self._write_lock:
                # executescript would commit on its own; wrapping it keeps a migration atomic.
                await conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def checkpoint(self) -> None:
        """Fold the write-ahead log into the file and empty it (between write transactions), so rows
        just overwritten do not linger in the log (an anonymous survey's close, storage/surveys.py)."""
        async with self._write_lock:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            conn = self._writer
            await self._begin(conn)
            try:
                mark = CURRENT_UPDATE.get()
                if mark is not None and not mark.recorded:
                    try:
                        await conn.execute(
                            "INSERT INTO processed_updates(update_id) VALUES (?)", (mark.update_id,)
                        )
                    except sqlite3.IntegrityError:
                        raise DuplicateUpdate(mark.update_id) from None
                yield conn
            except BaseException as exc:
                self._after_commit.clear()
                await self._rollback(conn)
                if _disk_full(exc):
                    raise DiskFull(self._full_message()) from None
                raise
            else:
                try:
                    await conn.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    self._after_commit.clear()
                    await self._rollback(conn)
                    if _disk_full(exc):
                        raise DiskFull(self._full_message()) from None
                    raise
                if mark is not None and not mark.recorded:
                    mark.recorded = True
                    self._processed.add(mark.update_id)
                callbacks, self._after_commit = self._after_commit, []
                for callback in callbacks:
                    callback()

    @staticmethod
    async def _begin(conn: aiosqlite.Connection) -> None:
        """BEGIN, safe against a cancel: the statement runs in the driver's thread whatever happens to
        the task that asked for it, so a task cancelled while waiting for it (a graceful stop cancels
        sends mid-flight) left the connection inside a transaction nobody would end, and every later
        transaction failed with "cannot start a transaction within a transaction" (the stop could not
        hand its leased rows back). Wait for it anyway, then undo it, then let the cancel through."""
        begin = asyncio.ensure_future(conn.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await begin
                await Database._rollback(conn)
            raise

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        # SQLite may have rolled the transaction back itself (a full disk does); then there is
        # nothing to undo and a second ROLLBACK would hide the real error.
        if conn.in_transaction:
            await conn.execute("ROLLBACK")

    def _full_message(self) -> str:
        return f"database {self.path}: the disk is full, nothing was written; free some space and try again"


def database_of(uow: UnitOfWork) -> SqlDatabase:
    """The database behind the unit of work a service holds (bot/unit_of_work.py), SQLite or
    PostgreSQL: the repositories built on it read with its helpers. Anything else is refused here."""
    if not isinstance(uow, SqlDatabase):
        raise TypeError(f"not a storage database: {type(uow).__name__}")
    return uow


def raw(conn: Connection) -> SqlConn:
    """The connection behind a handle a service passed in (bot/unit_of_work.py), aiosqlite's or the
    PostgreSQL adapter's (storage/pg.py): only storage/ unwraps it. Anything else is refused here
    rather than failing at its first statement."""
    if isinstance(conn, aiosqlite.Connection):
        return conn
    if isinstance(conn, AdapterConn):
        return conn  # type: ignore[return-value]  # an adapter satisfies SqlConn (checked in storage/pg.py)
    raise TypeError(f"not a handle of the storage: {type(conn).__name__}")


def dialect_of(conn: Connection) -> Dialect:
    """Which SQL the connection speaks, for the few statements with no portable form."""
    return conn.dialect if isinstance(conn, AdapterConn) else "sqlite"


async def fetchall_in(conn: SqlConn, sql: str, params: Iterable[Any] = ()) -> list[Row]:
    """Read inside an open transaction (with the connection the transaction yielded)."""
    async with conn.execute(sql, tuple(params)) as cur:
        return list(await cur.fetchall())


async def fetchone_in(conn: SqlConn, sql: str, params: Iterable[Any] = ()) -> Row | None:
    async with conn.execute(sql, tuple(params)) as cur:
        return await cur.fetchone()
