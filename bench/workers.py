"""Updates per second with 1, 2 and 4 workers on PostgreSQL (#27 item 7).

    python -m bench.workers                        # 10 schools, 600 updates per run
    python -m bench.workers --updates 300 --counts 1 2

A district of 10 schools (each its own bot and fake Telegram, families linked beforehand) served by
N `schoolbot run` workers behind the reverse proxy (round robin), sharing PostgreSQL and Redis.
Every family's parent writes /start to their school's bot at once; each bot's updates are posted as
Telegram posts them, over several connections at once (20 per bot). Measured: from the first update
to the last one answered (a worker answers the webhook once its handlers ran, the reply sent). The
replies are within Telegram's limits (30/s per bot, so 300/s for ten bots), which is not what bounds
this: each worker is one Python process on one core. Never a timed test: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from bench.district_common import ConcurrentDelivery, district_rig, servers


async def bench(schools: int, updates: int, counts: list[int]) -> list[str]:
    families = max(1, updates // schools)
    rows: list[tuple[int, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp, servers() as (pg_url, redis_url):
        folder = Path(tmp)
        async with district_rig(folder, pg_url, redis_url, schools=schools, families=families) as rig:
            deliveries = [ConcurrentDelivery(tg, connections=20) for tg in rig.fakes]
            for delivery in deliveries:
                await delivery.start()
            try:
                for count in counts:
                    await rig.start(count)
                    posted = [d.posted for d in deliveries]
                    sent = sum(len(tg.sent()) for tg in rig.fakes)
                    started = time.monotonic()
                    for i in range(schools):
                        for f in range(families):
                            await rig.users[(i, f)].send("/start")
                    total = schools * families
                    while sum(d.posted for d in deliveries) - sum(posted) < total:  # noqa: ASYNC110 - polls
                        await asyncio.sleep(0.02)
                    elapsed = time.monotonic() - started
                    replies = sum(len(tg.sent()) for tg in rig.fakes) - sent
                    rows.append((count, elapsed, total / elapsed, replies))
                    rig.stop_workers()
            finally:
                for delivery in deliveries:
                    await delivery.stop()
    one = rows[0][2]
    lines = [
        f"Updates per second, {schools} schools, {schools * families} updates (/start from linked parents) per run, "
        f"PostgreSQL + Redis, {os.cpu_count()} cores",
        f"{'workers':>7} | {'seconds':>8} | {'updates/s':>9} | {'× one worker':>12} | replies",
        "-" * 60,
    ]
    lines += [f"{c:>7} | {e:>8.1f} | {r:>9.1f} | {r / one:>12.2f} | {n}" for c, e, r, n in rows]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=10)
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print("\n".join(asyncio.run(bench(args.schools, args.updates, args.counts))))


if __name__ == "__main__":
    main()
