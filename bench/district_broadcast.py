"""A district broadcast through each school's own bot (#27 item 7): the aggregate rate against 10 × 30/s.

    python -m bench.district_broadcast                     # 10 schools × 300 families, one worker
    python -m bench.district_broadcast --families 100 --workers 3

One service (`schoolbot run` in district mode, one worker unless --workers says more) serves every
school's bot; each school's bot is its own fake Telegram with Telegram's limits (30 messages/s per
token, 1/s per chat, 429 with retry_after beyond), all behind one Bot API address. The families are
linked beforehand; `schoolbot district broadcast` queues the message in every school's outbox, and the
clock runs from then until the last family's message arrived. Never a timed test: it prints a table.
A token carries at most 30 messages/s, and the bot keeps bulk work at OUTBOX_RATE (25/s by default)
inside it, so the ceiling is schools × 25/s for a broadcast.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.district_common import district_rig, run_cli, servers, token_figures

TEXT = "Районное родительское собрание — 15 декабря в 18:00."


async def bench(schools: int, families: int, workers: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, servers() as (pg_url, redis_url):
        folder = Path(tmp)
        setup = time.monotonic()
        async with district_rig(folder, pg_url, redis_url, schools=schools, families=families) as rig:
            await rig.start(workers)
            ready = time.monotonic() - setup
            base = [len(tg.requests) for tg in rig.fakes]
            started = time.monotonic()
            await asyncio.to_thread(run_cli, rig.env, folder, "district", "broadcast", "--text", TEXT, "--yes",
                                    "--no-personal-data")
            queued = time.monotonic() - started
            total = schools * families
            while sum(1 for tg in rig.fakes for m in tg.sent() if TEXT in (m.plain or "")) < total:  # noqa: ASYNC110 - polls the fakes
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            # Per token: its broadcast's own span, from its first send to its last.
            spans = []
            for tg, first in zip(rig.fakes, base, strict=True):
                times = [r.time for r in tg.requests[first:] if r.method == "sendMessage" and r.status == 200]
                spans.append(len(times) / (max(times) - min(times)) if len(times) > 1 else 0.0)
            figures = [token_figures(tg) for tg in rig.fakes]
    rate = total / elapsed
    return [
        f"District broadcast: {schools} schools × {families} families = {total} messages, {workers} worker(s), "
        f"{os.cpu_count()} cores (setup {ready:.0f} s)",
        f"{'measure':<46} | {'value':>10} | target",
        "-" * 80,
        f"{'queued in every outbox (district broadcast)':<46} | {queued:>8.1f} s |",
        f"{'all delivered after':<46} | {elapsed:>8.1f} s |",
        f"{'aggregate rate':<46} | {rate:>6.0f} /s  | {schools} × 30 = {schools * 30}/s (bulk cap {schools} × 25)",
        f"{'per token, mean of each one own span':<46} | {statistics.mean(spans):>6.1f} /s  | 30/s (bulk 25/s)",
        f"{'per token, slowest':<46} | {min(spans):>6.1f} /s  |",
        f"{'most sends by one token in any 1 s':<46} | {max(f.max_per_second for f in figures):>10} | ≤ 30",
        f"{'most sends to one chat in any 1 s':<46} | {max(f.max_per_chat_second for f in figures):>10} | ≤ 1",
        f"{'429 answers from the fake':<46} | {sum(f.refused_429 for f in figures):>10} | 0",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=10)
    parser.add_argument("--families", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print("\n".join(asyncio.run(bench(args.schools, args.families, args.workers))))


if __name__ == "__main__":
    main()
