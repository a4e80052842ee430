"""Runs the capabilities' sweeps (declared in bot/capabilities.py) in their order, each minute.

With several workers on one database (#27), each worker's tick first claims the minute's sweeps
(`SweepClaims`, storage/sweep_runs.py) and runs only those it won, so each sweep runs once per
minute across workers. While it runs them it renews its claims every RENEW_EVERY seconds; each
sweep's claim is marked finished when it ends, failed or not (the next minute retries it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from scheduler.base import Sweep, SweepClaims

log = logging.getLogger(__name__)

RENEW_EVERY = 30.0  # real seconds; a claim's lease is two minutes


async def run_sweeps(now: datetime, sweeps: Sequence[tuple[str, Sweep]], claims: SweepClaims | None = None) -> None:
    """Run `sweeps` at `now`: all of them, or with `claims` those this worker won for the minute."""
    if claims is None:
        for name, sweep in sweeps:
            await _run(name, sweep, now)
        return
    try:
        won = await claims.claim([name for name, _ in sweeps], now)
    except Exception:
        # Nothing claimed, nothing run: the next tick claims again.
        log.exception("could not claim this minute's sweeps")
        return
    mine = [(name, sweep) for name, sweep in sweeps if name in won]
    unfinished = [name for name, _ in mine]
    keeper = asyncio.create_task(_keep(claims, unfinished, now), name="sweep-claims-keeper")
    try:
        for name, sweep in mine:
            try:
                await _run(name, sweep, now)
            finally:
                unfinished.remove(name)
                try:
                    await claims.finish(name, now)
                except Exception:
                    # Its lease runs out instead; the next minute's claim is not held back long.
                    log.exception("could not mark sweep %s finished", name)
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


async def _run(name: str, sweep: Sweep, now: datetime) -> None:
    try:
        await sweep(now)
    except Exception:
        # One broken sweep must not stop the others; the next minute retries it.
        log.exception("sweep %s failed", name)


async def _keep(claims: SweepClaims, unfinished: list[str], now: datetime) -> None:
    """Renew this tick's unfinished claims while the sweeps run (a long one outlasts a lease)."""
    while unfinished:
        await asyncio.sleep(RENEW_EVERY)
        try:
            await claims.renew(list(unfinished), now)
        except Exception:
            log.warning("could not renew the sweeps' claims; another worker may take them", exc_info=True)
