"""PostgreSQL backups with PostgreSQL's own tools (#27 item 5): `pg_dump` in its custom format, one
file per schema (a school's store in a district), checked with `pg_restore`, restored beside the
live schema, which is kept under another name. The PostgreSQL twin of storage/snapshot.py.

Why the client tools and not the bot's own connection: `pg_dump` takes one consistent snapshot of
the schema while the bot keeps writing, its archive restores on any later PostgreSQL, and an
operator can read or restore it by hand with the same tools. The SQL this module runs goes through
`psql` for the same reason: a restore must not need the bot's database layer, which may be the
thing that is broken.

The password never appears on a command line or in a log line: the tools get the database URL
without it and the password in their environment (PGPASSWORD), or find it in the operator's
PGPASSFILE / ~/.pgpass when the URL carries none. Every file written here is 0600.

Blocking: callers run these functions in a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from bot.config import startup_text
from bot.domain.ops import COPY_STAMP, BackupError
from bot.domain.ops import DUMP_SUFFIX as DUMP_SUFFIX  # re-exported: callers import it from here
from storage.pg import APPLICATION_NAME, PgDatabase, pg_migrations
from storage.snapshot import REQUIRED_TABLES, CarrySet, ReceiptInfo, private_file
from storage.sql import SqlDatabase

# A dump and a restore of a school's schema are bounded: a hung server must not hang the nightly sweep.
TOOL_TIMEOUT = 30 * 60
# What a dump's table of contents says about a table: "217; 1259 16388 TABLE school_a persons owner".
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) (\S+) ")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PgToolError(Exception):
    """A PostgreSQL client tool failed; the message (in the operator's words) names what and why, never
    the password."""


@dataclass(frozen=True)
class PgTarget:
    """Where the tools connect: the libpq URL without its password, and the password apart."""

    url: str
    password: str | None

    @classmethod
    def from_url(cls, database_url: str) -> PgTarget:
        parts = urlsplit(database_url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise PgToolError(f"DATABASE_URL: ожидался адрес postgresql://…, а указан «{parts.scheme}://…»")
        password = unquote(parts.password) if parts.password is not None else None
        netloc = parts.hostname or ""
        if netloc and ":" in netloc:            # an IPv6 address
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{quote(unquote(parts.username), safe='')}@{netloc}"
        return cls(urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), password)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # A password left in the environment for another database must not be sent to this one.
        env.pop("PGPASSWORD", None)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        return env


def check_schema(schema: str) -> str:
    """A schema name this module puts into SQL: the registry's school keys are plain identifiers."""
    if not _IDENT.match(schema):
        raise PgToolError(f"недопустимое имя схемы: {schema!r}")
    return schema


def tool(name: str) -> str:
    """The client tool `name` (pg_dump, pg_restore, psql): on PATH (Debian's wrapper picks the
    version), else the newest of /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (folder / name).is_file():
            return str(folder / name)
    raise PgToolError(f"не найдена программа {name}: установите клиент PostgreSQL (apt-get install postgresql-client)")


def _run(target: PgTarget, args: Sequence[str], *, what: str, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed tool, arguments built here, no shell
            list(args), env=target.env(), input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PgToolError(f"{what}: нет ответа за {TOOL_TIMEOUT // 60} мин") from None
    except OSError as exc:
        raise PgToolError(f"{what}: {exc}") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[:500] or f"код {done.returncode}"
        raise PgToolError(f"{what}: {detail}")
    return done.stdout


def psql(target: PgTarget, sql: str, *, what: str) -> str:
    """Run `sql` (one transaction, stopping at the first error) and return what it printed."""
    return _run(
        target, [tool("psql"), "--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "-v", "ON_ERROR_STOP=1",
                 "--single-transaction", "--dbname", target.url],
        what=what, stdin=sql,
    )


# --- COPY's text format (what pg_restore prints for a table's data, what COPY TO STDOUT writes) -----

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")


def _field(text: str) -> str | None:
    if text == "\\N":
        return None

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, text)


def copy_rows(lines: Iterable[str]) -> Iterator[list[str | None]]:
    """The rows of COPY's text format, `\\.` ending them."""
    for line in lines:
        if line == "\\.":
            return
        yield [_field(value) for value in line.split("\t")]


def table_data(path: Path, schema: str, table: str) -> list[dict[str, str | None]] | None:
    """A table's rows in a dump, column -> text (None: the dump holds no such table)."""
    out = _run(
        PgTarget("", None),
        [tool("pg_restore"), "--data-only", f"--schema={schema}", f"--table={table}", "--file=-", str(path)],
        what=f"{path}: чтение копии",
    )
    lines = out.split("\n")
    header = re.compile(rf"^COPY {re.escape(schema)}\.{re.escape(table)} \((.*)\) FROM stdin;$")
    for i, line in enumerate(lines):
        match = header.match(line)
        if match:
            columns = [c.strip().strip('"') for c in match.group(1).split(",")]
            return [dict(zip(columns, row, strict=True)) for row in copy_rows(lines[i + 1:])]
    return None


# --- taking and checking a dump --------------------------------------------------------------------


def dump_tables(path: Path) -> set[tuple[str, str]]:
    """(schema, table) of every table the dump at `path` holds, from its table of contents."""
    out = _run(PgTarget("", None), [tool("pg_restore"), "--list", str(path)], what=f"{path}: оглавление копии")
    tables = set()
    for line in out.splitlines():
        match = _TOC_TABLE.match(line)
        if match:
            tables.add((match.group(1), match.group(2)))
    return tables


def newest_migration() -> int:
    baseline, steps = pg_migrations()
    return max([baseline[0] if baseline else 0, *(n for n, _, _ in steps)])


def check_readable(path: Path) -> None:
    """Read every data block of the dump back (pg_restore to nowhere): PgToolError when one fails."""
    _run(PgTarget("", None), [tool("pg_restore"), "--file=/dev/null", str(path)], what=f"{path}: проверка копии")


def verify_dump(path: Path, schema: str) -> str | None:
    """None when `path` is a complete schoolbot dump of `schema`; else the reason, in the operator's
    words. Every data block is read back (pg_restore to nowhere), so a truncated or damaged file fails."""
    if not path.is_file():
        return startup_text("file_missing", path=path)
    with open(path, "rb") as fh:
        if fh.read(5) != b"PGDMP":
            return f"{path}: это не копия pg_dump в её собственном формате (pg_dump -Fc)"
    try:
        found = dump_tables(path)
        check_readable(path)
    except PgToolError as exc:
        return str(exc)
    others = sorted({name for name, _ in found} - {schema})
    if others:
        # Another school's copy (or a whole-database dump): restoring it would write where it names.
        return f"{path}: это копия другой схемы ({', '.join(others)}), а не школы «{schema}»"
    missing = REQUIRED_TABLES - {table for _, table in found}
    try:
        versions = table_data(path, schema, "schema_version") or []
    except PgToolError as exc:
        return str(exc)
    version = max((int(str(r["version"])) for r in versions), default=0)
    if missing or version < 1:
        return startup_text("file_not_schoolbot", path=path, version=version, tables=", ".join(sorted(missing)))
    newest = newest_migration()
    if version > newest:
        return startup_text("file_newer", path=path, version=version, newest=newest)
    return None


def dump_sync(
    target: PgTarget, schema: str, dest: Path, *, verify: Callable[[Path, str], str | None] = verify_dump
) -> tuple[int, str | None]:
    """Dump `schema` into `dest` (replaced only once the new dump checks out with `verify`: a school's
    store by default, the district's registry by storage/district_backup.py). Returns (size, failure
    or None). The file is 0600 from its first byte: it holds phone numbers and consent records."""
    check_schema(schema)
    part = dest.with_name(dest.name + ".part")
    for stale in dest.parent.glob("*.part"):
        # A dump cut short (the process killed mid-backup) is never renamed into place.
        stale.unlink(missing_ok=True)
    private_file(part)
    try:
        _run(
            target,
            [tool("pg_dump"), "--format=custom", f"--schema={schema}", "--no-owner", "--no-privileges",
             f"--file={part}", "--dbname", target.url],
            what="pg_dump",
        )
        os.chmod(part, 0o600)
        failure = verify(part, schema)
    except PgToolError as exc:
        failure = str(exc)
    if failure is not None:
        part.unlink(missing_ok=True)
        return 0, failure
    os.replace(part, dest)
    return dest.stat().st_size, None


# --- the consent ledger across a dump and the live schema (restore compares receipts) ---------------


def _receipt(row: dict[str, str | None]) -> ReceiptInfo:
    return ReceiptInfo(str(row["receipt_id"]), str(row["decision"]), int(str(row["version"])), str(row["created_at"]))


def dump_receipts(path: Path, schema: str) -> list[ReceiptInfo]:
    """Every receipt of the dump's consent ledger, oldest first."""
    rows = table_data(path, schema, "consent_ledger") or []
    rows.sort(key=lambda r: int(str(r["id"])))
    return [_receipt(r) for r in rows]


def _json_rows(target: PgTarget, query: str, *, what: str) -> list[dict[str, object]]:
    out = psql(target, f"SELECT row_to_json(q)::text FROM ({query}) q", what=what)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def bot_sessions(target: PgTarget) -> int:
    """How many connections of running schoolbot processes the database has (this one's aside)."""
    out = psql(
        target,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        f" AND application_name = '{APPLICATION_NAME}' AND pid <> pg_backend_pid()",
        what="psql",
    )
    return int(out.strip() or 0)


def schema_exists(target: PgTarget, schema: str) -> bool:
    check_schema(schema)
    out = psql(target, f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'", what="psql")
    return out.strip() == "1"


def live_receipts(target: PgTarget, schema: str) -> list[ReceiptInfo]:
    """Every receipt of the live schema's consent ledger, oldest first (none before it exists)."""
    check_schema(schema)
    exists = psql(
        target,
        f"SELECT 1 FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'consent_ledger'",
        what="psql",
    )
    if exists.strip() != "1":
        return []
    rows = _json_rows(
        target, f"SELECT receipt_id, decision, version, created_at FROM {schema}.consent_ledger ORDER BY id",
        what="psql: журнал согласий",
    )
    return [ReceiptInfo(str(r["receipt_id"]), str(r["decision"]), int(str(r["version"])), str(r["created_at"]))
            for r in rows]


def carry_set(target: PgTarget, schema: str, receipt_ids: Sequence[str]) -> CarrySet:
    """The rows of `receipt_ids` in `schema`, with the people and document versions they name (as
    storage.snapshot.carry_set reads them from a SQLite file)."""
    check_schema(schema)
    out = CarrySet()
    wanted = set(receipt_ids)
    out.ledger = [r for r in _json_rows(target, f"SELECT * FROM {schema}.consent_ledger ORDER BY id", what="psql")
                  if r["receipt_id"] in wanted]
    people = sorted({int(str(v)) for r in out.ledger for v in (r["parent_id"], r["child_id"], r["recorded_by"])
                     if v is not None})
    versions = sorted({int(str(r["version"])) for r in out.ledger})
    if people:
        ids = ",".join(map(str, people))
        out.persons = _json_rows(target, f"SELECT * FROM {schema}.persons WHERE id IN ({ids})", what="psql")
        out.roles = [(int(str(r["person_id"])), str(r["role"])) for r in _json_rows(
            target, f"SELECT person_id, role FROM {schema}.person_roles WHERE person_id IN ({ids})", what="psql")]
        out.guardians = [(int(str(r["parent_id"])), int(str(r["child_id"]))) for r in _json_rows(
            target, f"SELECT parent_id, child_id FROM {schema}.guardians"
            f" WHERE parent_id IN ({ids}) OR child_id IN ({ids})", what="psql")]
    if versions:
        numbers = ",".join(map(str, versions))
        out.versions = _json_rows(
            target, f"SELECT * FROM {schema}.consent_versions WHERE number IN ({numbers})", what="psql")
    return out


# --- restore -------------------------------------------------------------------------------------


def restore_schema_sync(
    target: PgTarget, schema: str, source: Path, aside: str, *,
    verify: Callable[[Path, str], str | None] = verify_dump,
) -> str | None:
    """Replace the live `schema` by the dump `source`: the live schema is renamed to `aside` first
    (None returned when there was none), then the dump restored in one transaction. On any failure
    the half-restored schema is dropped and the live one renamed back: nothing changes."""
    check_schema(schema)
    check_schema(aside)
    reason = verify(source, schema)
    if reason is not None:
        raise PgToolError(reason)
    had_live = schema_exists(target, schema)
    # The dump holds this one schema (verify_dump) and recreates it; the role that restores needs no
    # more than to own the database (owners and grants are left out: --no-owner, --no-privileges).
    if had_live:
        psql(target, f"ALTER SCHEMA {schema} RENAME TO {aside}", what="psql: переименование схемы")
    try:
        _run(
            target,
            [tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
             "--dbname", target.url, str(source)],
            what="pg_restore",
        )
    except PgToolError:
        put_back(target, schema, aside if had_live else None)
        raise
    return aside if had_live else None


def put_back(target: PgTarget, schema: str, aside: str | None) -> None:
    """Undo a restore: the restored schema goes, the one kept aside takes its name again."""
    sql = f"DROP SCHEMA IF EXISTS {schema} CASCADE;"
    if aside is not None:
        sql += f" ALTER SCHEMA {aside} RENAME TO {schema};"
    with contextlib.suppress(PgToolError):
        psql(target, sql, what="psql: возврат прежней схемы")


@dataclass(frozen=True)
class PgCopies:
    """The Backups port (bot/services/repos.py) on PostgreSQL: pg_dump of the school's schema, checked
    (`dump_sync`); the password goes to the tool in its environment, never on its command line."""

    database_url: str = field(repr=False)
    schema: str
    suffix: str = DUMP_SUFFIX

    def can_copy(self) -> bool:
        return True

    def copy_sync(self, target: Path) -> tuple[int, str | None]:
        """(size, failure or None); a DATABASE_URL the tools cannot use is a failure, not an error."""
        try:
            where = PgTarget.from_url(self.database_url)
        except PgToolError as exc:
            return 0, str(exc)
        return dump_sync(where, self.schema, target)


def aside_schema(schema: str, now: datetime) -> str:
    """Where a restore keeps the schema it replaces: `<schema>_prev_<time>` (within PostgreSQL's 63)."""
    return f"{schema[:40]}_prev_{now.astimezone(UTC).strftime(COPY_STAMP).lower()}"


class PgRestorer:
    """The Restorer port (bot/services/repos.py) on PostgreSQL: the dump replaces the school's schema,
    the previous schema kept in the same database as `<schema>_prev_<time>`; an encrypted copy is
    decrypted into the backups folder. The workers must be stopped (their sessions are counted
    first). A DATABASE_URL the tools cannot use raises PgToolError here, as the restore always did."""

    def __init__(self, database_url: str, schema: str, backup_dir: Path) -> None:
        self.target = PgTarget.from_url(database_url)
        self.schema = schema
        self.backup_dir = backup_dir
        self._store = PgDatabase(database_url, schema=schema)

    def __repr__(self) -> str:
        return f"PgRestorer({self._store!r})"

    @property
    def store(self) -> SqlDatabase:
        return self._store

    def scratch(self, now: datetime) -> Path:
        return self.backup_dir / f".restore-{now.astimezone(UTC).strftime(COPY_STAMP)}{DUMP_SUFFIX}"

    def missing_sync(self, source: Path) -> tuple[list[ReceiptInfo], str | None]:
        try:
            return self._missing(source), None
        except PgToolError as exc:
            raise BackupError(str(exc)) from None

    def _missing(self, source: Path) -> list[ReceiptInfo]:
        sessions = bot_sessions(self.target)
        if sessions:
            # The workers would go on writing into the schema being replaced (and into the restored
            # one under the same name): they must be stopped, as `run` holds off a SQLite restore.
            raise BackupError(startup_text("pg_restore_busy", count=sessions))
        reason = verify_dump(source, self.schema)
        if reason is not None:
            raise BackupError(reason)
        try:
            in_backup = {r.receipt_id for r in dump_receipts(source, self.schema)}
        except PgToolError as exc:
            raise BackupError(startup_text("file_ledger_unreadable", path=source, detail=exc)) from None
        live = live_receipts(self.target, self.schema)
        return [r for r in live if r.receipt_id not in in_backup]

    def replace_sync(self, source: Path, now: datetime) -> str | None:
        try:
            return restore_schema_sync(self.target, self.schema, source, aside_schema(self.schema, now))
        except PgToolError as exc:
            raise BackupError(str(exc)) from None

    def put_back_sync(self, aside: Path | str | None) -> None:
        put_back(self.target, self.schema, None if aside is None else str(aside))

    def carry_set_sync(self, aside: Path | str, receipt_ids: Sequence[str]) -> CarrySet:
        return carry_set(self.target, str(aside), receipt_ids)
