"""Backups of the bot's own database: take, verify, rotate, restore.

On PostgreSQL (DATABASE_URL, #27 item 5) a backup is `pg_dump` of the school's schema in its custom
format (storage/pg_backup.py: one consistent snapshot while the bot writes, checked by reading every
block back with `pg_restore`), named `schoolbot-<time>.pgdump` and kept, encrypted, rotated and
restored as the SQLite copy is; what follows describes the SQLite copy.

A backup is made with SQLite's online backup API on a separate connection to the same file, in a
worker thread: the copy is one consistent snapshot (the whole copy is one step, so it holds one
read transaction), and because the database runs in WAL mode the bot keeps writing meanwhile.
The copy is switched to rollback-journal mode so it is one self-contained file, checked with
`PRAGMA integrity_check`, and only then renamed into place (mode 0600: it holds phone numbers).

Restore refuses anything that is not a healthy schoolbot database (integrity, user_version within
the migrations this build knows, the foundation tables present) and moves the current database
aside to a timestamped name first, so a restore can itself be undone.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pyzipper

from bot.domain.ops import COPY_STAMP, DUMP_SUFFIX, SQLITE_SUFFIX, DbBackup
from bot.domain.ops import BackupError as BackupError  # re-exported: callers import it from here
from bot.paths import private_file
from bot.services.access_log import AccessKind, AccessLog
from bot.services.repos import Backups, OpsRecords

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig, Settings
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

PREFIX = "schoolbot-"
SUFFIX = SQLITE_SUFFIX
PG_SUFFIX = DUMP_SUFFIX
# `district-…`: the district registry's copies (bot/district/registry_backup.py), in a folder of their own.
_NAME = re.compile(r"^(?:schoolbot|district)-(\d{8}T\d{6}Z)\.(?:sqlite3|pgdump)(\.zip)?$")
# With BACKUP_PASSPHRASE set, each nightly copy is kept as `<name>.zip`: the same AES-256 ZIP as the
# off-site copy (7-Zip and WinZip open it; `schoolbot restore` reads it with the passphrase).
ENCRYPTED = ".zip"
_STAMP = COPY_STAMP

DEFAULT_KEEP = (7, 4, 12)  # daily, weekly, monthly


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    ok: bool
    detail: str | None
    taken_at: datetime
    removed: tuple[Path, ...] = ()


def backup_name(moment: datetime, suffix: str = SUFFIX) -> str:
    return f"{PREFIX}{moment.astimezone(UTC).strftime(_STAMP)}{suffix}"


def is_encrypted(path: Path) -> bool:
    return path.name.endswith((SUFFIX + ENCRYPTED, PG_SUFFIX + ENCRYPTED))


def stamp_of(path: Path) -> datetime | None:
    match = _NAME.match(path.name)
    if not match:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


# --- what /backup tells and sends ---------------------------------------------------------------

# Shorter passphrases are refused: the archive leaves the school's server through a foreign
# messenger, and an offline guess at a short one is cheap.
MIN_PASSPHRASE = 12


@dataclass(frozen=True)
class BackupStatus:
    folder: Path
    copies: int
    latest: Path | None
    latest_at: datetime | None
    latest_size: int
    last_run: DbBackup | None        # the newest attempt, failed or not
    passphrase: str | None               # None: off-site copies through the bot are off


def _scan(folder: Path) -> tuple[Path, list[tuple[Path, datetime]], int]:
    items = list_backups(folder)
    return folder.resolve(), items, items[-1][0].stat().st_size if items else 0


def encrypted_archive_sync(source: Path, passphrase: str) -> bytes:
    """`source` in a ZIP encrypted with AES-256 (WinZip AE-2: 7-Zip, WinZip, The Unarchiver and
    `7z x` open it). Built in memory: the archive is never written next to the local copies, and
    the passphrase goes nowhere but into the key derivation. Blocking: run it in a thread."""
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(passphrase.encode("utf-8"))
        zf.setencryption(pyzipper.WZ_AES, nbits=256)
        zf.write(source, arcname=source.name)
    return buffer.getvalue()


def encrypt_in_place_sync(plain: Path, passphrase: str) -> Path:
    """Replace the verified copy `plain` by `<plain>.zip`, encrypted as the off-site copy is; the
    plain file exists only between the copy's integrity check and this (0600, in the 0700 folder).
    Blocking: run it in a thread."""
    target = plain.with_name(plain.name + ENCRYPTED)
    part = target.with_name(target.name + ".part")
    private_file(part)
    part.write_bytes(encrypted_archive_sync(plain, passphrase))
    os.replace(part, target)
    plain.unlink()
    return target


def decrypt_sync(archive: Path, passphrase: str, into: Path) -> Path:
    """The database inside an encrypted backup, written to the new file `into` (0600). BackupError
    with the reason (in Russian, for the operator) when it cannot be read."""
    try:
        with pyzipper.AESZipFile(archive) as zf:
            zf.setpassword(passphrase.encode("utf-8"))
            names = [n for n in zf.namelist() if n.endswith((SUFFIX, PG_SUFFIX))]
            if len(names) != 1:
                raise BackupError(f"{archive}: в архиве нет копии базы schoolbot (*.sqlite3 или *.pgdump)")
            data = zf.read(names[0])
    except RuntimeError as exc:  # pyzipper: a wrong or missing password
        raise BackupError(f"{archive}: не удалось расшифровать: неверная парольная фраза ({exc})") from None
    except (pyzipper.BadZipFile, OSError) as exc:
        raise BackupError(f"{archive}: не архив резервной копии: {exc}") from None
    private_file(into)
    into.write_bytes(data)
    return into


class ArchiveRefused(Exception):
    """Carries a catalog key for the IT officer."""


# --- rotation --------------------------------------------------------------------------------


def select_keep(
    items: Iterable[tuple[Path, datetime]], tz: ZoneInfo, *, daily: int = 7, weekly: int = 4, monthly: int = 12
) -> set[Path]:
    """Grandfather-father-son: the newest copy of each of the last `daily` days that have one, of
    the last `weekly` ISO weeks and of the last `monthly` months (school-local calendar). The newest
    copy overall is always kept."""
    ordered = sorted(items, key=lambda item: item[1], reverse=True)
    keep: set[Path] = set()
    if ordered:
        keep.add(ordered[0][0])
    for limit, bucket in (
        (daily, lambda d: d.date().isoformat()),
        (weekly, lambda d: "{}-W{:02d}".format(*d.isocalendar()[:2])),
        (monthly, lambda d: f"{d.year}-{d.month:02d}"),
    ):
        seen: set[str] = set()
        for path, moment in ordered:
            if len(seen) >= limit:
                break
            key = bucket(moment.astimezone(tz))
            if key not in seen:
                seen.add(key)
                keep.add(path)
    return keep


def list_backups(folder: Path) -> list[tuple[Path, datetime]]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        moment = stamp_of(path)
        if moment is not None and path.is_file():
            found.append((path, moment))
    return sorted(found, key=lambda item: item[1])


def rotate(folder: Path, tz: ZoneInfo, keep: tuple[int, int, int] = DEFAULT_KEEP) -> list[Path]:
    """Delete the copies the rotation does not keep; returns what was deleted."""
    items = list_backups(folder)
    kept = select_keep(items, tz, daily=keep[0], weekly=keep[1], monthly=keep[2])
    removed = []
    for path, _ in items:
        if path not in kept:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def expired(folder: Path, now: datetime, days: int) -> list[Path]:
    """Copies taken more than `days` days before `now`: past the retention term (#24), they still
    hold the data of people purged since, so they go too (bot/services/retention.py)."""
    cutoff = now - timedelta(days=days)
    return [path for path, moment in list_backups(folder) if moment < cutoff]


def latest_backup(folder: Path) -> Path | None:
    items = list_backups(folder)
    return items[-1][0] if items else None


# --- journal backups to external media (plan item 16) ------------------------------------------

MAX_LABEL = 200


def journal_done_data(year: int, quarter: int) -> str:
    """callback_data of the "Done" button under a nudge: the packed form of handlers.status.JournalDone
    (the sweep builds it without importing handlers; a test checks both agree)."""
    return f"jbk:{year}:{quarter}"


class JournalError(Exception):
    """Carries a catalog key for the user."""


@dataclass(kw_only=True, eq=False)
class BackupService:
    """Backups of the bot's own database (verified, rotated, optionally encrypted off-site)."""

    access_log: AccessLog
    # The live database's copy (#27 item 5): SQLite's file, or pg_dump of the schema settings name.
    backups: Backups
    clock: Clock
    db: UnitOfWork
    ops_repo: OpsRecords
    school: SchoolConfig
    settings: Settings


    # --- taking a backup -------------------------------------------------------------------------
    def can_back_up(self) -> bool:
        """False for an in-memory database (tests, benchmarks): there is nothing to copy."""
        return self.backups.can_copy()

    async def _copy(self, now: datetime) -> tuple[Path, int, str | None]:
        """The live database copied into settings.backup_dir and checked: (file, size, failure)."""
        if not self.backups.can_copy():
            raise BackupError("an in-memory database cannot be backed up")
        target = Path(self.settings.backup_dir) / backup_name(now, self.backups.suffix)
        size, failure = await asyncio.to_thread(self.backups.copy_sync, target)
        return target, size, failure

    async def take_backup(self, *, rotate_after: bool = True) -> BackupResult:
        """Back up the live database into settings.backup_dir, record it, rotate old copies."""
        now = self.clock.now()
        target, size, failure = await self._copy(now)
        secret = self.settings.backup_passphrase
        if failure is None and secret is not None:
            # At rest (#24 item 9): the copy is kept encrypted when the school set a passphrase.
            target = await asyncio.to_thread(encrypt_in_place_sync, target, secret.get_secret_value())
            size = target.stat().st_size
        local_day = now.astimezone(self.school.tz).date().isoformat()
        await self.ops_repo.record_db_backup(
            path=str(target), size_bytes=size, ok=failure is None, detail=failure, local_day=local_day, now=now
        )
        removed: tuple[Path, ...] = ()
        if failure is None and rotate_after:
            removed = tuple(await asyncio.to_thread(rotate, Path(self.settings.backup_dir), self.school.tz))
        if failure is None:
            log.info("database backup %s (%d bytes)", target.name, size)
        else:
            log.error("database backup failed: %s", failure)
        return BackupResult(target, size, failure is None, failure, now, removed)

    async def backup_status(self) -> BackupStatus:
        folder, items, size = await asyncio.to_thread(_scan, Path(self.settings.backup_dir))
        latest, moment = items[-1] if items else (None, None)
        secret = self.settings.backup_passphrase
        return BackupStatus(
            folder, len(items), latest, moment, size, await self.ops_repo.last_db_backup(),
            secret.get_secret_value() if secret is not None else None,
        )

    async def encrypted_archive(self) -> tuple[bytes, str, datetime | None]:
        """The newest verified local copy as an encrypted archive: (bytes, file name, when taken)."""
        status = await self.backup_status()
        if status.passphrase is None:
            raise ArchiveRefused("status.db.offsite_off")
        if len(status.passphrase) < MIN_PASSPHRASE:
            raise ArchiveRefused("status.db.offsite_weak")
        if status.latest is None:
            raise ArchiveRefused("status.db.archive_none")
        await self.access_log.record(AccessKind.BACKUP_EXPORT, status.latest.name)
        if is_encrypted(status.latest):
            # Kept encrypted already, with the same passphrase and format: sent as it is.
            data = await asyncio.to_thread(status.latest.read_bytes)
            return data, status.latest.name, status.latest_at
        data = await asyncio.to_thread(encrypted_archive_sync, status.latest, status.passphrase)
        return data, status.latest.name + ENCRYPTED, status.latest_at

    async def log_journal(self, *, quarter: int, label: str, person_id: int | None) -> int:
        """Record a journal backup for `quarter` of the running school year; returns its id."""
        label = " ".join(label.split())
        if not label or len(label) > MAX_LABEL:
            raise JournalError("status.journal.label_too_long")
        if not 1 <= quarter <= len(self.school.school_year.quarters):
            raise JournalError("status.journal.no_quarter")
        async with self.db.transaction() as conn:
            return await self.ops_repo.log_journal_backup(
                conn,
                school_year=self.school.school_year.year,
                quarter=quarter,
                medium_label=label,
                logged_by=person_id,
                now=self.clock.now(),
            )

    async def attach_photo(self, backup_id: int, file_id: str) -> None:
        async with self.db.transaction() as conn:
            await self.ops_repo.attach_journal_photo(conn, backup_id, file_id)
