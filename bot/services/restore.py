"""Restoring the bot's database from a backup (stop the bot first): the receipts guard, the
decryption of an encrypted copy, and nothing half-done.

What a restore does to the store is the Restorer port's (bot/services/repos.py), which bot/core.py
picks by DATABASE_URL: on SQLite the backup file replaces the database file, the previous one kept
beside it (storage.snapshot.SqliteRestorer); on PostgreSQL (#27 item 5) the dump replaces the
school's schema, the previous schema kept in the same database under another name
(`<schema>_prev_<time>`, storage.pg_backup.PgRestorer). Either way the consent receipts of the live
database and the backup are compared first, with the same guard (refuse, --carry-over, --force), and
the restored database records that it was restored. The command that runs it (`schoolbot restore`,
`schoolbot district restore KEY FILE`) is bot/cli_restore.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.domain.ops import CarryOverError, ReceiptInfo
from bot.services.access_log import CLI, AccessKind
from bot.services.backup import BackupError, decrypt_sync, is_encrypted
from bot.services.repos import AccessLogRecords, ConsentLedger, Restorer


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

    def __init__(self, error: CarryOverError) -> None:
        super().__init__(str(error))
        self.error = error


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _naming(exc: BackupError, plain: Path, source: Path) -> BackupError:
    """The refusal of a decrypted backup names the file the operator gave, not this command's scratch
    copy of its contents."""
    return BackupError(str(exc).replace(str(plain), str(source)))


@dataclass(frozen=True, kw_only=True)
class RestoreService:
    """A backup put in place of the live database (the caller holds the database lock), through the
    Restorer bot/core.py picked; the carry-over and the access-log row are written through the
    ledger's and the access log's ports, in the restored database."""

    restorer: Restorer
    ledger: ConsentLedger
    access_log: AccessLogRecords

    async def restore(
        self, source: Path, now: datetime, *, carry_over: bool = False, force: bool = False,
        passphrase: str | None = None,
    ) -> RestoreOutcome:
        """Replace the live database with the backup `source`. Refuses (RestoreRefused, nothing
        changed) while the live consent ledger holds receipts the backup lacks, unless `carry_over`
        (they are re-appended to the restored ledger, chained) or `force` (they are reported lost; the
        previous database is kept aside either way). An encrypted backup (BACKUP_PASSPHRASE set when
        it was taken) is decrypted first, with `passphrase`, into a private scratch file (the
        Restorer's) that is removed afterwards."""
        plain = source
        key: str | None = None
        if is_encrypted(source) or _is_zip(source):
            if passphrase is None:
                raise BackupError(f"{source}: копия зашифрована — задайте BACKUP_PASSPHRASE, с которой она сделана")
            plain, key = self.restorer.scratch(now), passphrase
        try:
            if key is not None:
                await asyncio.to_thread(decrypt_sync, source, key, plain)
            missing, unreadable = await asyncio.to_thread(self.restorer.missing_sync, plain)
            if missing and not (carry_over or force):
                raise RestoreRefused(missing)
            aside = await asyncio.to_thread(self.restorer.replace_sync, plain, now)
        except RestoreRefused:
            raise
        except BackupError as exc:
            raise _naming(exc, plain, source) from None
        finally:
            if plain != source:
                plain.unlink(missing_ok=True)
        # Opening applies any newer migrations; if that or the carry-over fails, the previous
        # database is put back: nothing half-done.
        store = self.restorer.store
        carried: list[str] = []
        try:
            await store.open()
            if missing and carry_over and aside is not None:
                carry = await asyncio.to_thread(self.restorer.carry_set_sync, aside, [r.receipt_id for r in missing])
                async with store.transaction() as tx:
                    carried = await self.ledger.carry_over(tx, carry)
            # Who looked (#24 item 5): the restored database records that it was restored, from which copy.
            async with store.transaction() as tx:
                await self.access_log.append(
                    tx, at=now, actor=None, channel=CLI.channel, kind=AccessKind.BACKUP_RESTORE,
                    object_id=source.name,
                )
        except CarryOverError as exc:
            await store.close()
            await asyncio.to_thread(self.restorer.put_back_sync, aside)
            raise CarryOverFailed(exc) from None
        except BaseException:
            await store.close()
            await asyncio.to_thread(self.restorer.put_back_sync, aside)
            raise
        finally:
            await store.close()
        lost = () if carry_over else tuple(missing)
        return RestoreOutcome(aside, tuple(carried), lost, unreadable)
