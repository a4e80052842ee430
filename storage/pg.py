"""The PostgreSQL database (#27): psycopg 3 on a connection pool, one schema per school.

`PgConn` is the adapter repositories see through `storage.db.raw`: it satisfies storage.sql.SqlConn,
so a repository's SQL text runs here as it is written for SQLite, provided it is portable. What the
adapter does, and only this:
- placeholders: `?` becomes psycopg's `%s` (outside string literals and quoted names) and every
  literal `%` is doubled, once per distinct statement (cached);
- parameters: a Python bool is passed as 0/1 (the schema keeps SQLite's integer flags);
- DDL: `INTEGER` becomes `BIGINT` in CREATE TABLE / ALTER TABLE (Telegram's ids exceed 32 bits),
  and `INTEGER PRIMARY KEY` an identity column, as SQLite's rowid alias assigns ids;
- results: rows read by index and by name like sqlite3.Row (`PgRow`), NUMERIC values (SUM, AVG)
  as int or float and booleans as 0/1, as SQLite returns them;
- errors: a constraint's refusal (and the append-only triggers', SQLSTATE 23000) raises
  storage.sql.IntegrityError, a full disk storage.sql.DiskFull, with the driver's error chained.
It does not rewrite SQLite idioms (INSERT OR IGNORE, GROUP_CONCAT, sqlite_master, PRAGMA,
datetime()): repositories write the portable form (storage/sql.py).

Parameters are bound on the client (psycopg's ClientCursor), as SQLite's dynamic typing lets
`? IS NULL` or `COALESCE(?, x)` through where server-side binding could not type the parameter.

`PgDatabase` is the unit of work: a write transaction takes a pooled connection for its whole
life (no process-wide lock: PostgreSQL isolates concurrent transactions), reads outside one take a
pooled connection per statement and see only committed rows. It works in one schema (default
"school"; a district runs one per school on one shared pool), set as the `search_path` of every
connection it takes. Its migrations are storage/migrations/README.md's rule for PostgreSQL.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from importlib import resources
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit
from weakref import WeakKeyDictionary

import psycopg
import psycopg.errors
from psycopg.adapt import Buffer, Loader
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from storage.sql import (
    CURRENT_UPDATE,
    AdapterConn,
    Cursor,
    Dialect,
    DiskFull,
    DuplicateUpdate,
    IntegrityError,
    Pending,
    Row,
    SqlConn,
    SqlDatabase,
    StorageError,
)

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "school"
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PG_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.pg\.sql$")
SQL_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
BASELINE = re.compile(r"^pg_baseline_(\d{3})\.sql$")
# What the bot's connections call themselves in pg_stat_activity: a restore refuses while any is
# connected (storage/pg_backup.py), as a SQLite restore refuses while `run` holds the file's lock.
APPLICATION_NAME = "schoolbot"
# Serialises migrations of one schema across processes (several workers start at once).
MIGRATION_LOCK = 0x5C4001B07


# --- the URL, never shown with its password --------------------------------------------------------


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for logs and error texts."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def _scrub(text: str, url: str | None) -> str:
    if url:
        secret = urlsplit(url).password
        if secret:
            text = text.replace(secret, "***")
    return text


# --- statements -----------------------------------------------------------------------------------

_DDL = re.compile(r"^\s*(CREATE\s+TABLE|ALTER\s+TABLE)\b", re.IGNORECASE)
_ROWID_KEY = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.IGNORECASE)
_INTEGER = re.compile(r"\bINTEGER\b", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """The statement as psycopg takes it (see the module's docstring for what changes)."""
    out: list[str] = []
    quote: str | None = None
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if quote is not None:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%").replace("?", " "))
            i = end
            continue
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
        i += 1
    return ddl("".join(out))


def ddl(statement: str) -> str:
    """A portable CREATE TABLE / ALTER TABLE as PostgreSQL needs it: BIGINT for INTEGER, an identity
    column for SQLite's rowid alias (`INTEGER PRIMARY KEY`). Other statements are left alone."""
    if _DDL.match(statement):
        statement = _ROWID_KEY.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", statement)
        statement = _INTEGER.sub("BIGINT", statement)
    return statement


def _params(parameters: Iterable[Any] | None) -> tuple[Any, ...]:
    if parameters is None:
        return ()
    return tuple(int(p) if isinstance(p, bool) else p for p in parameters)


# --- rows -----------------------------------------------------------------------------------------


class PgRow:
    """A result row as sqlite3.Row: by position, by column name (case-insensitive), `keys()`."""

    __slots__ = ("_index", "_names", "_values")

    def __init__(self, names: list[str], index: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._index = index
        self._values = tuple(values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: int | str, /) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._index[key.lower()]]
            except KeyError:
                raise IndexError(f"No item with that key: {key}") from None
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return self._names == other._names and self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash((tuple(self._names), self._values))

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._names, self._values, strict=True))!r})"


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names = [d.name for d in cursor.description] if cursor.description else []
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name.lower(), i)
    return lambda values: PgRow(names, index, values)


class _NumericLoader(Loader):
    """NUMERIC (what SUM and AVG of integers give) as SQLite gives it: an int when whole, else a float."""

    def load(self, data: Buffer) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _BoolLoader(Loader):
    """A comparison's boolean as SQLite gives it: 0 or 1."""

    def load(self, data: Buffer) -> int:
        return 1 if bytes(data) == b"t" else 0


def _configure_types(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_loader("bool", _BoolLoader)


# --- errors ---------------------------------------------------------------------------------------


def _translate_error(exc: psycopg.Error) -> Exception | None:
    if isinstance(exc, psycopg.errors.IntegrityError):
        return IntegrityError(str(exc).strip())
    if isinstance(exc, psycopg.errors.DiskFull):
        return DiskFull(f"the database server's disk is full, nothing was written: {str(exc).strip()}")
    return None


async def _guarded(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    except psycopg.Error as exc:
        mapped = _translate_error(exc)
        if mapped is not None:
            raise mapped from exc
        raise


# --- cursors and connections ------------------------------------------------------------------------


class PgCursor:
    """The rows of one statement, fetched whole (satisfies storage.sql.Cursor)."""

    lastrowid: int | None = None  # SQLite's; a portable insert says RETURNING id

    def __init__(self, rows: list[PgRow], rowcount: int) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    async def fetchone(self) -> PgRow | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchall(self) -> list[PgRow]:
        rest, self._at = self._rows[self._at:], len(self._rows)
        return rest

    async def close(self) -> None:
        self._rows = []


T = TypeVar("T")


class _Pending(Generic[T]):  # Python 3.11 has no class _Pending[T]
    """A statement on its way: awaited or entered (storage.sql.Pending)."""

    __slots__ = ("_coro", "_value")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, None, T]:
        return self._coro.__await__()

    async def __aenter__(self) -> T:
        self._value = await self._coro
        return self._value

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any, /) -> None:
        if isinstance(self._value, PgCursor):
            await self._value.close()


async def _run(conn: psycopg.AsyncConnection[Any], sql: str, params: tuple[Any, ...]) -> PgCursor:
    async with conn.cursor(row_factory=_row_factory) as cur:
        await cur.execute(translate(sql), params)
        rows = await cur.fetchall() if cur.description is not None else []
        return PgCursor(rows, cur.rowcount)


async def _run_many(
    conn: psycopg.AsyncConnection[Any], sql: str, seq: Iterable[Iterable[Any]]
) -> PgCursor:
    async with conn.cursor(row_factory=_row_factory) as cur:
        await cur.executemany(translate(sql), [_params(p) for p in seq])
        return PgCursor([], cur.rowcount)


class PgConn(AdapterConn):
    """One pooled connection, inside a write transaction (what `PgDatabase.transaction()` yields)."""

    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.AsyncConnection[Any], db: PgDatabase) -> None:
        self._conn = conn
        self._db = db

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Pending[Cursor]:
        return _Pending(self._counted(_guarded(_run(self._conn, sql, _params(parameters)))))

    def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> Pending[Iterable[Row]]:
        return _Pending(self._fetchall(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Pending[Cursor]:
        return _Pending(self._counted(_guarded(_run_many(self._conn, sql, parameters))))

    async def _counted(self, coro: Coroutine[Any, Any, PgCursor]) -> PgCursor:
        cur = await coro
        if cur.rowcount > 0 and not cur._rows:
            self._db._changes += cur.rowcount
        return cur

    async def _fetchall(self, sql: str, parameters: Iterable[Any] | None) -> Iterable[Row]:
        cur = await _guarded(_run(self._conn, sql, _params(parameters)))
        return cast(Iterable[Row], await cur.fetchall())


class PgReader(AdapterConn):
    """`PgDatabase.conn`: each statement on a pooled connection of its own, outside any transaction,
    so it sees only what is committed (a transaction's rows reach only those handed the transaction)."""

    dialect: Dialect = "postgres"

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @property
    def in_transaction(self) -> bool:
        return False

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Pending[Cursor]:
        return _Pending(self._db._read(sql, _params(parameters)))

    def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> Pending[Iterable[Row]]:
        return _Pending(self._fetchall(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Pending[Cursor]:
        raise StorageError("a write outside a transaction: use `async with db.transaction() as tx`")

    async def _fetchall(self, sql: str, parameters: Iterable[Any] | None) -> Iterable[Row]:
        cur = await self._db._read(sql, _params(parameters))
        return cast(Iterable[Row], await cur.fetchall())


def _check_adapters(conn: PgConn, reader: PgReader) -> tuple[SqlConn, SqlConn]:
    """mypy checks here that both adapters satisfy the connection type repositories program against."""
    return conn, reader


# --- migrations -----------------------------------------------------------------------------------


def pg_migrations() -> tuple[tuple[int, str, str] | None, list[tuple[int, str, str]]]:
    """(the baseline, the numbered migrations after it) as PostgreSQL runs them
    (storage/migrations/README.md): a number's `.pg.sql` twin where there is one, else its `.sql`."""
    folder = resources.files("storage") / "migrations"
    baseline: tuple[int, str, str] | None = None
    plain: dict[int, tuple[str, str]] = {}
    twins: dict[int, tuple[str, str]] = {}
    for entry in folder.iterdir():
        if match := BASELINE.match(entry.name):
            number = int(match.group(1))
            if baseline is None or number > baseline[0]:
                baseline = (number, entry.name, entry.read_text(encoding="utf-8"))
        elif match := PG_MIGRATION.match(entry.name):
            twins[int(match.group(1))] = (entry.name, entry.read_text(encoding="utf-8"))
        elif match := SQL_MIGRATION.match(entry.name):
            plain[int(match.group(1))] = (entry.name, entry.read_text(encoding="utf-8"))
    start = baseline[0] if baseline else 0
    steps = [(n, *(twins.get(n) or plain[n])) for n in sorted(set(plain) | set(twins)) if n > start]
    return baseline, steps


# --- the database ---------------------------------------------------------------------------------

# The write transaction the running task is inside, per database: after_commit appends to its list.
_OPEN_TX: contextvars.ContextVar[tuple[PgDatabase, list[Callable[[], None]]] | None] = contextvars.ContextVar(
    "schoolbot_pg_transaction", default=None
)


class PgDatabase(SqlDatabase):
    """The unit of work (bot/unit_of_work.py) on PostgreSQL, in one schema (see the module docstring).

    Give it a URL (it opens and closes its own pool) or a pool it shares with other schools' databases
    (the pool's owner closes it)."""

    dialect: Dialect = "postgres"
    path = None

    def __init__(
        self, url: str | None = None, *, schema: str = DEFAULT_SCHEMA, pool: AsyncConnectionPool[Any] | None = None,
        min_size: int = 1, max_size: int = 10,
    ) -> None:  # fmt: skip
        super().__init__()
        if (url is None) == (pool is None):
            raise ValueError("PgDatabase needs a database URL or a pool, not both")
        if not SCHEMA_NAME.match(schema):
            raise ValueError(f"not a schema name: {schema!r} (lowercase letters, digits, _)")
        self.url = url
        self.schema = schema
        self._pool = pool
        self._own_pool = pool is None
        self._sizes = (min_size, max_size)
        self._open = False
        self._changes = 0
        # Which schema each pooled connection's search_path is set to (a shared pool serves several).
        self._schema_of: WeakKeyDictionary[psycopg.AsyncConnection[Any], str] = _SCHEMA_OF
        self._reader = PgReader(self)

    def __repr__(self) -> str:
        where = redact(self.url) if self.url else "a shared pool"
        return f"PgDatabase({where}, schema={self.schema!r})"

    @property
    def where(self) -> str:
        """The database as an operator may read it: the URL without its password, and the schema."""
        return f"{redact(self.url) if self.url else 'PostgreSQL'} (schema {self.schema})"

    # --- the pool ----------------------------------------------------------------------------------
    @staticmethod
    def make_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool[Any]:
        """A pool (not yet open) whose connections suit PgDatabase: autocommit (a transaction is an
        explicit BEGIN), client-side binding, SQLite-like result types. Shared by a district's schools."""

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            _configure_types(conn)

        return AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, configure=configure,
            kwargs={"autocommit": True, "cursor_factory": psycopg.AsyncClientCursor,
                    "application_name": APPLICATION_NAME},
        )  # fmt: skip

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is None or not self._open:
            raise StorageError("the database is not open")
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self.pool.connection() as conn:
            if self._schema_of.get(conn) != self.schema:
                await conn.execute(f'SET search_path TO "{self.schema}"')
                self._schema_of[conn] = self.schema
            yield conn

    # --- life --------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:
        try:
            if self._pool is None:
                assert self.url is not None
                self._pool = self.make_pool(self.url, min_size=self._sizes[0], max_size=self._sizes[1])
            if self._own_pool:
                # One attempt first: a wrong URL fails at once with the server's reason, where the
                # pool would retry in the background until its timeout.
                assert self.url is not None
                probe = await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)
                await probe.close()
                await self._pool.open(wait=True, timeout=30)
            self._open = True
            await self._migrate()
            await self._load_processed()
            # Which database a process works in, for its operator (the URL without its password).
            log.info("database %s at schema version %d", self.where, await self.schema_version())
        except psycopg.Error as exc:
            await self.close()
            raise StorageError(self._explain(exc)) from None
        except Exception:
            await self.close()
            raise

    def _explain(self, exc: BaseException) -> str:
        return _scrub(f"database {self.where}: {str(exc).strip()}", self.url)

    async def close(self) -> None:
        self._open = False
        if self._own_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def total_changes(self) -> int:
        return self._changes

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await self._version(conn)

    async def _version(self, conn: psycopg.AsyncConnection[Any]) -> int:
        cur = await conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'schema_version'",
            (self.schema,),
        )
        if await cur.fetchone() is None:
            return 0
        cur = await conn.execute("SELECT version FROM schema_version")
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        baseline, steps = pg_migrations()
        start = baseline[0] if baseline else 0
        newest = max([start, *(n for n, _, _ in steps)])
        async with self._connection() as conn:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (self.schema, MIGRATION_LOCK)
                )
                current = await self._version(conn)
            if current > newest:
                raise StorageError(
                    f"database {self.where} has schema version {current}, newer than this schoolbot knows ({newest})"
                )
            plan: list[tuple[int, str, str]] = []
            if current == 0 and baseline is not None:
                plan.append(baseline)
            plan += [(n, name, sql) for n, name, sql in steps if n > max(current, start)]
            for number, name, sql in plan:
                if number <= current:
                    continue
                log.info("applying migration %s to schema %s", name, self.schema)
                async with conn.transaction():
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (self.schema, MIGRATION_LOCK)
                    )
                    if await self._version(conn) >= number:
                        continue  # another process applied it meanwhile
                    await self._apply(conn, name, sql)
                    await conn.execute("CREATE TABLE IF NOT EXISTS schema_version(version BIGINT NOT NULL)")
                    await conn.execute("DELETE FROM schema_version")
                    await conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (number,))

    @staticmethod
    async def _apply(conn: psycopg.AsyncConnection[Any], name: str, sql: str) -> None:
        # A .pg.sql file is PostgreSQL's own text, sent whole (plpgsql bodies hold semicolons); a
        # portable .sql is split into statements, each with the DDL mapping (INTEGER -> BIGINT).
        if name.endswith(".pg.sql") or BASELINE.match(name):
            await conn.execute(cast(Any, sql))
            return
        for statement in split_statements(sql):
            await conn.execute(cast(Any, ddl(statement)))

    # --- the unit of work --------------------------------------------------------------------------
    @property
    def conn(self) -> PgReader:
        return self._reader

    async def _read(self, sql: str, params: tuple[Any, ...]) -> PgCursor:
        async with self._connection() as conn:
            return cast(PgCursor, await _guarded(_run(conn, sql, params)))

    def after_commit(self, callback: Callable[[], None]) -> None:
        current = _OPEN_TX.get()
        if current is not None and current[0] is self:
            current[1].append(callback)
        else:
            callback()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConn]:
        callbacks: list[Callable[[], None]] = []
        async with self._connection() as raw_conn:
            conn = PgConn(raw_conn, self)
            token = _OPEN_TX.set((self, callbacks))
            try:
                await raw_conn.execute("BEGIN")
                mark = CURRENT_UPDATE.get()
                if mark is not None and not mark.recorded:
                    try:
                        await raw_conn.execute(
                            "INSERT INTO processed_updates(update_id) VALUES (%s)", (mark.update_id,)
                        )
                    except psycopg.errors.UniqueViolation:
                        raise DuplicateUpdate(mark.update_id) from None
                yield conn
                try:
                    await raw_conn.execute("COMMIT")
                except psycopg.Error as exc:
                    mapped = _translate_error(exc)
                    if mapped is not None:
                        raise mapped from exc
                    raise
            except BaseException:
                callbacks.clear()
                if raw_conn.info.transaction_status != TransactionStatus.IDLE:
                    try:
                        await raw_conn.execute("ROLLBACK")
                    except psycopg.Error:
                        log.warning("rollback failed; the pool discards the connection")
                raise
            finally:
                _OPEN_TX.reset(token)
        if mark is not None and not mark.recorded:
            mark.recorded = True
            self._processed.add(mark.update_id)
        for callback in callbacks:
            callback()


_SCHEMA_OF: WeakKeyDictionary[psycopg.AsyncConnection[Any], str] = WeakKeyDictionary()


def split_statements(script: str) -> list[str]:
    """A portable migration's statements, split at semicolons outside literals, quoted names and
    comments (a portable file holds no trigger bodies: those go in a .pg.sql twin)."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if quote is not None:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            current.append(ch)
        elif ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch == ";":
            text = "".join(current).strip()
            if text:
                statements.append(text)
            current = []
        else:
            current.append(ch)
        i += 1
    text = "".join(current).strip()
    if text:
        statements.append(text)
    return statements
