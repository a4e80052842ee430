"""The updates waiting for the bot's getUpdates, with Telegram's offset and allowed_updates rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

# Update types Telegram delivers when allowed_updates is unset or empty.
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


@dataclass
class _Queued:
    update: dict[str, Any]
    # A re-pushed (duplicate) update_id survives the offset that already confirmed it until it has
    # been delivered once; otherwise a duplicate could never reach a bot that confirmed the original.
    replay: bool = False
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next((key for key in self.update if key != "update_id"), "")


class UpdateQueue:
    def __init__(self) -> None:
        self._queue: list[_Queued] = []
        self.last_update_id = 0
        self.allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.poll_generation = 0
        # Replaced after being set, so each waiter wakes once per change.
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, update: dict[str, Any]) -> int:
        """Enqueue a raw update. Without ``update_id`` the next one is assigned; an explicit id
        that was already used is delivered again (a duplicate, as Telegram sometimes does)."""
        update = dict(update)
        replay = False
        if "update_id" in update:
            update_id = int(update["update_id"])
            replay = update_id <= self.last_update_id
            self.last_update_id = max(self.last_update_id, update_id)
        else:
            self.last_update_id += 1
            update_id = self.last_update_id
        update["update_id"] = update_id
        self._queue.append(_Queued(update, replay=replay))
        self.notify()
        return update_id

    def pending(self) -> list[dict[str, Any]]:
        return [item.update for item in self._queue]

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def clear(self) -> None:
        self._queue.clear()

    def allow(self, allowed: list[Any]) -> None:
        # Telegram remembers the setting until the next call that passes it; [] resets it.
        self.allowed = frozenset(allowed) or DEFAULT_UPDATE_TYPES

    def confirm(self, offset: int) -> None:
        if offset < 0:
            # Negative offset: only the last -offset updates remain, the rest are forgotten.
            self._queue = self._queue[offset:]
        elif offset > 0:
            self._queue = [q for q in self._queue if q.update_id >= offset or (q.replay and not q.delivered)]

    def first(self) -> _Queued | None:
        """The next update a webhook delivery posts (types the bot did not ask for are dropped)."""
        self._queue = [q for q in self._queue if q.kind in self.allowed]
        return self._queue[0] if self._queue else None

    def remove(self, item: _Queued) -> None:
        """``item`` was accepted by the webhook."""
        item.delivered = True
        self._queue = [q for q in self._queue if q is not item]
        self.notify()

    def take(self, limit: int) -> list[dict[str, Any]]:
        # Updates of types the bot did not ask for are dropped, never delivered (as on Telegram).
        self._queue = [q for q in self._queue if q.kind in self.allowed]
        batch = self._queue[:limit]
        for item in batch:
            item.delivered = True
        return [item.update for item in batch]
