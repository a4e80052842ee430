"""Three real worker processes, one bot token, one Redis (issue #27): together they stay within the
token's 30 sends a second and one a second per chat, as the strict fake Telegram measures them."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.fakeapi import FakeTelegram
from tests.test_redis_rate import max_in_window, min_gap_per_chat

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHATS = [str(chat) for chat in range(7001, 7031)]


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode().strip()


async def test_three_worker_processes_share_one_tokens_rate(tmp_path: Path, redis_url: str) -> None:
    async with FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1) as tg:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "REDIS_", "MAX_", "WEBHOOK_"))}
        env.update(BOT_TOKEN=tg.token, BOT_API_URL=tg.base_url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.redis_worker", *CHATS, cwd=tmp_path, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]
        try:
            assert [await _line(w) for w in workers] == ["ready"] * 3
            for worker in workers:  # all three start sending together
                assert worker.stdin is not None
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
            assert [await _line(w) for w in workers] == ["done"] * 3
            assert [await asyncio.wait_for(w.wait(), timeout=30) for w in workers] == [0, 0, 0]
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.kill()
                    await worker.wait()
        sent = [(int(r.params["chat_id"]), r.time) for r in tg.requests if r.method == "sendMessage"]
        times = [t for _, t in sent]
        assert len(sent) == 90 and tg.stats.total_429 == 0
        assert min_gap_per_chat(sent) >= 1.0
        # Arrival times carry the network's jitter: the token's pace is 1/30 s apart when granted.
        assert max_in_window(times) <= 31
        print(
            f"\n3 processes, one token: {len(times)} sends in {max(times) - min(times):.2f} s, "
            f"{(len(times) - 1) / (max(times) - min(times)):.1f}/s; max in any 1 s {max_in_window(times)}; "
            f"min gap in a chat {min_gap_per_chat(sent):.3f} s; 429s {tg.stats.total_429}"
        )
