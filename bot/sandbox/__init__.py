"""`schoolbot sandbox`: the whole bot with no token and no network, as any user, with time travel.

One process holds a fake Telegram Bot API server (bot.fakeapi) on 127.0.0.1, a demo school
(bot/sandbox/demo.py) and the real bot built as `schoolbot run` builds it. The terminal chat
(bot/sandbox/chat.py) lets a person be anyone in the demo school; scripts (bot/sandbox/script.py)
replay conversations and check the replies, for CI. See docs/SANDBOX.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from zoneinfo import ZoneInfo

from bot.cli import cli_lang
from bot.config import load_school_config
from bot.i18n import Catalog
from bot.sandbox.chat import run_terminal
from bot.sandbox.clock_args import parse_start, school_config_path
from bot.sandbox.demo import write_demo_files
from bot.sandbox.options import SandboxOptions, SandboxProblem
from bot.sandbox.runner import Sandbox
from bot.sandbox.script import run_script


async def cmd_sandbox(args: argparse.Namespace) -> int:

    if not args.verbose:
        # The bot's INFO lines would drown the chat; warnings still show.
        logging.getLogger().setLevel(logging.WARNING)
    # The sandbox's own --lang, else the command line's (`schoolbot --lang en sandbox`, an English LANG).
    lang = args.lang or cli_lang(args)
    t = Catalog.load().bind(lang)
    options = SandboxOptions(data_dir=args.data_dir, keep=args.keep, lang=lang, max=args.max)
    if args.start:
        school = load_school_config(school_config_path(args.data_dir))
        try:
            options.start = parse_start(args.start, ZoneInfo(school.school.timezone))
        except SandboxProblem as exc:
            print(t("sandbox.start_error", error=exc.text(t)), file=sys.stderr)
            return 2
    if args.script is not None:
        try:
            result = await run_script(args.script, options)
        except SandboxProblem as exc:  # the script is wrong (ScriptError) or its `start` is
            print(t("sandbox.cli_error", error=exc.text(t)), file=sys.stderr)
            return 2
        print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
        return 0 if result.ok else 1
    async with Sandbox.running(options) as sandbox:

        write_demo_files(args.data_dir)
        return await run_terminal(sandbox, rich=False if args.plain else None)
