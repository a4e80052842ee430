"""Every `schoolbot` command: its arguments and, by module path, the function that runs it.

Building the parser from this module loads nothing but argparse: `schoolbot backup --help` answers
without a service, and `schoolbot backup` imports only what backing up needs (bot/cli_app.py
resolves the path when the command runs). The texts here are the English fallback; the catalog's
(content/i18n/<lang>/clihelp.toml) replace them for the reader's language.

A command names what runs it with one of three defaults, each a "module:qualified.name":
- `run="bot.services.report:ReportService.cmd_backup"`: a method of a capability's service, called
  on the one built service of that class (bot/core.py builds every service, no messenger);
- `run="bot.cli_app:cmd_import"`: an `async def (core, args, t)` of the entry points themselves;
  with `bot=True` it gets the whole bot (bot/app.py), for a command that sends (broadcast);
- `entry="bot.cli_run:cmd_run"`: an `async def (args)` that builds what it needs itself.
tests/test_declared_paths.py resolves every one of them.

Grouped by capability, in the order `schoolbot --help` lists them (content/i18n/*/clihelp.toml).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bot.argparsing import SubParsers

Register = Callable[[SubParsers, SubParsers], None]


# --- the entry points' own -------------------------------------------------------------------------
def entry_commands(sub: SubParsers) -> None:
    p = sub.add_parser("run", help="run the bot (long polling) with BOT_TOKEN")
    p.set_defaults(entry="bot.cli_run:cmd_run")

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
    p.set_defaults(run="bot.cli_app:cmd_import", exclusive=True)

    p = sub.add_parser("link", help="create a one-time /start link for a roster person")
    p.add_argument("person", help="part of the full name, or the person id")
    p.add_argument("--bot-username", default="", help="print a t.me link for this bot")
    p.add_argument("--max-bot-username", default="", help="print a max.ru link for this bot in MAX")
    p.set_defaults(run="bot.cli_app:cmd_link")

    p = sub.add_parser("admin-token", help="create a one-time token that makes its user an IT officer")
    p.add_argument("--bot-username", default="", help="print a t.me link for this bot")
    p.add_argument("--max-bot-username", default="", help="print a max.ru link for this bot in MAX")
    p.set_defaults(run="bot.cli_app:cmd_admin_token")


def broadcast(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("broadcast", help="send a message to an audience, with a progress bar (needs BOT_TOKEN)")
    p.add_argument("--audience", required=True, help="parents | parents:<class> | staff | role:<role> | all")
    p.add_argument("--text", required=True, help="the message (plain text)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--no-personal-data", action="store_true",
        help="the text names nobody and says nothing about children: send it as a public notice (else it is"
        " personal data, and a messenger the school's rules keep it off gets a pointer instead)",
    )
    p.set_defaults(run="bot.cli_broadcast:cmd_broadcast", bot=True)


def sandbox(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser(
        "sandbox",
        help="try the bot with no token: a fake Telegram, a demo school and a terminal chat",
        description="Runs the real bot against a local fake Telegram Bot API server with a demo school. "
        "Chat as anyone in the school, travel in time, or play a scripted conversation.",
    )
    p.add_argument("--data-dir", type=Path, default=Path("sandbox-data"),
                   help="where the database and received files go (default ./sandbox-data, wiped at start)")
    p.add_argument("--keep", action="store_true", help="keep the data dir from the last run (no wipe, no demo reload)")
    p.add_argument("--script", type=Path, default=None, help="play this TOML script and exit (non-zero on failure)")
    p.add_argument("--start", default=None, help='school time to start at, e.g. "2026-12-01 10:00" '
                   "(default: the next working day 10:00)")
    p.add_argument("--lang", default=None, choices=["ru", "en"],
                   help="the language of the sandbox's screens and of the demo people's Telegram")
    p.add_argument("--max", action="store_true",
                   help="serve MAX beside Telegram (a fake MAX server): play people on MAX with /as N max or /wire")
    p.add_argument("--plain", action="store_true", help="plain text output even on a terminal")
    p.add_argument("--verbose", action="store_true", help="show the bot's log lines")
    p.set_defaults(entry="bot.sandbox:cmd_sandbox")


def merge_person(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("merge-person", help="объединить две записи об одном человеке (повтор → запись из состава)")
    p.add_argument("duplicate", help="ФИО или номер записи-повтора (например, созданной по имени в Telegram)")
    p.add_argument("into", help="ФИО или номер записи из состава школы, которая останется")
    p.set_defaults(run="bot.cli_people:cmd_merge_person")


# --- tasks ------------------------------------------------------------------------------------------
def reminders(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("reminders", help="show the plan reminders and digests due at a moment")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; write nothing")
    p.add_argument("--at", default=None, help='school-time moment, e.g. "2027-05-20 09:00" (default: now)')
    p.set_defaults(run="bot.services.reminders:Reminders.cmd_reminders")


# --- school_year ------------------------------------------------------------------------------------
def new_year(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser(
        "new-year",
        help="move to the next school year: promote classes, retire the leaving grade, move the calendar",
    )
    p.add_argument("year", type=int, help="the year the new school year starts in, e.g. 2027 for 2027/2028")
    p.add_argument("--mapping", default=None, help="TOML: merged or renamed classes, the new quarters")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--dry-run", action="store_true", help="list every change, write nothing (the default)")
    group.add_argument("--apply", action="store_true", help="apply the changes the dry run lists")
    p.set_defaults(run="bot.services.school_year:SchoolYearService.cmd_new_year")


# --- status: the report, database backups -------------------------------------------------------------
def report_and_backup(sub: SubParsers, export: SubParsers) -> None:
    e = export.add_parser("report", help="the rollout report (plan item 18) as XLSX")
    e.add_argument("--out", default=None, help="output file (default: report-<date>.xlsx)")
    e.set_defaults(run="bot.services.report:ReportService.cmd_export_report")

    p = sub.add_parser("backup", help="back up the bot's database now (verified, rotated)")
    p.set_defaults(run="bot.services.report:ReportService.cmd_backup")


def restore(sub: SubParsers, export: SubParsers) -> None:
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
    p.set_defaults(entry="bot.cli_restore:cmd_restore")


# --- send_log, access_log, my_data, retention ---------------------------------------------------------
def export_sends(sub: SubParsers, export: SubParsers) -> None:
    e = export.add_parser("sends", help="the send log for an inspector: channel, data class and outcome of every send")
    e.add_argument("--since", default=None, help="from this day on, YYYY-MM-DD (default: everything)")
    e.add_argument("--format", choices=("csv", "xlsx"), default="xlsx")
    e.add_argument("--out", default=None, help="output file (default: sends-<date>.<format>)")
    e.set_defaults(run="bot.services.send_log_export:SendLogExport.cmd_export")


def export_access(sub: SubParsers, export: SubParsers) -> None:
    e = export.add_parser("access", help="the access log for an inspector: who opened or exported what, when")
    e.add_argument("--since", default=None, help="from this day on, YYYY-MM-DD (default: everything)")
    e.add_argument("--out", default=None, help="output file (default: access-<date>.xlsx)")
    e.set_defaults(run="bot.services.access_log:AccessLog.cmd_export")


def subject_report(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("subject-report", help="what the bot holds about one person (152-FZ art. 14), as a text file")
    p.add_argument("person", help="the person's record number or part of the full name")
    p.add_argument("--out", default=None, help="output file (default: my-data-<id>.txt)")
    p.set_defaults(run="bot.services.subject_report:SubjectReport.cmd_subject_report")


def purge(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser(
        "purge", help="удалить данные людей, чей срок хранения истёк (без --apply только показывает, что будет удалено)"
    )
    p.add_argument("--apply", action="store_true", help="удалить на самом деле (по умолчанию — только показать)")
    p.set_defaults(run="bot.services.retention:RetentionService.cmd_purge")


# --- analysis (plan item 18) ----------------------------------------------------------------------------
def analysis(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("analysis", help="plan item 18: the year's analysis and next year's tasks as a PDF")
    p.add_argument("--out", default=None, help="where to write the PDF (default: analysis-YYYY-YYYY.pdf)")
    p.add_argument("--tasks", default=None, help="a UTF-8 text file with next year's tasks, one per line")
    p.set_defaults(run="bot.services.analysis:AnalysisService.cmd_analysis")


# --- codes ------------------------------------------------------------------------------------------------
def print_cards(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("print", help="printable sheets: `print cards --class 5А`")
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    cards = what.add_parser("cards", help="A4 PDF of invitation cards, 8 a page, for a class")
    cards.add_argument("--class", dest="class_label", required=True, help="the class, e.g. 5А")
    cards.add_argument("--all", dest="everyone", action="store_true",
                       help="everyone with a code, not only people without Telegram")
    cards.add_argument("--parents", action="store_true",
                       help="the parents' own codes instead of the pupils' (a separate sheet: hand each card"
                            " to that parent in person)")
    cards.add_argument("--out", default=None, help="the PDF file (default: codes-<class>.pdf)")
    cards.set_defaults(run="bot.services.codes_print:CodesPrint.cmd_print_cards")


# --- consent ------------------------------------------------------------------------------------------------
def consent(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("consent", help="consent document: publish a new version")
    inner = p.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    q = inner.add_parser(
        "publish", help="publish FILE (UTF-8 text) as the next consent version; parents are asked again"
    )
    q.add_argument("file")
    q.add_argument("--en", default=None, help="an English translation shown to English-speaking parents")
    q.set_defaults(run="bot.services.consent_export:ConsentExport.cmd_publish")

    d = inner.add_parser("destroyed", help="confirm that a withdrawn child's data was destroyed (task number)")
    d.add_argument("task", type=int)
    d.set_defaults(run="bot.services.consent_withdrawal:ConsentWithdrawal.cmd_destroyed")
    a = inner.add_parser("act", help="the destruction act of a task as PDF (акт об уничтожении)")
    a.add_argument("task", type=int)
    a.add_argument("--out", default=None, help="output file (default: destruction-act-<task>.pdf)")
    a.set_defaults(run="bot.services.consent_withdrawal:ConsentWithdrawal.cmd_act")

    e = inner.add_parser(
        "evidence", help="the ledger rows and the exact texts for a child, a parent or a receipt (PDF)"
    )
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--child", type=int, default=None, help="a pupil's person id")
    who.add_argument("--parent", type=int, default=None, help="a parent's person id (their children's rows too)")
    who.add_argument("--receipt", default=None, help="one receipt number")
    e.add_argument("--out", default=None, help="output file (default: consent-evidence-<what>.pdf)")
    e.set_defaults(run="bot.services.consent_evidence:ConsentEvidence.cmd_evidence")
    s = inner.add_parser(
        "scan", help="attach the scanned signed form (its hash) or where it is kept to a paper receipt"
    )
    s.add_argument("receipt")
    s.add_argument("file", nargs="?", default=None, help="the scan; only its SHA-256 is stored")
    s.add_argument("--ref", default=None, help="where the paper is kept, e.g. «папка 5А, лист 3»")
    s.set_defaults(run="bot.services.consent_evidence:ConsentEvidence.cmd_scan")

    x = export.add_parser("consents", help="the consent register as CSV, XLSX or a printable PDF")
    x.add_argument("--format", choices=("csv", "xlsx", "pdf"), default="xlsx")
    x.add_argument("--class", dest="class_label", default=None, help="one class only, e.g. 5А")
    x.add_argument("--out", default=None, help="output file (default: consents-<date>.<format>)")
    x.set_defaults(run="bot.services.consent_export:ConsentExport.cmd_export")


def verify_ledger(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser(
        "verify-ledger",
        help="check the consent ledger's hash chain; names the first receipt that does not check out",
    )
    p.set_defaults(run="bot.services.ledger:LedgerService.cmd_verify_ledger")


# --- district (#27): many schools in one service ------------------------------------------------------
def district(sub: SubParsers, export: SubParsers) -> None:
    p = sub.add_parser("district", help="a district of many schools (DISTRICT_DIR): add, list, import, status")
    inner = p.add_subparsers(dest="district_command", required=True, metavar="ACTION")
    a = inner.add_parser("add-school", help="add a school: its own store, its settings, optionally its own bots")
    a.add_argument("key", help="the school's key: 2-32 lower-case Latin letters, digits, hyphens (e.g. school-12)")
    a.add_argument("--title", required=True, help="the school's name in the district's lists")
    a.add_argument("--config", type=Path, required=True, help="the school's school.toml")
    a.add_argument("--telegram-token-file", type=Path, default=None,
                   help="a file holding the school's own Telegram bot token")
    a.add_argument("--max-token-file", type=Path, default=None, help="a file holding the school's own MAX bot token")
    a.set_defaults(entry="bot.cli_district:cmd_add_school")

    lst = inner.add_parser("list", help="the district's schools (no token is shown)")
    lst.set_defaults(entry="bot.cli_district:cmd_list")

    i = inner.add_parser("import", help="import a school's roster, codes or plan")
    i.add_argument("key", help="the school's key")
    i.add_argument("kind", help="what the file holds: roster, codes, plan")
    i.add_argument("file", help="CSV (cp1251 or UTF-8, ; or ,), XLSX, or TOML for the plan")
    i.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    i.add_argument("--school-year", type=int, default=None, help="plan only: the year the school year starts")
    i.add_argument("--confirm-deactivations", action="store_true",
                   help="roster only: apply although staff or more than a fifth of the people leave")
    i.set_defaults(entry="bot.cli_district:cmd_import")

    k = inner.add_parser("admin-token", help="a one-time token that makes its user the school's IT officer")
    k.add_argument("key", help="the school's key")
    k.add_argument("--bot-username", default="", help="print a t.me link for this bot")
    k.add_argument("--max-bot-username", default="", help="print a max.ru link for this bot in MAX")
    k.set_defaults(entry="bot.cli_district:cmd_admin_token")

    st = inner.add_parser("status", help="coverage across schools: plan, consent, activation (counts only)")
    st.set_defaults(entry="bot.cli_district:cmd_status")

    o = inner.add_parser("add-operator", help="add a district officer, who sees coverage across schools")
    o.add_argument("--full-name", required=True, help="the officer's full name")
    o.add_argument("--telegram", type=int, action="append", default=[], help="the officer's Telegram user id")
    o.add_argument("--max", type=int, action="append", default=[], help="the officer's MAX user id")
    o.set_defaults(entry="bot.cli_district:cmd_add_operator")

    rm = inner.add_parser("remove-school", help="remove a school and destroy its data (a final backup is kept first)")
    rm.add_argument("key", help="the school's key")
    rm.add_argument("--yes", action="store_true", help="do not ask to type the school's key to confirm")
    rm.add_argument("--no-backup", action="store_true",
                    help="keep no final backup: the school's personal data are destroyed beyond recovery")
    rm.set_defaults(entry="bot.cli_district:cmd_remove_school")

    b = inner.add_parser("broadcast", help="a message to every family of every school, each through its school's bot")
    b.add_argument("--text", required=True, help="the message (plain text)")
    b.add_argument("--audience", default="parents", help="parents (default) | staff | role:<role> | all")
    b.add_argument("--school", action="append", default=[], help="only this school (by key; may repeat)")
    b.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    b.add_argument("--no-personal-data", action="store_true",
                   help="the text names nobody and says nothing about children: send it as a public notice")
    b.add_argument("--wait", action="store_true", help="follow the delivery until every school's broadcast is done")
    b.set_defaults(entry="bot.cli_district_broadcast:cmd_district_broadcast")

    k = inner.add_parser("backup", help="back up every school now (or those named), each into its own folder,"
                         " and the district's registry")
    which = k.add_mutually_exclusive_group()
    which.add_argument("--school", action="append", default=[], help="only this school (by key; may repeat)")
    which.add_argument("--registry-only", action="store_true",
                       help="only the district's registry (the workers back the schools up each night)")
    k.set_defaults(entry="bot.cli_district_backup:cmd_district_backup")

    r = inner.add_parser("restore", help="restore one school from its backup, or the registry with --registry"
                          " (stop the workers first)")
    r.add_argument("key", nargs="?", default=None, help="the school's key (none with --registry)")
    r.add_argument("file", help="a backup of this school made by `schoolbot district backup` or the nightly backup")
    r.add_argument("--registry", action="store_true",
                   help="restore the district's registry (schools, tokens, operators) from FILE instead")
    how = r.add_mutually_exclusive_group()
    how.add_argument("--carry-over", action="store_true",
                     help="re-append the consent receipts the backup lacks to the restored ledger (nothing is lost)")
    how.add_argument("--force", action="store_true",
                     help="restore even though consent receipts (with --registry: schools) would be lost; lists them"
                     " and keeps the previous data")
    r.set_defaults(entry="bot.cli_district_backup:cmd_district_restore")


# After the entry points' own commands and the `export` group, in this order.
COMMANDS: tuple[Register, ...] = (
    broadcast, sandbox, merge_person,
    reminders, new_year, report_and_backup, restore, export_sends, export_access, subject_report, purge,
    analysis, print_cards, consent, verify_ledger, district,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, in English (bot/cli.py puts the reader's language in)."""
    parser = argparse.ArgumentParser(
        prog="schoolbot",
        description="Telegram bot for a school's electronic journal rollout. "
        "Secrets come from the environment (.env): BOT_TOKEN, ADMIN_IDS; school facts from school.toml.",
    )
    parser.add_argument("--lang", dest="ui_lang", choices=("ru", "en"), default=None,
                        help="language of the output (default: Russian; English with an English LANG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show library and migration logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    entry_commands(sub)
    # `schoolbot export WHAT`, to which capabilities add what they export.
    export = sub.add_parser("export", help="export registers and reports").add_subparsers(
        dest="export_what", required=True, metavar="WHAT")
    for register in COMMANDS:
        register(sub, export)
    return parser
