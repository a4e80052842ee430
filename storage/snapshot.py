"""SQLite file mechanics for backups: a consistent online copy and the check that a file is a
healthy schoolbot database. Blocking: callers run these in a thread."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import startup_text
from bot.domain.ops import SQLITE_SUFFIX
from bot.paths import private_file as private_file
from storage.db import migrations

# A file without these is not a schoolbot database, whatever its name.
REQUIRED_TABLES = frozenset({"persons", "person_roles", "guardians", "outbox", "fsm", "processed_updates"})


def verify_file(path: Path) -> str | None:
    """None when `path` is a healthy schoolbot database this build can open; else the reason, in the
    operator's words (startup.toml, as every message the operator reads on the console)."""
    if not path.is_file():
        return startup_text("file_missing", path=path)
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            return startup_text("file_not_sqlite", path=path)
    newest = max((n for n, _, _ in migrations()), default=0)
    try:
        # Read-only and immutable: verifying must never create a -wal/-shm next to the file.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        return startup_text("file_cannot_open", path=path, detail=exc)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            return startup_text("file_integrity", path=path, detail="; ".join(map(str, result[:3])))
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        return startup_text("file_corrupt", path=path, detail=exc)
    finally:
        conn.close()
    missing = REQUIRED_TABLES - tables
    if version < 1 or missing:
        names = ", ".join(sorted(missing))
        return startup_text("file_not_schoolbot", path=path, version=version, tables=names)
    if version > newest:
        return startup_text("file_newer", path=path, version=version, newest=newest)
    return None


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


# --- the consent ledger across files (restore compares receipts) --------------------------------


@dataclass(frozen=True)
class ReceiptInfo:
    receipt_id: str
    decision: str
    version: int
    created_at: str


@dataclass
class CarrySet:
    """What re-appending some receipts to another database needs: the ledger rows (in their order)
    and the people and document versions they name, as raw column -> value rows."""

    ledger: list[dict[str, object]] = field(default_factory=list)
    persons: list[dict[str, object]] = field(default_factory=list)
    roles: list[tuple[int, str]] = field(default_factory=list)
    guardians: list[tuple[int, int]] = field(default_factory=list)
    versions: list[dict[str, object]] = field(default_factory=list)


def _open_for_reading(path: Path, *, immutable: bool) -> sqlite3.Connection:
    if immutable:
        return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    # A live database (WAL, maybe left by a crash): a normal connection replays its log. The caller
    # holds the database lock, so nothing else uses the file meanwhile; nothing is written.
    return sqlite3.connect(str(path), timeout=5)


def ledger_receipts(path: Path, *, immutable: bool) -> list[ReceiptInfo]:
    """Every receipt in the file's consent ledger, oldest first (none before the ledger existed).
    Raises sqlite3.Error when the file cannot be read."""
    conn = _open_for_reading(path, immutable=immutable)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'consent_ledger'").fetchone():
            return []
        rows = conn.execute("SELECT receipt_id, decision, version, created_at FROM consent_ledger ORDER BY id")
        return [ReceiptInfo(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]
    finally:
        conn.close()


def carry_set(path: Path, receipt_ids: Sequence[str]) -> CarrySet:
    """The rows of `receipt_ids` in the database at `path`, with the people and versions they name."""
    conn = _open_for_reading(path, immutable=False)
    conn.row_factory = sqlite3.Row
    try:
        out = CarrySet()
        wanted = set(receipt_ids)
        for row in conn.execute("SELECT * FROM consent_ledger ORDER BY id"):
            if row["receipt_id"] in wanted:
                out.ledger.append(dict(row))
        people = sorted({
            int(str(v)) for r in out.ledger for v in (r["parent_id"], r["child_id"], r["recorded_by"])
            if v is not None
        })
        versions = sorted({int(str(r["version"])) for r in out.ledger})
        marks = ",".join("?" * len(people))
        if people:
            out.persons = [dict(r) for r in conn.execute(f"SELECT * FROM persons WHERE id IN ({marks})", people)]
            out.roles = [(int(r[0]), str(r[1])) for r in conn.execute(
                f"SELECT person_id, role FROM person_roles WHERE person_id IN ({marks})", people)]
            out.guardians = [(int(r[0]), int(r[1])) for r in conn.execute(
                f"SELECT parent_id, child_id FROM guardians WHERE parent_id IN ({marks}) OR child_id IN ({marks})",
                people + people)]
        if versions:
            out.versions = [dict(r) for r in conn.execute(
                f"SELECT * FROM consent_versions WHERE number IN ({','.join('?' * len(versions))})", versions)]
        return out
    finally:
        conn.close()


@dataclass(frozen=True)
class SqliteCopies:
    """The Backups port (bot/services/repos.py) on SQLite: the database file copied by SQLite's
    online backup and checked (`backup_sync`). An in-memory database (tests, benchmarks) has nothing
    to copy."""

    path: Path | None
    suffix: str = SQLITE_SUFFIX

    def can_copy(self) -> bool:
        return self.path is not None and str(self.path) != ":memory:"

    def copy_sync(self, target: Path) -> tuple[int, str | None]:
        if self.path is None or str(self.path) == ":memory:":
            raise ValueError("an in-memory database cannot be backed up")
        return backup_sync(self.path, target)
