"""What one more bot costs the process that serves a district's bots (#27 item 3, bot/multibot.py): the
one Dispatcher and router tree (built once), each school's per-update pieces (its handler values, its
conversation-state, update-guard, person and send-guard middlewares), a school's own Telegram and MAX
bots (Bot, session, send limiter) with their webhook routes. The schools' Apps themselves are
bench/district_memory.py's table.

Run: `python -m bench.multibot_bots [--schools 50]`. Prints traced Python allocations (tracemalloc) and
objects the collector tracks; never asserted (the machine varies). Not counted: each bot's HTTP
connection to its messenger, opened at its first request (aiohttp keeps one pool per Bot session)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from bot.app import build_bot, build_max_bot, build_routers
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG, Settings
from bot.district.runtime import build_district
from bot.district.schools import add_school, registry_store
from bot.i18n import Catalog
from bot.multibot import Multibot, School, build_multibot_dispatcher
from bot.services.district import DistrictRegistry
from bot.webhook import WebhookServer
from scheduler.base import ManualScheduler

START = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


async def _registry(settings: Settings, n: int, *, own_bots: bool) -> None:
    t = Catalog.load().bind("ru")
    store = registry_store(settings, t)
    await store.open()
    try:
        registry = DistrictRegistry(records=store, clock=ManualClock(START))
        text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
        for i in range(n):
            tokens = {"telegram_token": f"{100_000 + i}:SCHOOL-{i}", "max_token": f"max-{i}"} if own_bots else {}
            new = await registry.check_new_school(f"school-{i:03d}", f"Школа № {i}", text, "school.toml", t, **tokens)
            await add_school(settings, registry, new, t)
    finally:
        await store.close()


def _now() -> tuple[int, int]:
    gc.collect()
    return tracemalloc.get_traced_memory()[0], len(gc.get_objects())


async def measure(n: int) -> list[tuple[str, float, float]]:
    # The router tree, built once for the process whatever the number of bots (the modules are loaded).
    build_routers()
    tracemalloc.start()
    base = _now()
    kept = build_routers()
    once = _now()
    del kept
    tracemalloc.stop()
    tree = (once[0] - base[0], once[1] - base[1])
    rows: list[tuple[str, float, float]] = [("the router tree (once per process)", tree[0] / 1024, tree[1])]
    for own_bots in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                _env_file=None, district_dir=Path(tmp) / "district", bot_token=SecretStr("999:DISTRICT"),
                webhook_url="https://district.example/hook", webhook_secret=SecretStr("bench-webhook-secret-0123"),
            )  # fmt: skip
            await _registry(settings, n, own_bots=own_bots)
            district = await build_district(settings, clock=ManualClock(START), scheduler=ManualScheduler)
            tracemalloc.start()
            base = _now()
            schools = {}
            for key, app in district.schools.items():
                own = app.settings
                schools[key] = School(key, app, bot=build_bot(own) if own.bot_token else None,
                                      max_bot=build_max_bot(own))
            bots = _now()
            multibot = Multibot(schools, settings, district_bot=build_bot(settings))
            build_multibot_dispatcher(multibot)
            built = _now()
            WebhookServer(multibot.dispatcher, settings, multibot.hooks()).application()  # type: ignore[arg-type]
            routed = _now()
            tracemalloc.stop()
            if own_bots:
                rows.append(("a school's own Telegram and MAX bots (2 Bots)", (bots[0] - base[0]) / n / 1024,
                             (bots[1] - base[1]) / n))
                rows.append(("their 2 webhook routes", (routed[0] - built[0]) / n / 1024, (routed[1] - built[1]) / n))
            else:
                rows.append(("a school's per-update pieces (the tree taken out)",
                             (built[0] - bots[0] - tree[0]) / n / 1024, (built[1] - bots[1] - tree[1]) / n))
            await district.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=50)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.schools))
    table = Table(title=f"One more bot in the district's process ({args.schools} schools)")
    table.add_column("per school (first row: once)")
    table.add_column("traced KiB", justify="right")
    table.add_column("objects", justify="right")
    for name, traced, objects in rows:
        table.add_row(name, f"{traced:,.1f}", f"{objects:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
