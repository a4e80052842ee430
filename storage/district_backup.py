"""Backups of a district's registry (#27 item 5): the schools, their settings and bot tokens, the
district's operators and the district bot's school choices (storage/district.py). Without it a
district restored from its schools' backups alone would not know its schools.

The registry is backed up as a school's store is, by its own engine's tools: on SQLite `district.db`
copied with SQLite's online backup API (storage/snapshot.py `backup_sync`), on PostgreSQL `pg_dump`
of the `district` schema (storage/pg_backup.py). What differs from a school's store is the check: a
registry has its own tables and its own migrations (`district_migrations`), so a school's backup (or
anything else) is refused as a registry and the other way round. Blocking: callers run these in a
thread.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bot.config import startup_text
from storage import pg_backup
from storage.district import REGISTRY_SCHEMA, district_migrations
from storage.snapshot import backup_sync, private_file

# A file without these is not a district registry, whatever its name.
REGISTRY_TABLES = frozenset({"schools", "operators", "operator_accounts", "school_choices", "district_migrations"})


def newest_registry_migration() -> int:
    return max((n for n, _, _ in district_migrations()), default=0)


def _judge(path: Path, tables: set[str], version: int) -> str | None:
    missing = REGISTRY_TABLES - tables
    if missing or version < 1:
        return startup_text("registry_not_registry", path=path, tables=", ".join(sorted(missing)) or "—")
    newest = newest_registry_migration()
    if version > newest:
        return startup_text("registry_newer", path=path, version=version, newest=newest)
    return None


# --- SQLite: district.db ----------------------------------------------------------------------------


def verify_registry_file(path: Path) -> str | None:
    """None when `path` is a healthy district registry this build can open; else the reason."""
    if not path.is_file():
        return startup_text("file_missing", path=path)
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            return startup_text("file_not_sqlite", path=path)
    try:
        # Read-only and immutable: verifying must never create a journal next to the file.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        return startup_text("file_cannot_open", path=path, detail=exc)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            return startup_text("file_integrity", path=path, detail="; ".join(map(str, result[:3])))
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = 0
        if "district_migrations" in tables:
            version = int(conn.execute("SELECT COALESCE(MAX(number), 0) FROM district_migrations").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return startup_text("file_corrupt", path=path, detail=exc)
    finally:
        conn.close()
    return _judge(path, tables, version)


def file_school_keys(path: Path) -> list[str]:
    """The school keys of a verified registry file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return [str(r[0]) for r in conn.execute("SELECT key FROM schools ORDER BY key")]
    finally:
        conn.close()


def live_file_school_keys(path: Path) -> tuple[list[str], str | None]:
    """The school keys of the live district.db, or why it cannot be read (a damaged registry is what
    a restore is for: it goes on, the file kept aside, and the operator is told nothing was compared)."""
    if not path.exists():
        return [], None
    try:
        return file_school_keys(path), None
    except sqlite3.Error as exc:
        return [], str(exc)


def backup_registry_file_sync(source: Path, target: Path) -> tuple[int, str | None]:
    """Copy district.db into `target` (0600) and check the copy is a registry: (size, failure or None)."""
    size, failure = backup_sync(source, target)
    if failure is None:
        failure = verify_registry_file(target)
        if failure is not None:
            target.unlink(missing_ok=True)
            size = 0
    return size, failure


def restore_registry_file_sync(registry_path: Path, source: Path, now: datetime) -> Path | None:
    """Replace district.db by the verified copy `source`; the previous file is moved aside (returned;
    None when there was none). The caller checked `source` and holds the schools' locks."""
    part = registry_path.with_name(registry_path.name + ".restore-part")
    private_file(part)
    part.write_bytes(source.read_bytes())
    os.chmod(part, 0o600)
    aside: Path | None = None
    if registry_path.exists():
        aside = registry_path.with_name(f"{registry_path.name}.before-restore-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}")
        os.replace(registry_path, aside)
    for ext in ("-wal", "-shm", "-journal"):  # the old file's journal must not be replayed into the new one
        side = Path(str(registry_path) + ext)
        if side.exists():
            if aside is not None:
                os.replace(side, Path(str(aside) + ext))
            else:
                side.unlink()
    os.replace(part, registry_path)
    return aside


def put_back_file(registry_path: Path, aside: Path | None) -> None:
    """Undo `restore_registry_file_sync`: the restored file goes, the previous one takes its place."""
    if aside is None:
        registry_path.unlink(missing_ok=True)
        return
    os.replace(aside, registry_path)


# --- PostgreSQL: the `district` schema ---------------------------------------------------------------


def verify_registry_dump(path: Path, schema: str = REGISTRY_SCHEMA) -> str | None:
    """None when `path` is a complete pg_dump of the district's registry schema; else the reason.
    Every data block is read back, so a truncated file fails; a school's dump is refused."""
    if not path.is_file():
        return startup_text("file_missing", path=path)
    with open(path, "rb") as fh:
        if fh.read(5) != b"PGDMP":
            return startup_text("registry_not_dump", path=path)
    try:
        found = pg_backup.dump_tables(path)
        pg_backup.check_readable(path)
        numbers = pg_backup.table_data(path, schema, "district_migrations") or []
    except pg_backup.PgToolError as exc:
        return str(exc)
    others = sorted({name for name, _ in found} - {schema})
    if others:
        return startup_text("registry_other_schema", path=path, schemas=", ".join(others))
    version = max((int(str(r["number"])) for r in numbers), default=0)
    return _judge(path, {table for _, table in found}, version)


def dump_school_keys(path: Path) -> list[str]:
    return sorted(str(r["key"]) for r in pg_backup.table_data(path, REGISTRY_SCHEMA, "schools") or [])


def live_school_keys(target: pg_backup.PgTarget) -> list[str]:
    """The school keys of the live registry schema (none before it exists)."""
    exists = pg_backup.psql(
        target, f"SELECT 1 FROM pg_tables WHERE schemaname = '{REGISTRY_SCHEMA}' AND tablename = 'schools'",
        what="psql",
    )
    if exists.strip() != "1":
        return []
    out = pg_backup.psql(target, f"SELECT key FROM {REGISTRY_SCHEMA}.schools ORDER BY key", what="psql")
    return [line for line in out.splitlines() if line.strip()]


def dump_registry_sync(target: pg_backup.PgTarget, dest: Path) -> tuple[int, str | None]:
    return pg_backup.dump_sync(target, REGISTRY_SCHEMA, dest, verify=verify_registry_dump)


def restore_registry_schema_sync(target: pg_backup.PgTarget, source: Path, aside: str) -> str | None:
    """Replace the live `district` schema by the dump `source`, the live one kept as `aside`."""
    return pg_backup.restore_schema_sync(target, REGISTRY_SCHEMA, source, aside, verify=verify_registry_dump)
