"""SQLite file mechanics for backups: a consistent online copy and the check that a file is a
healthy schoolbot database. Blocking: callers run these in a thread."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from storage.db import migrations

# A file without these is not a schoolbot database, whatever its name.
REQUIRED_TABLES = frozenset({"persons", "person_roles", "guardians", "outbox", "fsm", "processed_updates"})


def verify_file(path: Path) -> str | None:
    """None when `path` is a healthy schoolbot database this build can open; else the reason."""
    if not path.is_file():
        return f"{path}: no such file"
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            return f"{path}: not an SQLite database"
    newest = max((n for n, _, _ in migrations()), default=0)
    try:
        # Read-only and immutable: verifying must never create a -wal/-shm next to the file.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        return f"{path}: cannot open: {exc}"
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            return f"{path}: integrity check failed: {'; '.join(map(str, result[:3]))}"
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        return f"{path}: corrupt: {exc}"
    finally:
        conn.close()
    missing = REQUIRED_TABLES - tables
    if version < 1 or missing:
        names = ", ".join(sorted(missing))
        return f"{path}: not a schoolbot database (schema version {version}, missing tables: {names})"
    if version > newest:
        return f"{path}: made by a newer schoolbot (schema version {version}, this one knows {newest})"
    return None


def private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)


def backup_sync(source: Path, target: Path) -> tuple[int, str | None]:
    """Copy `source` into `target` (replaced atomically). Returns (size, failure or None).
    Blocking: run it in a thread."""
    part = target.with_name(target.name + ".part")
    # A copy cut short (the process killed mid-backup) is never renamed into place; drop it here,
    # the only place that writes them (one process owns the database, so none is in progress).
    for stale in target.parent.glob("*.part*"):  # the copy and its rollback journal
        stale.unlink(missing_ok=True)
    private_file(part)
    try:
        src = sqlite3.connect(str(source), timeout=30)
        try:
            dst = sqlite3.connect(str(part))
            try:
                src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
                dst.execute("PRAGMA journal_mode = DELETE")
                result = [r[0] for r in dst.execute("PRAGMA integrity_check").fetchall()]
            finally:
                dst.close()
        finally:
            src.close()
        if result != ["ok"]:
            part.unlink(missing_ok=True)
            return 0, "integrity check: " + "; ".join(map(str, result[:3]))
        os.chmod(part, 0o600)
        os.replace(part, target)
        return target.stat().st_size, None
    except (sqlite3.Error, OSError) as exc:
        part.unlink(missing_ok=True)
        return 0, str(exc)
