"""getUpdates (the webhook methods are in bot.fakeapi.webhook)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bot.fakeapi.errors import DEFAULT_DESCRIPTIONS, ApiError
from bot.fakeapi.params import Params, Uploads
from bot.fakeapi.state import FakeState
from bot.fakeapi.webhook import refuse_polling


async def get_updates(state: FakeState, params: Params, uploads: Uploads) -> Any:
    refuse_polling(state)
    queue = state.updates
    offset = int(params.get("offset") or 0)
    limit = min(max(int(params.get("limit") or 100), 1), 100)
    timeout = max(float(params.get("timeout") or 0), 0.0)
    allowed = params.get("allowed_updates")
    if isinstance(allowed, list):
        queue.allow(allowed)
    # A newer getUpdates terminates the older one with 409, as Telegram does.
    queue.poll_generation += 1
    generation = queue.poll_generation
    queue.notify()
    queue.confirm(offset)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        changed = queue.changed
        batch = queue.take(limit)
        remaining = deadline - loop.time()
        if batch or remaining <= 0 or state.closing.is_set():
            return batch
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)
        if generation != queue.poll_generation:
            raise ApiError(409, DEFAULT_DESCRIPTIONS[409])
