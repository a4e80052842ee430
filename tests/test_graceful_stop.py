"""SIGTERM during a broadcast: the bot (a real `schoolbot run` process) stops polling, lets the
sends in flight finish, closes the database and exits 0; a restart delivers the rest, no copy twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from bot.config import startup_text
from bot.fakeapi import FakeTelegram
from tests.delivery_helpers import broadcast_deliveries, db_state, prepare_broadcast, start_bot, wait_until

RECIPIENTS = 100


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), timeout=15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_mid_broadcast_then_restart(tmp_path: Path) -> None:
    await prepare_broadcast(tmp_path, RECIPIENTS)
    async with FakeTelegram(rate_limited=True) as tg:
        proc = await start_bot(tg, tmp_path)

        async def some_sent() -> bool:
            return tg.stats.accepted_sends >= 30

        try:
            # The limits below include starting `schoolbot run` cold (20-25 s on a loaded 2-core CI
            # machine); what the test checks is the state at the stop, not how soon sending began.
            await wait_until(some_sent, timeout=120)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        assert await _stop(proc) == 0, (tmp_path / "bot.log").read_text()
        state = db_state(tmp_path)
        # Consistent: nothing left leased, every send Telegram accepted is recorded as sent.
        assert state["leased"] == 0 and state["sent_without_id"] == 0
        assert state["sent"] == tg.stats.accepted_sends
        assert state.get("pending", 0) > 0  # stopped mid-broadcast
        # The operator's stop line (printed whatever the log level) comes last in on_shutdown: the
        # shutdown ran to its end.
        assert startup_text("stopped") in (tmp_path / "bot.log").read_text()

        proc = await start_bot(tg, tmp_path)

        async def all_sent() -> bool:
            return tg.stats.accepted_sends >= RECIPIENTS

        try:
            await wait_until(all_sent, timeout=120)
        finally:
            assert await _stop(proc) == 0
        deliveries = broadcast_deliveries(tg, RECIPIENTS)
        assert set(deliveries.values()) == {1}  # a graceful stop duplicates nothing
        assert db_state(tmp_path)["sent"] == RECIPIENTS
