"""The district registry's backup and restore (#27 item 5): `schoolbot district backup` takes it with
the schools' backups, `schoolbot district restore --registry FILE` puts it back.

The registry (storage/district.py: schools, their settings and bot tokens, operators, the district
bot's school choices) is what makes a folder of school stores a district; without its copy the
schools' backups alone cannot be served again. Its copy is kept as a school's is: checked by reading
it back (storage/district_backup.py), 0600, encrypted with BACKUP_PASSPHRASE when it is set (the
registry holds bot tokens), rotated, in `<DISTRICT_DIR>/backups/district-<time>.sqlite3|.pgdump`.

Restore has the guard of a school's restore in the registry's terms: a school's receipts are what a
school's copy must not lose, a district's schools are what a registry's copy must not lose. A copy
that lacks schools the live registry holds is refused, naming them (their stores would be left with
no registry row), unless `--force`; the previous registry is kept aside either way (district.db's
file, or the schema `district_prev_<time>`). The workers must be stopped: on SQLite the schools'
locks are taken (a running worker holds them), on PostgreSQL a restore refuses while any schoolbot
process is connected. A failure at any step puts the previous registry back.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings, startup_text
from bot.services.backup import (
    _STAMP,
    PG_SUFFIX,
    SUFFIX,
    BackupError,
    BackupResult,
    decrypt_sync,
    encrypt_in_place_sync,
    is_encrypted,
    rotate,
)
from storage import district_backup, pg_backup
from storage.district import (
    REGISTRY_SCHEMA,
    SchoolStores,
    SqliteDistrictStore,
    district_store_path,
    registry,
    school_store_path,
)
from storage.lock import DatabaseLock

REGISTRY_PREFIX = "district-"
BACKUPS_FOLDER = "backups"


def registry_backup_dir(district_dir: Path) -> Path:
    """Where the registry's copies go: beside the schools' folders, not inside any school's."""
    return district_dir / BACKUPS_FOLDER


def registry_backup_name(moment: datetime, suffix: str) -> str:
    return f"{REGISTRY_PREFIX}{moment.astimezone(UTC).strftime(_STAMP)}{suffix}"


def _url(settings: Settings) -> str | None:
    return settings.database_url.get_secret_value() if settings.database_url is not None else None


async def take_registry_backup(settings: Settings, now: datetime) -> BackupResult:
    """Copy the registry into its backups folder, checked, encrypted when BACKUP_PASSPHRASE is set,
    rotated (7 daily, 4 weekly, 12 monthly copies, by UTC days)."""
    assert settings.district_dir is not None
    folder = registry_backup_dir(settings.district_dir)
    url = _url(settings)
    if url is not None:
        target = folder / registry_backup_name(now, PG_SUFFIX)
        try:
            where = pg_backup.PgTarget.from_url(url)
        except pg_backup.PgToolError as exc:
            return BackupResult(target, 0, False, str(exc), now)
        size, failure = await asyncio.to_thread(district_backup.dump_registry_sync, where, target)
    else:
        source = district_store_path(settings.district_dir)
        target = folder / registry_backup_name(now, SUFFIX)
        if not source.is_file():
            return BackupResult(target, 0, False, startup_text("file_missing", path=source), now)
        size, failure = await asyncio.to_thread(district_backup.backup_registry_file_sync, source, target)
    if failure is not None:
        return BackupResult(target, 0, False, failure, now)
    secret = settings.backup_passphrase
    if secret is not None:
        target = await asyncio.to_thread(encrypt_in_place_sync, target, secret.get_secret_value())
        size = target.stat().st_size
    removed = tuple(await asyncio.to_thread(rotate, folder, ZoneInfo("UTC")))
    return BackupResult(target, size, True, None, now, removed)


# --- restore ---------------------------------------------------------------------------------------


class RegistryRestoreRefused(BackupError):
    """The live registry holds schools the copy lacks; nothing was changed."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"the live registry holds {len(missing)} schools the backup lacks")
        self.missing = missing


@dataclass(frozen=True)
class RegistryRestored:
    aside: Path | str | None           # the previous registry: a file, or a schema
    schools: tuple[str, ...]           # the restored registry's schools
    lost: tuple[str, ...] = ()         # live schools the copy lacked (only with force)
    no_store: tuple[str, ...] = ()     # restored schools whose store is not there
    live_unreadable: str | None = None  # the previous registry could not be read: nothing compared


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _decrypted(source: Path, into: Path, passphrase: str | None) -> Path:
    """The plain copy to restore from: `source` itself, or decrypted into `into`."""
    if not (is_encrypted(source) or _is_zip(source)):
        return source
    if passphrase is None:
        raise BackupError(f"{source}: копия зашифрована — задайте BACKUP_PASSPHRASE, с которой она сделана")
    return decrypt_sync(source, passphrase, into)


async def restore_registry(
    settings: Settings, source: Path, now: datetime, *, force: bool = False, passphrase: str | None = None,
) -> RegistryRestored:
    assert settings.district_dir is not None
    district_dir = settings.district_dir
    plain_name = f".restore-{now.astimezone(UTC).strftime(_STAMP)}"
    url = _url(settings)
    plain = registry_backup_dir(district_dir) / (plain_name + (SUFFIX if url is None else PG_SUFFIX))
    try:
        if url is None:
            return await _restore_file(district_dir, _decrypted(source, plain, passphrase), now, force)
        return await _restore_pg(settings, url, _decrypted(source, plain, passphrase), now, force)
    except RegistryRestoreRefused:
        raise
    except BackupError as exc:
        # The decrypted file is this command's own scratch copy: the operator is told of the file
        # they named.
        raise BackupError(str(exc).replace(str(plain), str(source))) from None
    finally:
        plain.unlink(missing_ok=True)


def _lost(live: list[str], restored: list[str], force: bool) -> tuple[str, ...]:
    lost = sorted(set(live) - set(restored))
    if lost and not force:
        raise RegistryRestoreRefused(lost)
    return tuple(lost)


async def _no_store(settings: Settings, keys: list[str]) -> tuple[str, ...]:
    assert settings.district_dir is not None
    stores = SchoolStores(settings.district_dir, _url(settings))
    return tuple([key for key in keys if not await stores.exists(key)])


async def _restore_file(district_dir: Path, source: Path, now: datetime, force: bool) -> RegistryRestored:
    reason = await asyncio.to_thread(district_backup.verify_registry_file, source)
    if reason is not None:
        raise BackupError(reason)
    registry_path = district_store_path(district_dir)
    live, unreadable = await asyncio.to_thread(district_backup.live_file_school_keys, registry_path)
    restored = await asyncio.to_thread(district_backup.file_school_keys, source)
    with contextlib.ExitStack() as locks:
        # A running worker holds each school's lock (bot/cli_run.py): taking them all keeps the
        # workers out while the registry's file is swapped (DatabaseBusy names the holder).
        locks.enter_context(DatabaseLock(registry_path, "restore"))
        for key in sorted(set(live) | set(restored)):
            locks.enter_context(DatabaseLock(school_store_path(district_dir, key), "restore"))
        lost = _lost(live, restored, force)
        aside = await asyncio.to_thread(district_backup.restore_registry_file_sync, registry_path, source, now)
        store = SqliteDistrictStore(registry_path)
        try:
            await store.open()  # newer registry migrations applied; a failure puts the previous file back
        except BaseException:
            await store.close()
            await asyncio.to_thread(district_backup.put_back_file, registry_path, aside)
            raise
        await store.close()
    no_store = tuple(key for key in restored if not school_store_path(district_dir, key).exists())
    return RegistryRestored(aside, tuple(restored), lost, no_store, unreadable)


async def _restore_pg(settings: Settings, url: str, source: Path, now: datetime, force: bool) -> RegistryRestored:
    target = pg_backup.PgTarget.from_url(url)

    def check() -> tuple[list[str], list[str]]:
        sessions = pg_backup.bot_sessions(target)
        if sessions:
            raise BackupError(startup_text("pg_restore_busy", count=sessions))
        reason = district_backup.verify_registry_dump(source)
        if reason is not None:
            raise BackupError(reason)
        return district_backup.live_school_keys(target), district_backup.dump_school_keys(source)

    try:
        live, restored = await asyncio.to_thread(check)
    except pg_backup.PgToolError as exc:
        raise BackupError(str(exc)) from None
    lost = _lost(live, restored, force)
    aside = f"{REGISTRY_SCHEMA}_prev_{now.astimezone(UTC).strftime(_STAMP).lower()}"
    try:
        kept = await asyncio.to_thread(district_backup.restore_registry_schema_sync, target, source, aside)
    except pg_backup.PgToolError as exc:
        raise BackupError(str(exc)) from None
    store = registry(settings.district_dir or Path(), url)
    try:
        await store.open()  # newer registry migrations applied; a failure puts the previous schema back
    except BaseException:
        await store.close()
        await asyncio.to_thread(pg_backup.put_back, target, REGISTRY_SCHEMA, kept)
        raise
    await store.close()
    return RegistryRestored(kept, tuple(restored), lost, await _no_store(settings, restored))

