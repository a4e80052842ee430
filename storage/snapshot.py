"""SQLite file mechanics for backups: a consistent online copy, the check that a file is a healthy
schoolbot database, and a restore that swaps the file (the Backups and Restorer ports of
bot/services/repos.py on SQLite). Blocking: callers run these in a thread."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.config import startup_text
from bot.domain.ops import COPY_STAMP, SQLITE_SUFFIX, BackupError
from bot.domain.ops import CarrySet as CarrySet  # re-exported: callers import them from here
from bot.domain.ops import ReceiptInfo as ReceiptInfo
from bot.paths import private_file as private_file
from storage.db import Database, migrations
from storage.sql import SqlDatabase

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


# --- restore ---------------------------------------------------------------------------------


def restore_sync(db_path: Path, source: Path, now: datetime) -> Path | None:
    """Replace the database at `db_path` with `source`. The bot must be stopped. Returns where the
    previous database was moved (None if there was none). Raises BackupError and changes nothing
    when `source` is not a healthy schoolbot database."""
    reason = verify_file(source)
    if reason is not None:
        raise BackupError(reason)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    part = db_path.with_name(db_path.name + ".restore-part")
    private_file(part)
    shutil.copyfile(source, part)
    os.chmod(part, 0o600)
    aside: Path | None = None
    if db_path.exists():
        aside = db_path.with_name(f"{db_path.name}.before-restore-{now.astimezone(UTC).strftime(COPY_STAMP)}")
        os.replace(db_path, aside)
    # The old WAL belongs to the old file: it moves along so the aside copy stays complete, and it
    # must not be replayed into the restored one.
    for ext in ("-wal", "-shm"):
        side = Path(str(db_path) + ext)
        if side.exists():
            if aside is not None:
                os.replace(side, Path(str(aside) + ext))
            else:
                side.unlink()
    os.replace(part, db_path)
    return aside


class SqliteRestorer:
    """The Restorer port (bot/services/repos.py) on SQLite: the copy replaces the database file, the
    previous file (and its WAL) kept beside it as `<file>.before-restore-<time>`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store = Database(path)

    @property
    def store(self) -> SqlDatabase:
        return self._store

    def scratch(self, now: datetime) -> Path:
        return self.path.with_name(self.path.name + ".restore-plain")

    def missing_sync(self, source: Path) -> tuple[list[ReceiptInfo], str | None]:
        reason = verify_file(source)
        if reason is not None:
            raise BackupError(reason)
        try:
            in_backup = {r.receipt_id for r in ledger_receipts(source, immutable=True)}
        except sqlite3.Error as exc:
            raise BackupError(startup_text("file_ledger_unreadable", path=source, detail=exc)) from None
        if not self.path.exists():
            return [], None
        try:
            live = ledger_receipts(self.path, immutable=False)
        except sqlite3.Error as exc:
            return [], str(exc)
        return [r for r in live if r.receipt_id not in in_backup], None

    def replace_sync(self, source: Path, now: datetime) -> Path | None:
        return restore_sync(self.path, source, now)

    def put_back_sync(self, aside: Path | str | None) -> None:
        if aside is None:
            return
        aside = Path(aside)
        os.replace(aside, self.path)
        for ext in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(Path(str(aside) + ext), Path(str(self.path) + ext))

    def carry_set_sync(self, aside: Path | str, receipt_ids: Sequence[str]) -> CarrySet:
        return carry_set(Path(aside), receipt_ids)
