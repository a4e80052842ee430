"""`schoolbot district backup` and `schoolbot district restore`: a district school's backups by hand
(#27 item 5). The workers take each school's nightly backup themselves (each school's own sweep, on
its own settings); these are the same backup and restore as one school's `schoolbot backup` and
`schoolbot restore`, run on a school's own settings (bot/district/schools.py `school_settings`: its
store, its backups folder): on PostgreSQL pg_dump of the school's schema and a restore beside it with
the receipts guard (bot/services/restore.py), on SQLite the school's file.

- `backup [--school KEY ...]`: every school (or those named), one line each; exit 1 if any failed.
- `restore KEY FILE [--carry-over | --force]`: one school, the workers stopped.
"""

from __future__ import annotations

import argparse
import sys

from bot.cli import cli_lang
from bot.clock import SystemClock
from bot.config import load_settings
from bot.core import SharedContent
from bot.district.schools import registry_store, school_core, school_settings
from bot.i18n import Catalog, Translator
from bot.services.district import DistrictError, DistrictRegistry, School
from bot.services.exports import file_size
from bot.services.restore import restore_command


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
        schools = await _schools(args, list(args.school), t)
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
    return 1 if failed else 0


async def cmd_district_restore(args: argparse.Namespace) -> int:
    t = Catalog.load().bind(cli_lang(args))
    try:
        [school] = await _schools(args, [args.key], t)
    except DistrictError as exc:
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2
    print(t("district.import_school", title=school.title, key=school.key))
    return await restore_command(school_settings(load_settings(), school), args, t)
