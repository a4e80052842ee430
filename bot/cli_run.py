"""`schoolbot run`: the bot itself, until stopped. Its own module so that no other command loads the
bot (bot/cli_specs.py names it by module path). With DISTRICT_DIR set it serves every school of the
district and the district's bot from one process, by webhook (bot/multibot.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from bot.app import build_bots, create_app, serve
from bot.config import ConfigError, Settings, load_settings
from bot.district.runtime import build_district
from bot.multibot import build_district_bots, district_text, serve_multibot
from bot.tg.startup import check_data_folders
from storage.lock import DatabaseLock


async def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.district_dir is not None:
        return await run_district(settings)
    # A folder the bot cannot write gets its own one-line message before the lock file is tried.
    await asyncio.to_thread(check_data_folders, settings)
    # Held until the process ends: a second `run`, a restore or an import fails at once. It guards
    # the SQLite file, which one process owns. On PostgreSQL behind webhooks several workers share the
    # school's database (outbox leases, sweep claims, Redis for conversations and the send rate), so
    # no lock; polling still takes it, since two pollers of one bot would fight over getUpdates.
    shared = settings.database_url is not None and bool(settings.webhook_url)
    with contextlib.nullcontext() if shared else DatabaseLock(settings.database_path, "run"):
        bot, max_bot = build_bots(settings)
        app = create_app(settings)
        await serve(app, bot, max_bot=max_bot)
    return 0


async def run_district(settings: Settings) -> int:
    """Every school's bots and the district's by webhook; polling serves one school only. On SQLite each
    school's store is this process's while it runs, as one school's is (several workers share a
    district on PostgreSQL, DATABASE_URL)."""
    if not settings.webhook_url:
        raise ConfigError(district_text("needs_webhook"))
    district = await build_district(settings)
    try:
        with contextlib.ExitStack() as locks:
            if settings.database_url is None:
                for app in district.schools.values():
                    locks.enter_context(DatabaseLock(app.settings.database_path, "run"))
            await serve_multibot(build_district_bots(district))
    finally:
        await district.close()
    return 0
