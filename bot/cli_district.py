"""`schoolbot district …`: a district's schools from the command line (#27 item 5).

- `add-school KEY --title T --config school.toml [--telegram-token-file F] [--max-token-file F]`:
  checks everything first (the key, the title, school.toml through the loader every school uses, the
  tokens), then creates the school's store with every migration, then its registry row; a refusal
  is one Russian message naming the field, and nothing is left half written.
- `list`: the schools, with whether each has its own bots (never a token).
- `import KEY roster|codes|plan FILE`: the one-school importers (bot/cli_app.py `cmd_import`), run on
  the school's own `Core` (bot/district/schools.py), under the school store's lock.
- `admin-token KEY`: a school's first IT officer, as `schoolbot admin-token` makes one.
- `status`: the district's coverage table (bot/services/district.py), counts only.
- `add-operator --full-name N --telegram ID --max ID`: a person of the district role.
- `remove-school KEY [--yes] [--no-backup]`: a school leaves the district: a final backup kept outside
  its folder (unless --no-backup), then its store (schema or file, with its own backups) destroyed
  together with its registry row and the district bot's choices of it. 152-FZ: this destroys the
  personal data the school's store holds, and the command says so before it asks.

Light, like every command that sends nothing: no messenger is loaded (tests/test_cli_light.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.channels import Channel
from bot.cli import cli_lang
from bot.cli_app import cmd_admin_token as admin_token_for
from bot.cli_app import cmd_import as import_into
from bot.clock import SystemClock
from bot.config import Settings, load_settings
from bot.core import Core, SharedContent
from bot.district.schools import (
    add_school,
    district_dir,
    registry_store,
    school_core,
    school_figures,
    school_settings,
    school_stores,
)
from bot.i18n import Catalog, Translator
from bot.services.access_log import CLI, acting_as
from bot.services.district import (
    DistrictError,
    DistrictRegistry,
    DistrictService,
    School,
    check_key,
    check_token,
    render_coverage,
)
from storage import pg_backup
from storage.db import StorageError, private_dir
from storage.district import DistrictStore, school_folder
from storage.lock import DatabaseLock

log = logging.getLogger(__name__)

Command = Callable[[Settings, DistrictStore, DistrictRegistry, argparse.Namespace, Translator], Awaitable[int]]


async def _with_registry(args: argparse.Namespace, command: Command) -> int:
    """Run `command` on the district's registry; a refusal is printed as one line, exit code 2."""
    t = Catalog.load().bind(cli_lang(args))
    settings = load_settings()
    try:
        store = registry_store(settings, t)
        await store.open()
        try:
            registry = DistrictRegistry(records=store, clock=SystemClock())
            return await command(settings, store, registry, args, t)
        finally:
            await store.close()
    except DistrictError as exc:
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2


def _read(path: Path, t: Translator) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = t.os_error(exc) if isinstance(exc, OSError) else str(exc)
        raise DistrictError(t("district.cannot_read", path=path, reason=reason)) from None


def _yes_no(present: object, t: Translator) -> str:
    return t("district.bot_yes") if present else t("district.bot_no")


# --- add-school -------------------------------------------------------------------------------------------
async def cmd_add_school(args: argparse.Namespace) -> int:
    return await _with_registry(args, _add_school)


async def _add_school(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    check_key(args.key, t)  # before any file is read: the first thing a typo gets wrong
    toml_text = _read(args.config, t)
    tokens = {
        name: check_token(_read(path, t), str(path), t) if path is not None else None
        for name, path in (("telegram", args.telegram_token_file), ("max", args.max_token_file))
    }
    new = await registry.check_new_school(
        args.key, args.title, toml_text, str(args.config), t,
        telegram_token=tokens["telegram"], max_token=tokens["max"],
    )
    added = await add_school(settings, registry, new, t)
    print(t("district.added", title=added.school.title, key=added.school.key, store=added.store))
    print(t("district.added_bots", telegram=_yes_no(tokens["telegram"], t), max=_yes_no(tokens["max"], t)))
    print(t("district.added_next", key=added.school.key))
    return 0


# --- list ---------------------------------------------------------------------------------------------------
async def cmd_list(args: argparse.Namespace) -> int:
    return await _with_registry(args, _list)


async def _list(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    schools = await registry.schools()
    if not schools:
        print(t("district.list_empty"))
        return 0
    print(t("district.list_title"))
    for school in schools:
        print(t("district.list_row", key=school.key, title=school.title,
                telegram=_yes_no(school.telegram_token, t), max=_yes_no(school.max_token, t)))
    return 0


async def _school(registry: DistrictRegistry, key: str, t: Translator) -> School:
    schools = {s.key: s for s in await registry.schools()}
    if key not in schools:
        known = ", ".join(schools) or t("district.nothing_known")
        raise DistrictError(t("district.unknown_school", key=key, known=known))
    return schools[key]


# --- import -------------------------------------------------------------------------------------------------
async def cmd_import(args: argparse.Namespace) -> int:
    return await _with_registry(args, _import)


async def _import(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    school = await _school(registry, args.key, t)
    core = school_core(settings, school)
    # As `schoolbot import` does: the school's store is this command's while it writes (a dry run reads).
    lock = DatabaseLock(core.settings.database_path, "district import")
    if not args.dry_run:
        lock.acquire()
    try:
        await core.open()
        try:
            print(t("district.import_school", title=school.title, key=school.key))
            with acting_as(CLI):
                code: int = await import_into(core, args, t)
            return code
        finally:
            await core.close()
    finally:
        lock.release()


# --- admin-token --------------------------------------------------------------------------------------------
async def cmd_admin_token(args: argparse.Namespace) -> int:
    return await _with_registry(args, _admin_token)


async def _admin_token(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    """The school's first IT officer, as `schoolbot admin-token` makes one for a single school: a district
    operator is no school's administrator (bot/district/schools.py), so each school gets its own."""
    school = await _school(registry, args.key, t)
    core = school_core(settings, school)
    await core.open()
    try:
        print(t("district.import_school", title=school.title, key=school.key))
        with acting_as(CLI):
            code: int = await admin_token_for(core, args, t)
        return code
    finally:
        await core.close()


# --- status -------------------------------------------------------------------------------------------------
async def cmd_status(args: argparse.Namespace) -> int:
    return await _with_registry(args, _status)


async def _status(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    shared = SharedContent.load()
    schools = await registry.schools()
    stores = school_stores(settings, t)  # on PostgreSQL: one pool for every school's schema
    await stores.open()
    cores: dict[str, tuple[School, Core]] = {}
    try:
        for school in schools:
            core = school_core(settings, school, shared=shared, stores=stores)
            cores[school.key] = (school, core)
            try:
                await core.open()
            except StorageError as exc:  # its line says "no figures"; the other schools are counted
                log.warning("district: school %s not opened: %s", school.key, type(exc).__name__)
        service = DistrictService(
            records=store, schools={key: school_figures(core, school) for key, (school, core) in cores.items()}
        )
        print(render_coverage(await service.coverage(), t))
        return 0
    finally:
        await asyncio.gather(*(core.close() for _, core in cores.values()))
        await stores.close()


# --- add-operator -------------------------------------------------------------------------------------------
async def cmd_add_operator(args: argparse.Namespace) -> int:
    return await _with_registry(args, _add_operator)


async def _add_operator(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    accounts = [(Channel.TELEGRAM, i) for i in args.telegram] + [(Channel.MAX, i) for i in args.max]
    operator = await registry.add_operator(args.full_name, accounts, t)
    print(t("district.operator_added", id=operator.id))
    return 0


# --- remove-school ------------------------------------------------------------------------------------------
REMOVED_FOLDER = "removed"


async def cmd_remove_school(args: argparse.Namespace) -> int:
    t = Catalog.load().bind(cli_lang(args))
    settings = load_settings()
    if settings.database_url is not None:
        # Before this command opens a connection of its own: every schoolbot connection counted now is
        # a worker's, which would go on serving the school from a schema dropped under it.
        try:
            where = pg_backup.PgTarget.from_url(settings.database_url.get_secret_value())
            sessions = await asyncio.to_thread(pg_backup.bot_sessions, where)
        except pg_backup.PgToolError as exc:
            print(t("cli.error", message=str(exc)), file=sys.stderr)
            return 2
        if sessions:
            print(t("cli.error", message=t("district.remove_busy", count=sessions)), file=sys.stderr)
            return 2
    return await _with_registry(args, _remove_school)


async def _remove_school(
    settings: Settings, store: DistrictStore, registry: DistrictRegistry, args: argparse.Namespace, t: Translator
) -> int:
    school = await _school(registry, args.key, t)
    stores = school_stores(settings, t)
    folder = school_folder(district_dir(settings, t), school.key)
    print(t("district.remove_warning", title=school.title, key=school.key, store=stores.where(school.key),
            folder=folder))
    print(t("district.remove_no_backup_warning") if args.no_backup else t("district.remove_backup_note"))
    if not args.yes:
        try:
            answer = await asyncio.to_thread(input, t("district.remove_confirm", key=school.key) + " ")
        except (EOFError, OSError):  # no terminal to ask on: as good as "no"
            answer = ""
        if answer.strip() != school.key:
            print(t("district.remove_cancelled"), file=sys.stderr)
            return 1
    # On SQLite a running worker holds the school's lock: the store is not removed under it.
    with DatabaseLock(school_settings(settings, school).database_path, "district remove-school"):
        kept = None if args.no_backup else await _final_backup(settings, school, t)
        try:
            await stores.destroy(school.key, store)
        except (StorageError, OSError) as exc:
            raise DistrictError(t("district.remove_failed", key=school.key, detail=str(exc))) from None
    if kept is not None:
        print(t("district.remove_backup_kept", path=kept))
    print(t("district.removed", title=school.title, key=school.key))
    return 0


async def _final_backup(settings: Settings, school: School, t: Translator) -> Path:
    """The school's last backup, moved out of its folder (which goes) into `<DISTRICT_DIR>/removed/`:
    encrypted with BACKUP_PASSPHRASE as every backup is. A backup that fails stops the removal."""
    core = school_core(settings, school)
    try:
        await core.open()
        result = await core.services.backup.take_backup(rotate_after=False)
    except StorageError as exc:
        raise DistrictError(t("district.remove_backup_failed", key=school.key, detail=str(exc))) from None
    finally:
        await core.close()
    if not result.ok:
        raise DistrictError(t("district.remove_backup_failed", key=school.key, detail=result.detail))
    removed = district_dir(settings, t) / REMOVED_FOLDER
    private_dir(removed)
    kept = removed / f"{school.key}-{result.path.name}"
    os.replace(result.path, kept)
    return kept
