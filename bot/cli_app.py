"""The `schoolbot` command line in full: every command, the application built for it. Loaded by
the entry (bot/cli.py) through importlib only when a command runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import capabilities, cli_broadcast, cli_people, sandbox
from bot.app import App, build_bots, create_app, serve
from bot.argparsing import SubParsers
from bot.cli import _argv_lang, cli_lang, speak_argparse
from bot.cli_groups import make_export_group
from bot.config import ConfigError, load_settings
from bot.i18n import Catalog, Translator
from bot.logging_setup import setup_logging
from bot.services.access_log import CLI, AccessKind, acting_as
from bot.services.imports import ImportOptions, render_outcome
from bot.services.onboarding import deep_link
from bot.services.people_text import find_people
from bot.tg.startup import check_data_folders
from storage.db import DiskFull, StorageError
from storage.lock import DatabaseBusy, DatabaseLock

log = logging.getLogger(__name__)

# Commands of the entry points themselves; each capability's own are declared in bot/capabilities.py.
# Each function receives the sub-parsers object and the `export` group; its parsers set `func` to
# an `async def (app, args, t) -> int`.
ENTRY_COMMANDS: tuple[Callable[[SubParsers, SubParsers], None], ...] = (
    cli_broadcast.register_cli, sandbox.register_cli, cli_people.register_cli,
)


async def _with_app(args: argparse.Namespace) -> int:
    settings = load_settings()
    if getattr(args, "dry_run", False) and not settings.database_path.exists():
        # A dry run writes nothing, not even an empty database file: preview against an empty
        # database in memory (everything in the file shows as added).
        settings = settings.model_copy(update={"database_path": Path(":memory:")})
    # Commands that rewrite the database wholesale own it for their lifetime (see storage/lock.py).
    # A dry run writes nothing, so it may read beside a running bot (WAL lets it): "check first"
    # works without stopping the bot.
    lock = DatabaseLock(settings.database_path, args.command)
    if getattr(args, "exclusive", False) and not getattr(args, "dry_run", False):
        lock.acquire()
    try:
        app = create_app(settings)
        await app.open()
        t = app.catalog.bind(cli_lang(args))
        try:
            # A capability's command is a method of its service (`set_defaults(func=..., service=...)`);
            # the root's own commands (import, link, ...) take the application.
            service = getattr(args, "service", None)
            target = app if service is None else app.services.get(service)
            # What a command opens or exports is logged as done from the command line.
            with acting_as(CLI):
                result: int = await args.func(target, args, t)
            return result
        finally:
            await app.close()
    finally:
        lock.release()


async def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    # A folder the bot cannot write gets its own one-line message before the lock file is tried.
    await asyncio.to_thread(check_data_folders, settings)
    # Held until the process ends: a second `run`, a restore or an import fails at once.
    with DatabaseLock(settings.database_path, "run"):
        bot, max_bot = build_bots(settings)
        app = create_app(settings)
        await serve(app, bot, max_bot=max_bot)
    return 0


async def cmd_import(app: App, args: argparse.Namespace, t: Translator) -> int:

    importer = app.importers.get(args.kind)
    if importer is None:
        print(t("cli.unknown_import_kind", kind=args.kind, known=", ".join(app.importers)), file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        print(t("cli.cannot_read", path=path, reason=exc.strerror), file=sys.stderr)
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


async def cmd_link(app: App, args: argparse.Namespace, t: Translator) -> int:

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
    link = deep_link(args.bot_username, token) if args.bot_username else f"/start {token}"
    print(f"{matches[0].full_name}: {link}")
    return 0


async def cmd_admin_token(app: App, args: argparse.Namespace, t: Translator) -> int:

    token = await app.services.onboarding.create_token(purpose="admin", person_id=None, created_by=None)
    print(t("cli.admin_token"))
    print(deep_link(args.bot_username, token) if args.bot_username else f"/start {token}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schoolbot",
        description="Telegram bot for a school's electronic journal rollout. "
        "Secrets come from the environment (.env): BOT_TOKEN, ADMIN_IDS; school facts from school.toml.",
    )
    parser.add_argument("--lang", dest="ui_lang", choices=("ru", "en"), default=None,
                        help="language of the output (default: Russian; English with an English LANG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show library and migration logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the bot (long polling) with BOT_TOKEN")
    p.set_defaults(entry=cmd_run)

    p = sub.add_parser("import", help="import a file: roster, plan, codes, activations, ...")
    p.add_argument("kind", help="what the file holds: roster, plan, codes, activations")
    p.add_argument("file", help="CSV (cp1251 or UTF-8, ; or ,), XLSX, or TOML for the plan")
    p.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    p.add_argument("--school-year", type=int, default=None, help="plan only: the year the school year starts")
    p.add_argument(
        "--confirm-deactivations",
        action="store_true",
        help="roster only: apply although staff or more than a fifth of the people leave (the dry run lists who)",
    )
    p.set_defaults(func=cmd_import, exclusive=True)

    p = sub.add_parser("link", help="create a one-time /start link for a roster person")
    p.add_argument("person", help="part of the full name, or the person id")
    p.add_argument("--bot-username", default="", help="print a t.me link for this bot")
    p.set_defaults(func=cmd_link)

    p = sub.add_parser("admin-token", help="create a one-time token that makes its user an IT officer")
    p.add_argument("--bot-username", default="", help="print a t.me link for this bot")
    p.set_defaults(func=cmd_admin_token)

    export = make_export_group(sub)

    for register in (*ENTRY_COMMANDS, *capabilities.cli_commands()):
        register(sub, export)
    return parser


def localize_parser(parser: argparse.ArgumentParser, catalog: Catalog, lang: str, path: str = "") -> None:
    """Put the catalog's texts (clihelp.toml) into a built parser: commands are registered by their
    capabilities in English; a person reading `--help` reads their own language."""
    known = catalog.keys(lang)

    def text(key: str) -> str | None:
        full = f"clihelp.{key}"
        return catalog.text(lang, full) if full in known else None

    parser.description = text(f"{path or 'schoolbot'}.description") or parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            by_name = {choice.dest: choice for choice in action._choices_actions}
            for name, sub in action.choices.items():
                sub_path = f"{path}.{name}" if path else name
                if name in by_name:
                    by_name[name].help = text(sub_path) or by_name[name].help
                localize_parser(sub, catalog, lang, sub_path)
        elif action.help not in (None, argparse.SUPPRESS) and action.dest != "help":
            action.help = text(f"{path or 'schoolbot'}.{action.dest}") or action.help


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    catalog = Catalog.load()
    lang = _argv_lang(argv)
    speak_argparse(catalog, lang)
    parser = build_parser()
    localize_parser(parser, catalog, lang)
    args = parser.parse_args(argv)
    # The running bot is a service and logs; a one-off command speaks to a person and only prints.
    setup_logging(verbose=args.verbose, quiet="WARNING" if hasattr(args, "entry") else "ERROR")
    t = catalog.bind(cli_lang(args))
    try:
        if hasattr(args, "entry"):
            code: int = asyncio.run(args.entry(args))
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
    except KeyboardInterrupt:
        return 130

