"""Memory of a district's schools in one process (#27): what each school's `App` costs, built as
bot/district/runtime.py builds it (the catalog and the FAQ library shared), against the same App built
alone (each loading its own catalog and FAQ), and with every school's store open (SQLite here: one
file and connection per school).

Run: `python -m bench.district_memory [--schools 50]`; with DATABASE_URL set the schools' stores are
schemas of that PostgreSQL database on one shared pool (a store open then costs next to nothing: no
connection of its own). Prints a table of traced Python allocations (tracemalloc) and the process's
resident set growth; never asserted (the machine varies).

Measured (50 schools, #27): built 87 KiB traced / 127 KiB RSS per school on SQLite (77 / 112 on
PostgreSQL), its store open +7 / +303 KiB on SQLite (a connection and its thread each) and +1 / +5 KiB
on PostgreSQL (the shared pool); a school App built alone, loading its own catalog and FAQ,
1,119-1,138 KiB traced / 2.2 MiB RSS."""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import tempfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.app import create_app
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG, Settings
from bot.district.runtime import build_district
from bot.district.schools import add_school, registry_store, school_settings
from bot.i18n import Catalog
from bot.services.district import DistrictRegistry
from scheduler.base import ManualScheduler

START = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def _rss_kb() -> int:
    # Linux: the resident set now, from /proc (ru_maxrss is the peak only).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _registry(settings: Settings, n: int) -> None:
    t = Catalog.load().bind("ru")
    store = registry_store(settings, t)
    await store.open()
    try:
        registry = DistrictRegistry(records=store, clock=ManualClock(START))
        text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
        for i in range(n):
            new = await registry.check_new_school(f"school-{i:03d}", f"Школа № {i}", text, "school.toml", t)
            await add_school(settings, registry, new, t)
    finally:
        await store.close()


async def measure(n: int) -> list[tuple[str, float, float]]:
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, district_dir=Path(tmp) / "district")
        await _registry(settings, n)

        gc.collect()
        tracemalloc.start()
        base_traced, base_rss = tracemalloc.get_traced_memory()[0], _rss_kb()
        district = await build_district(settings, clock=ManualClock(START), scheduler=ManualScheduler)
        gc.collect()
        built_traced, built_rss = tracemalloc.get_traced_memory()[0], _rss_kb()
        rows.append(("built (shared catalog and FAQ)", (built_traced - base_traced) / n / 1024,
                     (built_rss - base_rss) / n))
        await district.open()
        gc.collect()
        open_traced, open_rss = tracemalloc.get_traced_memory()[0], _rss_kb()
        rows.append(("+ its store open", (open_traced - built_traced) / n / 1024, (open_rss - built_rss) / n))
        alone_n = min(n, 10)
        gc.collect()
        before_alone, rss_alone = tracemalloc.get_traced_memory()[0], _rss_kb()
        alone = [
            create_app(school_settings(settings, district.info[key]), clock=district.clock, scheduler=ManualScheduler(),
                       school=district.info[key].config)
            for key in list(district.schools)[:alone_n]
        ]
        gc.collect()
        after_alone = tracemalloc.get_traced_memory()[0]
        rows.append((f"built alone (own catalog and FAQ; {alone_n} schools)",
                     (after_alone - before_alone) / alone_n / 1024, (_rss_kb() - rss_alone) / alone_n))
        del alone
        tracemalloc.stop()
        await district.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=50)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.schools))
    table = Table(title=f"Memory per school, {args.schools} schools in one process")
    table.add_column("per school")
    table.add_column("traced KiB", justify="right")
    table.add_column("RSS KiB", justify="right")
    for name, traced, rss in rows:
        table.add_row(name, f"{traced:,.0f}", f"{rss:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
