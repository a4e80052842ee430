"""Runs one `schoolbot` command once bot/cli.py has parsed it: builds what the command uses, by the
module path its declaration names (bot/cli_specs.py), and turns the errors every command can meet
into one Russian line. A command that sends nothing runs on the services alone (bot/core.py: no
aiogram, no handlers, no renderer until a command renders); `run`, `sandbox` and `broadcast` load
the whole bot (bot/app.py) when they run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.channels import Channel, deep_link
from bot.cli import cli_lang
from bot.config import ConfigError, load_settings
from bot.core import Core, build_core
from bot.i18n import Catalog, Translator
from bot.modpath import resolve, split
from bot.services.access_log import CLI, AccessKind, acting_as
from bot.services.faq import FaqError, faq_error_text
from bot.services.imports import ImportOptions, render_outcome
from bot.services.people_text import find_people
from storage.db import DiskFull, StorageError
from storage.lock import DatabaseBusy, DatabaseLock

# Builds the whole bot for a command declared with `bot=True` (it sends: broadcast).
CREATE_APP = "bot.app:create_app"


async def _with_app(args: argparse.Namespace) -> int:
    settings = load_settings()
    if getattr(args, "dry_run", False) and settings.database_url is None and not settings.database_path.exists():
        # A dry run writes nothing, not even an empty database file: preview against an empty
        # database in memory (everything in the file shows as added). On PostgreSQL the database is
        # the server's, whatever DATABASE_PATH names, and the dry run previews against it.
        settings = settings.model_copy(update={"database_path": Path(":memory:")})
    # Commands that rewrite the database wholesale own it for their lifetime (see storage/lock.py).
    # A dry run writes nothing, so it may read beside a running bot (WAL lets it): "check first"
    # works without stopping the bot.
    lock = DatabaseLock(settings.database_path, args.command)
    if getattr(args, "exclusive", False) and not getattr(args, "dry_run", False):
        lock.acquire()
    try:
        core: Core = resolve(CREATE_APP)(settings) if getattr(args, "bot", False) else build_core(settings)
        await core.open()
        t = core.catalog.bind(cli_lang(args))
        try:
            # A capability's command is a method of its service ("module:Service.cmd_x"), run on the
            # one built service of that class; the entry points' own (import, link, ...) take the core.
            module, qualname = split(args.run)
            owner, _, method = qualname.rpartition(".")
            with acting_as(CLI):  # what a command opens or exports is logged as done from the command line
                if owner:
                    service = core.services.get(resolve(f"{module}:{owner}"))
                    code: int = await getattr(service, method)(args, t)
                else:
                    code = await resolve(args.run)(core, args, t)
            return code
        finally:
            await core.close()
    finally:
        lock.release()


def run(args: argparse.Namespace, catalog: Catalog) -> int:
    """Run the parsed command; the exit code."""
    t = catalog.bind(cli_lang(args))
    try:
        if hasattr(args, "entry"):
            code: int = asyncio.run(resolve(args.entry)(args))
            return code
        return asyncio.run(_with_app(args))
    except DatabaseBusy as exc:
        print(
            t("ledger.lock_busy", path=exc.db_path, pid=exc.holder_pid or "?", command=exc.holder_command or "?"),
            file=sys.stderr,
        )
        return 3
    except (ConfigError, StorageError) as exc:
        # Settings errors are already in Russian, one line per field (bot.config).
        print(t("cli.error", message=str(exc)), file=sys.stderr)
        return 2
    except FaqError as exc:
        # A school's edit of content/faq/*.toml that does not load: the file, the line and the field.
        print(t("cli.error", message=faq_error_text(exc, t)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def cmd_import(app: Core, args: argparse.Namespace, t: Translator) -> int:
    importer = app.importers.get(args.kind)
    if importer is None:
        print(t("cli.unknown_import_kind", kind=args.kind, known=", ".join(app.importers)), file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        print(t("cli.cannot_read", path=path, reason=t.os_error(exc)), file=sys.stderr)
        return 2
    options = ImportOptions(
        dry_run=args.dry_run,
        school_year=getattr(args, "school_year", None),
        confirm_deactivations=getattr(args, "confirm_deactivations", False),
    )
    try:
        outcome = await importer.run(data, path.name, options)
    except DiskFull:
        print(t("imports.disk_full"), file=sys.stderr)
        return 2
    print(render_outcome(outcome, t, list_limit=1000))
    if outcome.ambiguous:
        print(t("imports.ambiguous_cli"))
    if outcome.needs_confirmation:
        print(t("imports.confirm_cli"))
        return 1
    return 0 if outcome.ok else 1


async def cmd_link(app: Core, args: argparse.Namespace, t: Translator) -> int:
    by_id = [p for p in await app.people.active() if str(p.id) == args.person.strip()]
    matches = by_id or await find_people(app.people, args.person, limit=None)
    # Who looked (#24): the ids found, never the name typed.
    await app.services.access_log.record(AccessKind.PERSON_SEARCH, ",".join(str(p.id) for p in matches))
    if not matches:
        print(t("cli.nobody_matches", query=args.person), file=sys.stderr)
        return 1
    if len(matches) != 1:
        print(t.plural("cli.many_match", len(matches), query=args.person), file=sys.stderr)
        for p in matches[:20]:
            print(f"  {p.id}: {p.full_name} {p.class_label or ''}", file=sys.stderr)
        return 1
    token = await app.services.onboarding.create_token(purpose="link", person_id=matches[0].id, created_by=None)
    print(f"{matches[0].full_name}:")
    _print_links(args, token)
    return 0


def _print_links(args: argparse.Namespace, token: str) -> None:
    """One line per messenger whose bot is named (a Telegram link does not open the bot in MAX);
    without a name, the command to send the bot."""
    usernames = {Channel.TELEGRAM: args.bot_username, Channel.MAX: args.max_bot_username}
    named = [(channel, name) for channel, name in usernames.items() if name]
    for channel, name in named:
        print(f"{channel.label}: {deep_link(channel, name, token)}")
    if not named:
        print(f"/start {token}")


async def cmd_admin_token(app: Core, args: argparse.Namespace, t: Translator) -> int:
    token = await app.services.onboarding.create_token(purpose="admin", person_id=None, created_by=None)
    print(t("cli.admin_token"))
    _print_links(args, token)
    return 0
