"""PostgreSQL against SQLite on the bot's common reads and writes (#27 item 7).

    python -m bench.backends                 # 1,000 families, a throwaway PostgreSQL
    python -m bench.backends --families 200  # quicker
    BENCH_DATABASE_URL=postgresql://... python -m bench.backends   # a server of your own (a fresh database)

The same school on each backend, built as `schoolbot run` builds it (bot/core.py through create_app:
the settings choose the backend), with the same roster imported; then, on each, what the bot does
most:
- roster import: the whole roster in one all-or-nothing write;
- consent decision: a parent's press recorded (the ledger row chained to the previous one, the head,
  the effects), one after another and 8 at once (PostgreSQL runs transactions side by side, SQLite's
  one connection serialises them);
- person by account: the read every update starts with;
- outbox claim: the sender's due-rows read and lease claim, 60 rows a round, until the queue is leased;
- /status: the IT officer's status screen (plan, consent coverage per class, codes, questions).
Never a timed test: it prints a table (ops/s, median and 95th percentile latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import settings_for
from bot.app import App, create_app
from bot.channels import Channel
from scheduler.base import ManualScheduler
from storage.accounts import AccountRepo
from storage.delivery import DeliveryRepo
from storage.outbox import OutboxRepo, Payload
from storage.people import PersonRepo
from tests.servers import start_pg_server

CLASSES = ["5А", "5Б", "6А", "6Б", "7А", "7Б", "8А", "8Б", "9А", "9Б"]
FIRST_CHAT = 300_000


@dataclass
class Measure:
    ops: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def roster_csv(families: int) -> bytes:
    lines = ["ФИО;Роль;Класс;Телефон;Дети", "Петров Пётр Петрович;ответственный по информатизации;;+79000000001;"]
    for f in range(families):
        cls = CLASSES[f % len(CLASSES)]
        child = f"Ученик{f:04d} Иван Петрович"
        lines.append(f"{child};ученик;{cls};;")
        lines.append(f"Родитель{f:04d} Анна Сергеевна;родитель;;+7901{f:07d};{child} ({cls})")
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


async def timed(calls: list[Callable[[], Awaitable[Any]]], concurrency: int = 1) -> Measure:
    latencies: list[float] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with slots:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in calls))
    return Measure(len(calls), time.perf_counter() - started, latencies)


async def measure_backend(app: App, families: int) -> dict[str, Measure]:
    out: dict[str, Measure] = {}
    now = app.clock.now()
    started = time.perf_counter()
    report = await app.services.roster_import.import_roster(roster_csv(families), "roster.csv", now=now)
    assert report.ok, report
    out["roster import"] = Measure(2 * families + 1, time.perf_counter() - started, [time.perf_counter() - started])

    parents = await app.people.with_role("parent")
    async with app.db.transaction() as conn:
        for i, parent in enumerate(parents):
            await AccountRepo.link(conn, parent.id, Channel.TELEGRAM, FIRST_CHAT + i, None, now)
    version = await app.services.consent.current()
    children = {p.id: [c.id for c in await app.people.children(p.id)] for p in parents}

    def decide(i: int, parent_index: int) -> Callable[[], Awaitable[Any]]:
        parent = parents[parent_index]

        async def call() -> None:
            await app.services.consent.decide(
                parent=parent, child_ids=children[parent.id], decision="given", version=version.number,
                channel=Channel.TELEGRAM, user_id=FIRST_CHAT + parent_index, update_id=None, callback_id=f"cb-{i}",
            )

        return call

    half = len(parents) // 2
    out["consent decision"] = await timed([decide(i, i) for i in range(half)])
    out["consent decision ×8"] = await timed([decide(half + i, half + i) for i in range(len(parents) - half)], 8)

    people = PersonRepo(app.db)
    reads: list[Callable[[], Awaitable[Any]]] = [
        functools.partial(people.by_account, Channel.TELEGRAM, FIRST_CHAT + i) for i in range(len(parents))
    ]
    out["person by account"] = await timed(reads)

    async with app.db.transaction() as conn:
        for i, parent in enumerate(parents):
            await OutboxRepo.enqueue(conn, dedupe_key=f"bench-claim:{i}", person_id=parent.id, kind="text",
                                     payload=Payload(text=f"Сообщение {i}"), now=now, broadcast_id=None)
    repo = DeliveryRepo(app.db)
    claimed = 0
    rounds: list[Callable[[], Awaitable[Any]]] = []

    async def claim_round() -> None:
        nonlocal claimed
        moment = app.clock.now()
        rows = await repo.due(moment, moment, 60, set())
        got = await repo.claim([r.id for r in rows], moment, moment)
        claimed += len(got)

    rounds = [claim_round for _ in range((len(parents) + 59) // 60 + 2)]
    m = await timed(rounds)
    out["outbox claim (rows)"] = Measure(claimed, m.seconds, m.latencies)

    it = (await app.people.with_role("it_officer"))[0]
    out["/status"] = await timed([lambda: app.services.status.collect(it) for _ in range(20)])
    return out


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """BENCH_DATABASE_URL, or a throwaway server (tests/servers.py) with a fresh database."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield given
        return
    server = start_pg_server()
    if server is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql) and BENCH_DATABASE_URL is unset")
    try:
        yield server.dsn()
    finally:
        server.stop()


async def run_backend(url: str | None, families: int) -> dict[str, Measure]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        extra: dict[str, Any] = {"database_url": url} if url else {}
        settings = settings_for(Path(tmp_dir), **extra)
        app = create_app(settings, scheduler=ManualScheduler())
        await app.open()
        try:
            return await measure_backend(app, families)
        finally:
            await app.close()


def table(results: dict[str, dict[str, Measure]]) -> str:
    names = list(next(iter(results.values())))
    head = f"{'operation':<22} | " + " | ".join(f"{b:^28}" for b in results)
    sub = f"{'':<22} | " + " | ".join(f"{'ops/s':>8} {'p50 ms':>8} {'p95 ms':>9}" for _ in results)
    lines = [head, sub, "-" * len(sub)]
    for name in names:
        cells = [f"{r[name].rate:>8.0f} {r[name].ms(0.5):>8.2f} {r[name].ms(0.95):>9.2f}" for r in results.values()]
        lines.append(f"{name:<22} | " + " | ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, dict[str, Measure]] = {}
    results["SQLite (file, WAL)"] = asyncio.run(run_backend(None, args.families))
    with throwaway_postgres() as url:
        results["PostgreSQL (pool, socket)"] = asyncio.run(run_backend(url, args.families))
    print(f"Backends, one school of {args.families} families ({2 * args.families + 1} people), "
          f"{os.cpu_count()} cores")
    print(table(results))


if __name__ == "__main__":
    main()
