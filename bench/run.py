"""Benchmarks P1-P8 against the fake Bot API server with Telegram-like limits.

    python -m bench.run            # the full run (about 8 minutes)
    python -m bench.run --quick    # 400 messages per scenario, for a smoke check
    python -m bench.run P7         # only the named rows (P1 ... P8), full or --quick

Never run in CI and never asserted: it prints a table of what it measured next to the targets of
issue #3. Each scenario uses a fresh temporary database and a fresh fake server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Dispatcher
from aiogram.types import Message

from bench import p8

# --- P5: update handling ----------------------------------------------------------------------
from bench.common import FIRST_CHAT, Row, SendResult, _fill_outbox, run_sender, settings_for
from bot.app import build_bot, create_app, serve
from bot.fakeapi import FakeTelegram
from scheduler.base import ManualScheduler


async def _updates_per_second(
    tg: FakeTelegram, count: int, start_bot: Callable[[], Any], text: str = "/start"
) -> float:
    task = await start_bot()
    users = [tg.user(200_000 + i, f"User{i}") for i in range(count)]
    await asyncio.sleep(0.5)
    base = len(tg.sent())
    started = time.monotonic()
    for user in users:
        await user.send(text)
    while len(tg.sent()) - base < count:  # noqa: ASYNC110 - a benchmark polls the fake's record
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    await task()
    return count / elapsed


async def p5(count: int, text: str = "/start", *, limits: bool = True) -> tuple[float, float]:
    """Updates/s of the bot as `schoolbot run` builds it vs a bare aiogram bot. With ``limits=False``
    Telegram's 30 sends/s are lifted on both sides (the fake and the bot's own limiter), so the ratio
    shows what the code costs rather than the send limit every bot must keep."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with FakeTelegram(rate_limited=limits) as tg:
            settings = settings_for(tmp, tg)
            if not limits:
                # model_copy skips validation: the real settings refuse more than Telegram allows.
                settings = settings.model_copy(update={"send_rate": 1e6, "outbox_rate": 1e6})
            app = create_app(settings, scheduler=ManualScheduler())
            bot = build_bot(app.settings)

            async def start_full() -> Callable[[], Any]:
                serving = asyncio.create_task(serve(app, bot, handle_signals=False))
                while app.sender is None:  # noqa: ASYNC110 - startup takes a few ms
                    await asyncio.sleep(0.02)

                async def stop() -> None:
                    assert app.dispatcher is not None
                    await app.dispatcher.stop_polling()
                    await serving

                return stop

            full = await _updates_per_second(tg, count, start_full, text)

        # A bare aiogram bot without a send limiter, for comparison: Telegram's limits off.
        async with FakeTelegram(rate_limited=False) as tg:
            bare_bot = tg.make_bot()
            dp = Dispatcher()

            async def answer(message: Message) -> None:
                await message.answer("Здравствуйте!")

            dp.message.register(answer)

            async def start_bare() -> Callable[[], Any]:
                polling = asyncio.create_task(dp.start_polling(bare_bot, handle_signals=False))

                async def stop() -> None:
                    await dp.stop_polling()
                    await polling

                return stop

            bare = await _updates_per_second(tg, count, start_bare, text)
    return full, bare


# --- P6: memory --------------------------------------------------------------------------------

PROBE = r"""
import asyncio, csv, io, resource, sys, tempfile
from pathlib import Path
import psutil
from bench.common import settings_for
from bot.app import create_app, build_dispatcher
from bot.services import broadcast
from scheduler.base import ManualScheduler

async def main():
    tmp = Path(tempfile.mkdtemp())
    app = create_app(settings_for(tmp), scheduler=ManualScheduler())
    await app.open()
    build_dispatcher(app)
    rows = [["ФИО", "Роль", "Класс", "Телефон", "Дети"]]
    classes = [f"{g}{l}" for g in range(1, 12) for l in "АБВ"]
    for i in range(1200):
        rows.append([f"Ученик{i} Тест Тестович", "ученик", classes[i % len(classes)], "", ""])
    for i in range(700):
        rows.append([f"Родитель{i} Тест Тестович", "родитель", "", f"+7900{i:07d}",
                     f"Ученик{i} Тест Тестович; Ученик{i + 700 if i + 700 < 1200 else i} Тест Тестович"])
    for i in range(100):
        rows.append([f"Учитель{i} Тест Тестович", "учитель", "", f"+7901{i:07d}", ""])
    buf = io.StringIO(); csv.writer(buf, delimiter=";").writerows(rows)
    roster = app.services.roster_import
    report = await roster.import_roster(buf.getvalue().encode("utf-8"), "roster.csv", now=app.clock.now())
    assert report.ok, report.errors[:3]
    people = await app.people.active()
    await app.services.broadcast.preview(broadcast.Audience("all"))
    await app.close()
    rss = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(people)} {rss:.1f} {peak:.1f}")

asyncio.run(main())
"""


BASELINE = "import aiogram.types, psutil; print(psutil.Process().memory_info().rss / 2**20)"


def p6() -> tuple[int, float, float, float]:
    """(people, RSS MB, peak RSS MB) of a fresh process that imported the roster, and the RSS of a
    process that only imports aiogram's types (the floor under any aiogram bot)."""
    root = Path(__file__).resolve().parents[1]
    # Our own interpreter with code from this file: nothing untrusted.
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=root
    ).stdout.split()
    floor = subprocess.run(  # noqa: S603
        [sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    return int(out[0]), float(out[1]), float(out[2]), float(floor)


# --- P7: direct answers during a broadcast ----------------------------------------------------------


@dataclass
class P7Result:
    latencies: list[float]
    unanswered: int
    n429: int
    broadcast_rate: float
    total_rate: float


async def p7(count: int, users: int, pace: float = 30.0) -> P7Result:
    """A `count`-message broadcast at `pace` through the running bot (server with Telegram's limits);
    once it is under way, `users` new users send /start, spread over most of the broadcast. Each
    user's latency is from sending /start to the bot's answer arriving at the server."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1) as tg:
            app = create_app(settings_for(tmp, tg, outbox_rate=pace), scheduler=ManualScheduler())
            await app.open()
            await _fill_outbox(app, count, "text")
            bot = build_bot(app.settings)
            serving = asyncio.create_task(serve(app, bot, handle_signals=False))
            while app.sender is None:  # noqa: ASYNC110 - startup takes a few ms
                await asyncio.sleep(0.02)
            while tg.stats.accepted_sends < min(count // 10, 150):  # noqa: ASYNC110 - polls the fake's record
                await asyncio.sleep(0.05)
            latencies: list[float] = []
            unanswered = 0
            spread = 0.6 * count / pace  # seconds over which the users arrive

            async def one(index: int) -> None:
                nonlocal unanswered
                await asyncio.sleep(spread * index / users)
                user = tg.user(900_000 + index, f"Гость{index}")
                started = time.monotonic()
                await user.send("/start")
                try:
                    await tg.wait_for(user.id, timeout=60)
                except AssertionError:
                    unanswered += 1
                    return
                latencies.append(time.monotonic() - started)

            await asyncio.gather(*(one(i) for i in range(users)))
            while await app.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'"):  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.1)
            assert app.dispatcher is not None
            await app.dispatcher.stop_polling()
            await serving
            bulk = [r.time for r in tg.requests
                    if r.method == "sendMessage" and r.status == 200
                    and FIRST_CHAT <= int(r.params.get("chat_id") or 0) < FIRST_CHAT + count]
            sends = [r.time for r in tg.requests if r.method == "sendMessage" and r.status == 200]
            n429 = tg.stats.total_429
    elapsed = max(bulk) - min(bulk)
    return P7Result(
        latencies=latencies,
        unanswered=unanswered,
        n429=n429,
        broadcast_rate=(len(bulk) - 1) / elapsed,
        total_rate=(len(sends) - 1) / (max(sends) - min(sends)),
    )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def p7_row(quick: bool) -> Row:
    count, users = (400, 40) if quick else (2000, 200)
    r = await p7(count, users)
    return Row(
        "P7", f"{users} users send /start during a {count}-message broadcast at 30/s",
        f"answer p50 {_percentile(r.latencies, 0.5):.2f} s, p95 {_percentile(r.latencies, 0.95):.2f} s, "
        f"max {max(r.latencies, default=float('nan')):.2f} s; unanswered {r.unanswered}; 429: {r.n429}; "
        f"broadcast {r.broadcast_rate:.1f}/s = {r.broadcast_rate / 30:.0%} of pace "
        f"(all sends {r.total_rate:.1f}/s)",
        "p95 <=1.5 s, 0 x 429, broadcast >=90%",
    )


# --- main --------------------------------------------------------------------------------------


ROWS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8")


async def main(quick: bool, only: set[str] | None = None) -> list[Row]:
    n = 400 if quick else 2000
    rows: list[Row] = []
    wanted = only or set(ROWS)

    def sends(name: str, what: str, r: SendResult, target: str) -> None:
        rows.append(Row(name, what, f"{r.rate:.1f}/s = {r.fraction:.0%} of pace; 429: {r.n429} "
                        f"({r.n429 / n:.1%}); lost {r.lost}; dup {r.duplicated}", target))

    if "P1" in wanted:
        for pace in (30.0, 25.0):
            r = await run_sender(n, pace)
            sends("P1", f"{n} texts, pace {pace:.0f}/s", r, ">=95%, 0 lost, 0 dup, <=1% 429")
    if "P2" in wanted:
        r = await run_sender(n, 30.0, fault_429=0.01)
        sends("P2", f"{n} texts, 1% answered 429, pace 30/s", r, ">=80%, 0 lost")
    if "P3" in wanted:
        r = await run_sender(n, 30.0, latency=0.1)
        sends("P3", f"{n} texts, +100 ms latency, pace 30/s", r, ">=95%")
    if "P4" in wanted:
        r = await run_sender(n, 30.0, kind="photo")
        rows.append(Row("P4", f"{n} QR-card photos, pace 30/s",
                        f"render median {r.extra['render_median_ms']:.1f} ms; {r.rate:.1f}/s = {r.fraction:.0%}; "
                        f"lost {r.lost}; dup {r.duplicated}", "<=12 ms, >=95%"))
    if "P5" in wanted:
        # /start of an unknown user also sets per-chat commands (two API calls); a plain text is one
        # reply in both bots, so it isolates the middlewares' and the database's cost.
        for label, text in (("/start", "/start"), ("a plain text", "Когда собрание?")):
            full, bare = await p5(200 if quick else 500, text)
            rows.append(Row("P5", f"updates/s, full bot vs bare aiogram: {label}",
                            f"{full:.0f} vs {bare:.0f} updates/s = {full / bare:.2f}", ">=0.75"))
        for label, text in (("/start", "/start"), ("a plain text", "Когда собрание?")):
            full, bare = await p5(200 if quick else 500, text, limits=False)
            rows.append(Row("P5", f"the same, Telegram's 30 sends/s lifted: {label}",
                            f"{full:.0f} vs {bare:.0f} updates/s = {full / bare:.2f}", "(what the code costs)"))
    if "P6" in wanted:
        people, rss, peak, floor = p6()
        rows.append(Row("P6", f"memory with a {people}-person roster",
                        f"RSS {rss:.0f} MB, peak {peak:.0f} MB (importing aiogram.types alone: {floor:.0f} MB)",
                        "<150 MB"))
    if "P7" in wanted:
        rows.append(await p7_row(quick))
    if "P8" in wanted:
        rows += [Row(*row) for row in await p8.rows()]
    return rows


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="schoolbot delivery benchmarks")
    for column in ("", "scenario", "measured", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.name, row.what, row.measured, row.target)
    Console(width=160).print(table)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="400 messages per scenario instead of 2,000")
    parser.add_argument("rows", nargs="*", metavar="ROW", type=str.upper,
                        help=f"run only these rows ({', '.join(ROWS)}); all when none is named")
    args = parser.parse_args()
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; known: {', '.join(ROWS)}")
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    started = time.monotonic()
    rows = asyncio.run(main(args.quick, set(args.rows) or None))
    print_table(rows)
    print(f"total {time.monotonic() - started:.0f} s; peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    cli()
