"""`schoolbot district backup` and `schoolbot district restore`: a district school's backups by hand
(#27 item 5). The workers take each school's nightly backup themselves (each school's own sweep, on
its own settings); these are the same backup and restore as one school's `schoolbot backup` and
`schoolbot restore`, run on a school's own settings (bot/district/schools.py `school_settings`: its
store, its backups folder): on PostgreSQL pg_dump of the school's schema and a restore beside it with
the receipts guard (bot/services/restore.py, bot/cli_restore.py), on SQLite the school's file.

- `backup [--school KEY ... | --registry-only]`: every school (or those named, or none), one line each,
  then the district's registry (bot/district/registry_backup.py); exit 1 if any failed.
- `restore KEY FILE [--carry-over | --force]`: one school, the workers stopped.
- `restore --registry FILE [--force]`: the district's registry, the workers stopped.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.cli import cli_lang
from bot.cli_restore import restore_command
from bot.clock import SystemClock
from bot.config import load_settings
from bot.core import SharedContent
from bot.district.registry_backup import RegistryRestoreRefused, restore_registry, take_registry_backup
from bot.district.schools import district_dir, registry_store, school_core, school_settings
from bot.i18n import Catalog, Translator
from bot.services.backup import BackupError
from bot.services.district import DistrictError, DistrictRegistry, School
from bot.services.exports import file_size


async def _schools(args: argparse.Namespace, wanted: list[str], t: Translator) -> list[School]:
    store = registry_store(load_settings(), t)
    await store.open()
    try:
        schools = await DistrictRegistry(records=store, clock=SystemClock()).schools()
    finally:
        await store.close()
    unknown = sorted(set(wanted) - {s.key for s in schools})
    if unknown:
        known = ", ".join(s.key for s in schools) or t("district.nothing_known")
        raise DistrictError(t("district.unknown_school", key=", ".join(unknown), known=known))
    return [s for s in schools if not wanted or s.key in wanted]


async def cmd_district_backup(args: argparse.Namespace) -> int:
    t = Catalog.load().bind(cli_lang(args))
    try:
        # --registry-only: the daily timer's (deploy/systemd/schoolbot-backup.timer); the workers back
        # the schools up each night themselves.
        schools = [] if args.registry_only else await _schools(args, list(args.school), t)
    except DistrictError as exc:
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2
    settings = load_settings()
    shared = SharedContent.load()
    failed = 0
    for school in schools:
        core = school_core(settings, school, shared=shared)
        await core.open()
        try:
            result = await core.services.backup.take_backup()
        finally:
            await core.close()
        if result.ok:
            print(t("district_backup.done", title=school.title, key=school.key, path=result.path,
                    size=file_size(t, result.size_bytes)))
        else:
            failed += 1
            print(t("district_backup.failed", title=school.title, key=school.key, detail=result.detail),
                  file=sys.stderr)
    # The registry with the schools: their copies alone cannot be served again without it.
    registry = await take_registry_backup(settings, datetime.now(UTC))
    if registry.ok:
        print(t("district_backup.registry_done", path=registry.path, size=file_size(t, registry.size_bytes)))
    else:
        failed += 1
        print(t("district_backup.registry_failed", detail=registry.detail), file=sys.stderr)
    return 1 if failed else 0


async def cmd_district_restore(args: argparse.Namespace) -> int:
    t = Catalog.load().bind(cli_lang(args))
    if args.registry or args.key is None:
        return await _restore_registry(args, t)
    try:
        [school] = await _schools(args, [args.key], t)
    except DistrictError as exc:
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2
    print(t("district.import_school", title=school.title, key=school.key))
    return await restore_command(school_settings(load_settings(), school), args, t)


async def _restore_registry(args: argparse.Namespace, t: Translator) -> int:
    """`district restore --registry FILE [--force]`: the registry's own guard is the schools its copy
    lacks (refused unless --force; the previous registry is kept aside either way)."""
    if args.key is not None or not args.registry:
        print(t("cli.error", message=t("district_backup.registry_usage")), file=sys.stderr)
        return 2
    if args.carry_over:
        print(t("cli.error", message=t("district_backup.registry_no_carry_over")), file=sys.stderr)
        return 2
    settings = load_settings()
    try:
        district_dir(settings, t)
    except DistrictError as exc:
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2
    source = Path(args.file)
    passphrase = secret.get_secret_value() if (secret := settings.backup_passphrase) is not None else None
    try:
        done = await restore_registry(settings, source, datetime.now(UTC), force=args.force, passphrase=passphrase)
    except RegistryRestoreRefused as exc:
        print(t.plural("district_backup.registry_refused", len(exc.missing), file=source,
                       schools=", ".join(exc.missing)), file=sys.stderr)
        return 1
    except BackupError as exc:
        print(t("ledger.restore.bad_file", reason=exc), file=sys.stderr)
        return 1
    if done.live_unreadable:
        print(t("district_backup.registry_live_unreadable", reason=done.live_unreadable))
    if done.lost:
        print(t.plural("district_backup.registry_lost", len(done.lost), schools=", ".join(done.lost)))
    if done.no_store:
        print(t.plural("district_backup.registry_no_store", len(done.no_store), schools=", ".join(done.no_store)))
    if done.aside is not None:
        print(t("district_backup.registry_aside", aside=done.aside))
    print(t.plural("district_backup.registry_restored", len(done.schools), file=source,
                   schools=", ".join(done.schools) or "—"))
    return 0
