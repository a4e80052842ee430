"""The `schoolbot` command's entry point, kept light: `schoolbot`, `schoolbot --help` and a usage
error answer from the catalog alone; a command's arguments (and its `--help`) from the light table
of every command (bot/cli_specs.py), which names by module path what runs each command. Only then
does bot/cli_app.py load what that command uses: the services for `backup` or `purge` (no aiogram,
no renderer), the whole bot for `run` or `broadcast`, a renderer only inside the command that
renders. Module paths on purpose: an `import` here would make every `--help` pay for the whole
bot, and tests/test_layering.py forbids deferring our imports into function bodies."""

from __future__ import annotations

import argparse
import gettext
import importlib
import os
import sys
import tomllib
from collections.abc import Sequence
from typing import Any

from bot.cli_specs import build_parser
from bot.i18n import Catalog
from bot.logging_setup import setup_logging
from bot.paths import CONTENT_DIR

FULL = "bot.cli_app"


def __getattr__(name: str) -> Any:
    """`from bot.cli import cmd_import` (tests): the names of the command runner, loaded on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module(FULL), name)


def cli_lang(args: argparse.Namespace) -> str:
    """Russian unless the user chose English: --lang en, or an English locale (LANG=en_US.UTF-8)."""
    chosen = getattr(args, "ui_lang", None)
    if chosen:
        return str(chosen)
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "en" if value.lower().startswith("en") else "ru"
    return "ru"


def _argv_lang(argv: Sequence[str]) -> str:
    """The output language before the arguments are parsed (help and usage errors need it)."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1] if argv[i + 1] in ("ru", "en") else "ru"
        if arg.startswith("--lang="):
            return "en" if arg.endswith("=en") else "ru"
    return cli_lang(argparse.Namespace())


# argparse's own words, by the message id it passes to gettext -> key in clihelp.toml [argparse].
_ARGPARSE_WORDS = {
    "usage: ": "usage",
    "positional arguments": "positional",
    "options": "options",
    "show this help message and exit": "help",
    "%(prog)s: error: %(message)s\n": "error",
    "the following arguments are required: %s": "required",
    "invalid choice: %(value)r (choose from %(choices)s)": "invalid_choice",
    "unrecognized arguments: %s": "unrecognized",
    "argument %(argument_name)s: %(message)s": "argument",
    "expected one argument": "expected_one",
    "invalid %(type)s value: %(value)r": "invalid_value",
}


def speak_argparse(catalog: Catalog, lang: str) -> None:
    """argparse asks gettext for its own words ("usage:", "options", its errors); no Russian
    argparse catalog is installed anywhere, so its translator is pointed at ours. Called before
    the parser is built: it asks for some of them (section titles) at construction."""
    if lang == "en":
        argparse._ = gettext.gettext  # type: ignore[attr-defined]  # argparse's own English
        return
    words = {msgid: catalog.text(lang, f"clihelp.argparse.{key}") for msgid, key in _ARGPARSE_WORDS.items()}
    argparse._ = lambda message: words.get(message, message)  # type: ignore[attr-defined]


def commands(lang: str) -> list[tuple[str, str]]:
    """Every command and its one-line help, in the order clihelp.toml lists them (a test keeps
    this list equal to the full parser's commands)."""
    data = tomllib.loads((CONTENT_DIR / "i18n" / lang / "clihelp.toml").read_text(encoding="utf-8"))
    return [(key, value) for key, value in data.items() if isinstance(value, str) and "." not in key]


def _names_a_command(argv: Sequence[str]) -> bool:
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--lang":
            skip = True
        elif not arg.startswith("-"):
            return True
    return False


def overview_parser(catalog: Catalog, lang: str) -> argparse.ArgumentParser:
    """The top level of `schoolbot` (its options and the list of commands), from the catalog."""
    parser = argparse.ArgumentParser(prog="schoolbot", description=catalog.text(lang, "clihelp.schoolbot.description"))
    parser.add_argument("--lang", dest="ui_lang", choices=("ru", "en"), default=None,
                        help=catalog.text(lang, "clihelp.schoolbot.ui_lang"))
    parser.add_argument("-v", "--verbose", action="store_true", help=catalog.text(lang, "clihelp.schoolbot.verbose"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in commands(lang):
        sub.add_parser(name, help=help_text)
    return parser


def localize_parser(parser: argparse.ArgumentParser, catalog: Catalog, lang: str, path: str = "") -> None:
    """Put the catalog's texts (clihelp.toml) into a built parser: commands are declared in English
    (bot/cli_specs.py); a person reading `--help` reads their own language."""
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
    if not _names_a_command(argv):
        # `schoolbot`, `schoolbot --help`, `schoolbot -v`: the list of commands, from the catalog.
        overview_parser(catalog, lang).parse_args(argv)   # prints help or the usage error and exits
        return 2
    parser = build_parser()
    localize_parser(parser, catalog, lang)
    args = parser.parse_args(argv)   # a command's `--help` or a usage error exits here, nothing loaded
    # The running bot is a service and logs; a one-off command speaks to a person and only prints.
    setup_logging(verbose=args.verbose, quiet="WARNING" if hasattr(args, "entry") else "ERROR")
    code: int = importlib.import_module(FULL).run(args, catalog)
    return code


if __name__ == "__main__":
    sys.exit(main())
