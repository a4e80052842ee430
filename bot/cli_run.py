"""`schoolbot run`: the bot itself, until stopped. Its own module so that no other command loads the
bot (bot/cli_specs.py names it by module path)."""

from __future__ import annotations

import argparse
import asyncio

from bot.app import build_bots, create_app, serve
from bot.config import load_settings
from bot.tg.startup import check_data_folders
from storage.lock import DatabaseLock


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
