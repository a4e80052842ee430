"""The memory of one worker with 300 schools of 1,000 people each in the database (#27 item 7).

    python -m bench.district_worker_memory                           # 300 schools × 1,000 people
    python -m bench.district_worker_memory --schools 50 --people 500

Every school is added as `schoolbot district add-school` adds it (its schema with every migration, its
registry row with its own bot's token), then its people are written in bulk (COPY): pupils, a parent
each (linked to a Telegram account), a few staff, the families' links. One worker (`schoolbot run` in
district mode) then serves every school's bot by webhook; its resident memory is read once it has
started every school (every webhook registered), and again after each school handled an update.
The bots' Bot API calls go to one fake Telegram that answers for every token (memory, not the
messenger, is measured here). Never a timed test: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

from bench.district_common import (
    ApiRouter,
    RoundRobinProxy,
    free_port,
    private_toml,
    school_key,
    school_token,
    servers,
    start_worker,
    wait_listening,
)
from bot.clock import SystemClock
from bot.config import load_settings
from bot.district.schools import add_school, registry_store
from bot.fakeapi import FakeTelegram
from bot.i18n import Catalog
from bot.services.district import DistrictRegistry
from storage.district import schema_name

NOW = "2026-12-07T10:00:00.000000Z"  # storage/timefmt.py writes times so
STAFF = 10


def _copy(conn: psycopg.Connection[object], table: str, columns: str, rows: list[tuple[object, ...]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def fill(url: str, schools: int, people: int) -> None:
    """Each school's people, written with COPY: STAFF staff, then pupils and one parent each."""
    families = (people - STAFF) // 2
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(schools):
            s = schema_name(school_key(i))
            persons: list[tuple[object, ...]] = []
            roles: list[tuple[object, ...]] = []
            guardians: list[tuple[object, ...]] = []
            accounts: list[tuple[object, ...]] = []
            for n in range(1, STAFF + 1):
                phone = f"+7903{i:03d}{n:04d}"
                persons.append((n, f"staff-{n}", f"Учитель{n:03d} Ольга Ивановна", None, phone, NOW, NOW))
                roles.append((n, "it_officer" if n == 1 else "teacher"))
            for f in range(families):
                child, parent = STAFF + 1 + 2 * f, STAFF + 2 + 2 * f
                cls = f"{5 + f % 7}А"
                persons.append((child, f"child-{f}", f"Ученик{f:05d} Иван Петрович", cls, None, NOW, NOW))
                persons.append((parent, f"parent-{f}", f"Родитель{f:05d} Анна Сергеевна", None,
                                f"+7904{i:03d}{f:04d}", NOW, NOW))
                roles += [(child, "student"), (parent, "parent")]
                guardians.append((parent, child))
                accounts.append((parent, "telegram", 20_000_000 + i * 10_000 + f, NOW, NOW))
            with conn.transaction():
                _copy(conn, f"{s}.persons", "id, roster_key, full_name, class_label, phone, created_at, updated_at",
                      persons)
                _copy(conn, f"{s}.person_roles", "person_id, role", roles)
                _copy(conn, f"{s}.guardians", "parent_id, child_id", guardians)
                _copy(conn, f"{s}.accounts", "person_id, channel, user_id, linked_at, created_at", accounts)
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{s}.persons', 'id'), %s)", (len(persons),))


async def add_schools(env: dict[str, str], folder: Path, schools: int) -> None:
    """`schoolbot district add-school` for each school, in this process (300 processes would take
    longer than the rest of the benchmark)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    t = Catalog.load().bind("ru")
    store = registry_store(settings, t)
    await store.open()
    toml = private_toml(folder).read_text(encoding="utf-8")
    try:
        registry = DistrictRegistry(records=store, clock=SystemClock())
        for i in range(schools):
            new = await registry.check_new_school(school_key(i), f"Школа № {i + 1}", toml, "school.toml", t,
                                                  telegram_token=school_token(i))
            await add_school(settings, registry, new, t)
    finally:
        await store.close()


async def bench(schools: int, people: int) -> list[str]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, servers() as (pg_url, redis_url):
        folder = Path(tmp)
        async with FakeTelegram(token=school_token(0)) as tg:
            tg.webhooks.allow_http = True
            router = ApiRouter([], default=tg)
            await router.start()
            proxy = RoundRobinProxy([free_port()])
            await proxy.start()
            env = {
                "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "DISTRICT_DIR": str(folder / "district"),
                "BOT_API_URL": router.base_url, "WEBHOOK_URL": f"{proxy.base_url}/schoolbot",
                "WEBHOOK_SECRET": "bench-webhook-secret-0123456789", "LOG_LEVEL": "WARNING",
                "BOT_TOKEN": "", "MAX_TOKEN": "", "ADMIN_IDS": "",
            }
            started = time.monotonic()
            await add_schools(env, folder, schools)
            made = time.monotonic() - started
            started = time.monotonic()
            await asyncio.to_thread(fill, pg_url, schools, people)
            filled = time.monotonic() - started
            with psycopg.connect(pg_url) as conn:
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            worker = start_worker(env, proxy.ports[0], folder, name="w")
            try:
                started = time.monotonic()
                await wait_listening([worker], timeout=1800)
                while sum(1 for r in tg.requests if r.method == "setWebhook" and r.status == 200) < schools:
                    if not worker.alive:
                        raise RuntimeError(worker.output()[-3000:])
                    await asyncio.sleep(0.5)
                up = time.monotonic() - started
                process = psutil.Process(worker.proc.pid)
                await asyncio.sleep(5)  # settled: the first minute's ticks ran
                rss_up = process.memory_info().rss
                rows += [
                    ("schools × people in the database", f"{schools} × {people} = {schools * people:,}"),
                    ("database size", f"{(size[0] if size else 0) / 2**20:,.0f} MB"),
                    ("add-school × N (schema + migrations)", f"{made:,.0f} s"),
                    ("people written (COPY)", f"{filled:,.1f} s"),
                    ("worker start until every webhook set", f"{up:,.0f} s"),
                    ("worker RSS, every school served", f"{rss_up / 2**20:,.0f} MB"),
                    ("RSS ÷ schools (the process itself included)", f"{rss_up / 2**20 / schools:,.2f} MB"),
                ]
            finally:
                worker.stop()
            await proxy.stop()
            await router.stop()
    return [f"One worker's memory, {schools} schools of {people} people, PostgreSQL + Redis, {os.cpu_count()} cores",
            *(f"{name:<40} | {value}" for name, value in rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=300)
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    print("\n".join(asyncio.run(bench(args.schools, args.people))))


if __name__ == "__main__":
    main()
