"""Restoring the bot's database from a backup, and the restore command (stop the bot first).

SQLite: the backup file replaces the database file, the previous one is kept beside it. PostgreSQL
(DATABASE_URL, #27 item 5): the dump replaces the school's schema, the previous schema is kept in
the same database under another name (`<schema>_prev_<time>`). Either way the consent receipts of the
live database and the backup are compared first, with the same guard (refuse, --carry-over, --force).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings, load_settings, startup_text
from bot.i18n import Catalog, Translator
from bot.services.access_log import CLI, AccessKind
from bot.services.backup import _STAMP, BackupError, decrypt_sync, is_encrypted
from storage import consent as consent_repo
from storage import pg_backup
from storage.access_log import AccessLogRepo
from storage.backend import make_database
from storage.consent import ConsentRepo
from storage.db import DRIVER_ERRORS, Database
from storage.lock import DatabaseLock
from storage.snapshot import ReceiptInfo, carry_set, ledger_receipts, private_file, verify_file

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
    aside: Path | str | None                # where the previous database was kept (a file; a schema)
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
    except DRIVER_ERRORS as exc:
        raise BackupError(startup_text("file_ledger_unreadable", path=source, detail=exc)) from None
    if not db_path.exists():
        return [], None
    try:
        live = ledger_receipts(db_path, immutable=False)
    except DRIVER_ERRORS as exc:
        return [], str(exc)
    return [r for r in live if r.receipt_id not in in_backup], None


def _put_back(db_path: Path, aside: Path | None) -> None:
    if aside is None:
        return
    os.replace(aside, db_path)
    for ext in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(Path(str(aside) + ext), Path(str(db_path) + ext))


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


async def restore(
    db_path: Path, source: Path, now: datetime, *, carry_over: bool = False, force: bool = False,
    passphrase: str | None = None,
) -> RestoreOutcome:
    """An encrypted backup (BACKUP_PASSPHRASE set when it was taken) is decrypted first, with
    `passphrase`, into a private file next to the database that is removed afterwards."""
    if not (is_encrypted(source) or _is_zip(source)):
        return await _restore_plain(db_path, source, now, carry_over=carry_over, force=force, name=source.name)
    if passphrase is None:
        raise BackupError(f"{source}: копия зашифрована — задайте BACKUP_PASSPHRASE, с которой она сделана")
    plain = db_path.with_name(db_path.name + ".restore-plain")
    try:
        await asyncio.to_thread(decrypt_sync, source, passphrase, plain)
        return await _restore_plain(db_path, plain, now, carry_over=carry_over, force=force, name=source.name)
    except (RestoreRefused, CarryOverFailed):
        raise
    except BackupError as exc:
        raise _naming(exc, plain, source) from None
    finally:
        plain.unlink(missing_ok=True)


def _naming(exc: BackupError, plain: Path, source: Path) -> BackupError:
    """The refusal of a decrypted backup names the file the operator gave, not this command's scratch
    copy of its contents."""
    return BackupError(str(exc).replace(str(plain), str(source)))


async def _restore_plain(
    db_path: Path, source: Path, now: datetime, *, carry_over: bool, force: bool, name: str
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
                carried = await ConsentRepo.carry_over(conn, carry)
        # Who looked (#24 item 5): the restored database records that it was restored, from which copy.
        async with db.transaction() as conn:
            await AccessLogRepo.append(
                conn, at=now, actor=None, channel=CLI.channel, kind=AccessKind.BACKUP_RESTORE, object_id=name
            )
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


# --- PostgreSQL -----------------------------------------------------------------------------------


def aside_schema(schema: str, now: datetime) -> str:
    """Where a restore keeps the schema it replaces: `<schema>_prev_<time>` (within PostgreSQL's 63)."""
    return f"{schema[:40]}_prev_{now.astimezone(UTC).strftime(_STAMP).lower()}"


def _pg_missing(target: pg_backup.PgTarget, schema: str, source: Path) -> list[ReceiptInfo]:
    sessions = pg_backup.bot_sessions(target)
    if sessions:
        # The workers would go on writing into the schema being replaced (and into the restored one
        # under the same name): they must be stopped, as `run` holds off a SQLite restore.
        raise BackupError(startup_text("pg_restore_busy", count=sessions))
    reason = pg_backup.verify_dump(source, schema)
    if reason is not None:
        raise BackupError(reason)
    try:
        in_backup = {r.receipt_id for r in pg_backup.dump_receipts(source, schema)}
    except pg_backup.PgToolError as exc:
        raise BackupError(startup_text("file_ledger_unreadable", path=source, detail=exc)) from None
    live = pg_backup.live_receipts(target, schema)
    return [r for r in live if r.receipt_id not in in_backup]


async def restore_pg(
    settings: Settings, source: Path, now: datetime, *, carry_over: bool = False, force: bool = False,
    passphrase: str | None = None,
) -> RestoreOutcome:
    """Replace the school's schema (DATABASE_SCHEMA) by the dump `source`, with the receipts guard
    of the SQLite restore. The workers must be stopped. Nothing changes on a refusal or a failure."""
    url = settings.database_url
    assert url is not None
    target = pg_backup.PgTarget.from_url(url.get_secret_value())
    schema = settings.database_schema
    plain = source
    if is_encrypted(source) or _is_zip(source):
        if passphrase is None:
            raise BackupError(f"{source}: копия зашифрована — задайте BACKUP_PASSPHRASE, с которой она сделана")
        plain = Path(settings.backup_dir) / f".restore-{now.astimezone(UTC).strftime(_STAMP)}{pg_backup.DUMP_SUFFIX}"
        await asyncio.to_thread(decrypt_sync, source, passphrase, plain)
    try:
        try:
            missing = await asyncio.to_thread(_pg_missing, target, schema, plain)
        except pg_backup.PgToolError as exc:
            raise _naming(BackupError(str(exc)), plain, source) from None
        except BackupError as exc:
            raise _naming(exc, plain, source) from None
        if missing and not (carry_over or force):
            raise RestoreRefused(missing)
        aside = aside_schema(schema, now)
        try:
            kept = await asyncio.to_thread(pg_backup.restore_schema_sync, target, schema, plain, aside)
        except pg_backup.PgToolError as exc:
            raise _naming(BackupError(str(exc)), plain, source) from None
    finally:
        if plain != source:
            plain.unlink(missing_ok=True)
    # Opening applies any newer migrations to the restored schema; if that or the carry-over fails,
    # the previous schema is put back: nothing half-done.
    db = make_database(settings)
    carried: list[str] = []
    try:
        await db.open()
        if missing and carry_over and kept is not None:
            carry = await asyncio.to_thread(pg_backup.carry_set, target, kept, [r.receipt_id for r in missing])
            async with db.transaction() as conn:
                carried = await ConsentRepo.carry_over(conn, carry)
        async with db.transaction() as conn:
            await AccessLogRepo.append(
                conn, at=now, actor=None, channel=CLI.channel, kind=AccessKind.BACKUP_RESTORE, object_id=source.name
            )
    except consent_repo.CarryOverError as exc:
        await db.close()
        await asyncio.to_thread(pg_backup.put_back, target, schema, kept)
        raise CarryOverFailed(exc) from None
    except BaseException:
        await db.close()
        await asyncio.to_thread(pg_backup.put_back, target, schema, kept)
        raise
    finally:
        await db.close()
    lost = () if carry_over else tuple(missing)
    return RestoreOutcome(kept, tuple(carried), lost, None)


# --- the restore command ----------------------------------------------------------------------


def _receipt_line(t: Translator, r: ReceiptInfo) -> str:
    return t("ledger.restore.receipt_line", receipt=r.receipt_id, decision=t(f"ledger.decision.{r.decision}"),
             version=r.version, when=r.created_at[:19].replace("T", " ") + " UTC")


async def cmd_restore(args: argparse.Namespace) -> int:
    # Not run through the app: the current database may be the broken thing being replaced, and
    # it must not be open while its file is swapped. The lock keeps a running bot (and imports) out.
    return await restore_command(load_settings(), args, Catalog.load().bind("ru"))


async def restore_command(settings: Settings, args: argparse.Namespace, t: Translator) -> int:
    """`schoolbot restore` on these settings' database (a district school's: bot/cli_district_backup.py)."""
    source = Path(args.file)
    passphrase = secret.get_secret_value() if (secret := settings.backup_passphrase) is not None else None
    with DatabaseLock(settings.database_path, "restore"):
        try:
            if settings.database_url is not None:
                outcome = await restore_pg(
                    settings, source, datetime.now(UTC), carry_over=args.carry_over, force=args.force,
                    passphrase=passphrase,
                )
            else:
                outcome = await restore(
                    Path(settings.database_path), source, datetime.now(UTC), carry_over=args.carry_over,
                    force=args.force, passphrase=passphrase,
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
    if isinstance(outcome.aside, str):
        print(t("ledger.restore.aside_schema", aside=outcome.aside))
    elif outcome.aside is not None:
        print(t("ledger.restore.aside", aside=outcome.aside))
    if settings.database_url is not None:
        print(t("ledger.restore.done_schema", file=source, schema=settings.database_schema))
    else:
        print(t("ledger.restore.done", file=source, db=settings.database_path))
    return 0


