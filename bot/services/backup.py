"""Backups of the bot's own SQLite database: take, verify, rotate, restore.

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

import argparse
import asyncio
import contextlib
import io
import logging
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pyzipper

from bot.config import load_settings
from bot.i18n import Catalog, Translator
from storage import consent as consent_repo
from storage import ops
from storage.db import Database
from storage.lock import DatabaseLock
from storage.snapshot import ReceiptInfo, backup_sync, carry_set, ledger_receipts, private_file, verify_file

if TYPE_CHECKING:
    from bot.services.core import Core

log = logging.getLogger(__name__)

PREFIX = "schoolbot-"
SUFFIX = ".sqlite3"
_NAME = re.compile(r"^schoolbot-(\d{8}T\d{6}Z)\.sqlite3$")
_STAMP = "%Y%m%dT%H%M%SZ"

DEFAULT_KEEP = (7, 4, 12)  # daily, weekly, monthly


class BackupError(Exception):
    """The message is meant for the operator."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    ok: bool
    detail: str | None
    taken_at: datetime
    removed: tuple[Path, ...] = ()


def backup_name(moment: datetime) -> str:
    return f"{PREFIX}{moment.astimezone(UTC).strftime(_STAMP)}{SUFFIX}"


def stamp_of(path: Path) -> datetime | None:
    match = _NAME.match(path.name)
    if not match:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


# --- taking a backup -------------------------------------------------------------------------


async def take_backup(app: Core, *, rotate_after: bool = True) -> BackupResult:
    """Back up the live database into settings.backup_dir, record it, rotate old copies."""
    now = app.clock.now()
    source = app.db.path
    target = Path(app.settings.backup_dir) / backup_name(now)
    if str(source) == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    size, failure = await asyncio.to_thread(backup_sync, source, target)
    local_day = now.astimezone(app.school.tz).date().isoformat()
    await ops.record_db_backup(
        app.db, path=str(target), size_bytes=size, ok=failure is None, detail=failure, local_day=local_day, now=now
    )
    removed: tuple[Path, ...] = ()
    if failure is None and rotate_after:
        removed = tuple(await asyncio.to_thread(rotate, Path(app.settings.backup_dir), app.school.tz))
    if failure is None:
        log.info("database backup %s (%d bytes)", target.name, size)
    else:
        log.error("database backup failed: %s", failure)
    return BackupResult(target, size, failure is None, failure, now, removed)


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
    last_run: ops.DbBackup | None        # the newest attempt, failed or not
    passphrase: str | None               # None: off-site copies through the bot are off


def _scan(folder: Path) -> tuple[Path, list[tuple[Path, datetime]], int]:
    items = list_backups(folder)
    return folder.resolve(), items, items[-1][0].stat().st_size if items else 0


async def backup_status(app: Core) -> BackupStatus:
    folder, items, size = await asyncio.to_thread(_scan, Path(app.settings.backup_dir))
    latest, moment = items[-1] if items else (None, None)
    secret = app.settings.backup_passphrase
    return BackupStatus(
        folder, len(items), latest, moment, size, await ops.last_db_backup(app.db),
        secret.get_secret_value() if secret is not None else None,
    )


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


class ArchiveRefused(Exception):
    """Carries a catalog key for the IT officer."""


async def encrypted_archive(app: Core) -> tuple[bytes, str, datetime | None]:
    """The newest verified local copy as an encrypted archive: (bytes, file name, when taken)."""
    status = await backup_status(app)
    if status.passphrase is None:
        raise ArchiveRefused("status.db.offsite_off")
    if len(status.passphrase) < MIN_PASSPHRASE:
        raise ArchiveRefused("status.db.offsite_weak")
    if status.latest is None:
        raise ArchiveRefused("status.db.archive_none")
    data = await asyncio.to_thread(encrypted_archive_sync, status.latest, status.passphrase)
    return data, status.latest.name + ".zip", status.latest_at


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


def latest_backup(folder: Path) -> Path | None:
    items = list_backups(folder)
    return items[-1][0] if items else None


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
        aside = db_path.with_name(f"{db_path.name}.before-restore-{now.astimezone(UTC).strftime(_STAMP)}")
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


@dataclass(frozen=True)
class RestoreOutcome:
    aside: Path | None                      # where the previous database was kept
    carried: tuple[str, ...] = ()           # receipts re-appended to the restored ledger
    lost: tuple[ReceiptInfo, ...] = ()      # receipts the restored ledger lacks (only with force)
    live_unreadable: str | None = None      # the previous database could not be compared


class RestoreRefused(BackupError):
    """The live ledger holds receipts the backup lacks; nothing was changed."""

    def __init__(self, missing: list[ReceiptInfo]) -> None:
        super().__init__(f"the live consent ledger holds {len(missing)} receipts the backup lacks")
        self.missing = missing


class CarryOverFailed(BackupError):
    """Re-appending the missing receipts failed; the previous database was put back."""

    def __init__(self, error: consent_repo.CarryOverError) -> None:
        super().__init__(str(error))
        self.error = error


def _missing_receipts(db_path: Path, source: Path) -> tuple[list[ReceiptInfo], str | None]:
    """Receipts of the live database that the backup lacks (oldest first), or why the live
    database could not be read."""
    reason = verify_file(source)
    if reason is not None:
        raise BackupError(reason)
    try:
        in_backup = {r.receipt_id for r in ledger_receipts(source, immutable=True)}
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: cannot read its consent ledger: {exc}") from None
    if not db_path.exists():
        return [], None
    try:
        live = ledger_receipts(db_path, immutable=False)
    except sqlite3.Error as exc:
        return [], str(exc)
    return [r for r in live if r.receipt_id not in in_backup], None


def _put_back(db_path: Path, aside: Path | None) -> None:
    if aside is None:
        return
    os.replace(aside, db_path)
    for ext in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(Path(str(aside) + ext), Path(str(db_path) + ext))


async def restore(
    db_path: Path, source: Path, now: datetime, *, carry_over: bool = False, force: bool = False
) -> RestoreOutcome:
    """Replace the database at `db_path` with the backup `source` (the caller holds the database
    lock). Refuses (RestoreRefused, nothing changed) while the live consent ledger holds receipts
    the backup lacks, unless `carry_over` (they are re-appended to the restored ledger, chained) or
    `force` (they are reported lost; the previous database is kept aside either way)."""
    missing, unreadable = await asyncio.to_thread(_missing_receipts, db_path, source)
    if missing and not (carry_over or force):
        raise RestoreRefused(missing)
    aside = await asyncio.to_thread(restore_sync, db_path, source, now)
    # Opening applies any newer migrations; if that or the carry-over fails, put the previous
    # database back: nothing half-done.
    db = Database(db_path)
    carried: list[str] = []
    try:
        await db.open()
        if missing and carry_over and aside is not None:
            carry = await asyncio.to_thread(carry_set, aside, [r.receipt_id for r in missing])
            async with db.transaction() as conn:
                carried = await consent_repo.carry_over(conn, carry)
    except consent_repo.CarryOverError as exc:
        await db.close()
        _put_back(db_path, aside)
        raise CarryOverFailed(exc) from None
    except Exception:
        await db.close()
        _put_back(db_path, aside)
        raise
    finally:
        await db.close()
    lost = () if carry_over else tuple(missing)
    return RestoreOutcome(aside, tuple(carried), lost, unreadable)


# --- the restore command ----------------------------------------------------------------------


def _receipt_line(t: Translator, r: ReceiptInfo) -> str:
    return t("ledger.restore.receipt_line", receipt=r.receipt_id, decision=t(f"ledger.decision.{r.decision}"),
             version=r.version, when=r.created_at[:19].replace("T", " ") + " UTC")


async def cmd_restore(args: argparse.Namespace) -> int:
    # Not run through the app: the current database may be the broken thing being replaced, and
    # it must not be open while its file is swapped. The lock keeps a running bot (and imports) out.
    settings = load_settings()
    t = Catalog.load().bind("ru")
    source = Path(args.file)
    with DatabaseLock(settings.database_path, "restore"):
        try:
            outcome = await restore(
                Path(settings.database_path), source, datetime.now(UTC), carry_over=args.carry_over, force=args.force
            )
        except RestoreRefused as exc:
            lines = [t.plural("ledger.restore.refused", len(exc.missing), file=source)]
            lines += [_receipt_line(t, r) for r in exc.missing]
            lines.append(t("ledger.restore.offer", file=source))
            print("\n".join(lines), file=sys.stderr)
            return 1
        except CarryOverFailed as exc:
            print(t(f"ledger.restore.carry_failed_{exc.error.what}", key=exc.error.key, name=exc.error.name),
                  file=sys.stderr)
            return 1
        except BackupError as exc:
            print(t("ledger.restore.bad_file", reason=exc), file=sys.stderr)
            return 1
    if outcome.live_unreadable:
        print(t("ledger.restore.live_unreadable", reason=outcome.live_unreadable))
    if outcome.carried:
        print(t.plural("ledger.restore.carried", len(outcome.carried), receipts=", ".join(outcome.carried)))
    if outcome.lost:
        print(t.plural("ledger.restore.lost", len(outcome.lost), aside=outcome.aside))
        for r in outcome.lost:
            print(_receipt_line(t, r))
    if outcome.aside is not None:
        print(t("ledger.restore.aside", aside=outcome.aside))
    print(t("ledger.restore.done", file=source, db=settings.database_path))
    return 0


def register_cli(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    export: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    p = sub.add_parser("restore", help="replace the bot's database with a backup (stop the bot first)")
    p.add_argument("file", help="a backup made by `schoolbot backup` or the nightly backup")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--carry-over", action="store_true",
        help="re-append the consent receipts the backup lacks to the restored ledger (nothing is lost)",
    )
    how.add_argument(
        "--force", action="store_true",
        help="restore even though consent receipts would be lost; lists them and keeps the previous database",
    )
    p.set_defaults(entry=cmd_restore)


# --- journal backups to external media (plan item 16) ------------------------------------------

MAX_LABEL = 200


def journal_done_data(year: int, quarter: int) -> str:
    """callback_data of the "Done" button under a nudge: the packed form of handlers.status.JournalDone
    (the sweep builds it without importing handlers; a test checks both agree)."""
    return f"jbk:{year}:{quarter}"


class JournalError(Exception):
    """Carries a catalog key for the user."""


async def log_journal(app: Core, *, quarter: int, label: str, person_id: int | None) -> int:
    """Record a journal backup for `quarter` of the running school year; returns its id."""
    label = " ".join(label.split())
    if not label or len(label) > MAX_LABEL:
        raise JournalError("status.journal.label_too_long")
    if not 1 <= quarter <= len(app.school.school_year.quarters):
        raise JournalError("status.journal.no_quarter")
    async with app.db.transaction() as conn:
        return await ops.log_journal_backup(
            conn,
            school_year=app.school.school_year.year,
            quarter=quarter,
            medium_label=label,
            logged_by=person_id,
            now=app.clock.now(),
        )


async def attach_photo(app: Core, backup_id: int, file_id: str) -> None:
    async with app.db.transaction() as conn:
        await ops.attach_journal_photo(conn, backup_id, file_id)
