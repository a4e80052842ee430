"""The one connection type repositories program against, whatever the backend (#27).

`SqlConn` is what `storage.db.raw` hands a repository and what `Database.transaction()` yields:
aiosqlite's Connection satisfies it as it is, and storage/pg.py's `PgConn` (psycopg 3) does too.
The SQL a repository writes is the same text on both: `?` placeholders (the PostgreSQL adapter
turns them into its own), rows read by index or by column name (`Row`, as sqlite3.Row), the number
of rows a statement changed (`Cursor.rowcount`). What the two engines' SQL dialects do differently
(INSERT OR IGNORE, lastrowid, GROUP_CONCAT, sqlite_master, ...) is NOT translated: a repository
writes the portable form (ON CONFLICT DO NOTHING, RETURNING id, ...), and in the few places where no
portable form exists it asks `dialect_of(conn)` / `SqlDatabase.dialect`.

`SqlDatabase` is what both backends' databases share: the unit of work (bot/unit_of_work.py), the
helpers repositories read with, the idempotency rule for updates (`processed_updates`) and the
callbacks run after a commit. The SQLite one is storage.db.Database, the PostgreSQL one
storage.pg.PgDatabase; storage.backend.open_database picks one from the settings.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

Dialect = Literal["sqlite", "postgres"]

# Telegram redelivers only recent updates (after a crash while polling), so the newest ids suffice.
PROCESSED_MEMORY = 100_000


class StorageError(Exception):
    """The database cannot be used; the message is meant for the operator."""


class DiskFull(StorageError):
    """A write found no space on the disk; the transaction was rolled back, nothing was written."""


class IntegrityError(Exception):
    """A constraint refused a statement (unique, foreign key, check), as raised by storage's own
    adapters (storage/pg.py, with the driver's error chained). Catch `storage.db.INTEGRITY_ERRORS`,
    which holds SQLite's too."""


class DuplicateUpdate(Exception):
    """This Telegram update has already had its effects."""


@dataclass
class UpdateMark:
    """The update being handled (CURRENT_UPDATE). ``recorded``: its first write transaction committed
    its id into processed_updates. ``owed``: the dedupe keys of the answers its transactions queued in
    the outbox held for the handler to give itself (storage/outbox.py `OutboxRepo.enqueue_answer`);
    the update guard hands whichever the handler did not give to the outbox's sender."""

    update_id: int
    recorded: bool = False
    owed: list[str] = field(default_factory=list)


CURRENT_UPDATE: contextvars.ContextVar[UpdateMark | None] = contextvars.ContextVar("current_update", default=None)


class Row(Protocol):
    """A result row, read by position (`row[0]`) or by column name (`row["id"]`), as sqlite3.Row."""

    def keys(self) -> list[str]: ...

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


class Cursor(Protocol):
    """What a statement left behind: its rows and how many rows it changed. `lastrowid` is SQLite's
    (None on PostgreSQL): a portable insert says `RETURNING id` and reads the row."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> Iterable[Row]: ...

    async def close(self) -> None: ...


T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    """A statement on its way: awaited (`cur = await conn.execute(...)`) or entered
    (`async with conn.execute(...) as cur:`, the cursor closed on leaving), as aiosqlite's."""

    def __await__(self) -> Generator[Any, None, T_co]: ...

    async def __aenter__(self) -> T_co: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any, /) -> None: ...


class SqlConn(Protocol):
    """A connection a repository runs its SQL on (inside a transaction: the transaction's own)."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Pending[Cursor]: ...

    def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> Pending[Iterable[Row]]: ...

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Pending[Cursor]: ...


class AdapterConn:
    """Marker base of the connections storage's own adapters give out (storage/pg.py), so
    storage.db.raw can tell a handle of ours from a foreign object without importing the driver."""

    dialect: Dialect


class SqlDatabase(ABC):
    """What the SQLite and the PostgreSQL database share (see the module's docstring)."""

    dialect: Dialect
    # The file behind the database; None where there is none (PostgreSQL: its backups are pg_dump's).
    path: Path | None

    def __init__(self) -> None:
        # Update ids whose effects are committed, mirrored in memory so the check that every update
        # passes through costs no database round trip. Loaded at open, extended at each commit.
        self._processed: set[int] = set()

    # --- the unit of work -------------------------------------------------------------------------
    @property
    @abstractmethod
    def conn(self) -> SqlConn:
        """The connection to read on, outside any transaction."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[SqlConn]:
        """A write transaction: commits when the block ends, rolls back when it raises. The first one
        of an update (CURRENT_UPDATE) records the update's id in it, or raises DuplicateUpdate."""

    @abstractmethod
    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the write transaction in progress commits (never if it rolls back);
        outside a transaction, at once."""

    # --- life -------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    async def checkpoint(self) -> None:
        """Make sure rows just overwritten linger nowhere but in the database's own files (SQLite
        folds its write-ahead log; nothing to do elsewhere)."""
        return None

    @property
    def total_changes(self) -> int:
        """Rows changed since the database opened, where the backend counts them (0 otherwise)."""
        return 0

    # --- reads ------------------------------------------------------------------------------------
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    # --- updates handled once ---------------------------------------------------------------------
    def is_processed(self, update_id: int) -> bool:
        return update_id in self._processed

    def remember_processed(self, update_id: int) -> None:
        """An update handled without writing (an answer only): known as processed until the process
        ends. Redelivery after a restart is bounded by the wires' cursors (bot/max/session.py)."""
        self._processed.add(update_id)

    async def _load_processed(self) -> None:
        rows = await self.fetchall(
            "SELECT update_id FROM processed_updates ORDER BY update_id DESC LIMIT ?", (PROCESSED_MEMORY,)
        )
        self._processed = {int(r[0]) for r in rows}
