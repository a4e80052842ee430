"""Where conversation state lives (`conversation_storage`, the one choice): in Redis when REDIS_URL
is set (bot/tg/redis_fsm.py: several workers share it), else in the database (storage/fsm.py), so a
restart does not lose a half-finished dialogue.

The database storage:

aiogram reads the state of every update, and most handlers "clear" a state that is already
empty. This process is the only writer of the fsm table, so the whole table is read once into
memory and kept there write-through: reads and no-op writes cost no database round trip, and
every real change is committed before the call returns. The table only holds conversations in
progress (an emptied entry is deleted), so it stays small.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.config import Settings
from bot.tg.redis_fsm import redis_storage
from bot.unit_of_work import UnitOfWork
from storage.fsm import FsmRepo


def conversation_storage(settings: Settings, db: UnitOfWork) -> BaseStorage:
    """Redis with REDIS_URL (every worker reads and writes the same conversations), else the database
    with a write-through cache, which is right for the one process that owns a database."""
    if settings.redis_url is not None:
        return redis_storage(settings.redis_url.get_secret_value(), prefix=settings.redis_prefix,
                             max_connections=settings.redis_max_connections)
    return SQLiteStorage(db)


def _key(key: StorageKey) -> str:
    parts = (key.bot_id, key.chat_id, key.user_id, key.thread_id or 0, key.business_connection_id or "", key.destiny)
    return ":".join(str(p) for p in parts)


class SQLiteStorage(BaseStorage):
    def __init__(self, db: UnitOfWork) -> None:
        self.db = db
        self._cache: dict[str, tuple[str | None, dict[str, Any]]] | None = None

    async def _entries(self) -> dict[str, tuple[str | None, dict[str, Any]]]:
        if self._cache is None:
            self._cache = await FsmRepo(self.db).all()
        return self._cache

    async def _write(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        entries = await self._entries()
        if entries.get(key, (None, {})) == (state, data):
            return
        async with self.db.transaction() as conn:
            await FsmRepo.put(conn, key, state, data)
        if state is None and not data:
            entries.pop(key, None)
        else:
            entries[key] = (state, data)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        k = _key(key)
        _, data = (await self._entries()).get(k, (None, {}))
        await self._write(k, value, data)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._entries()).get(_key(key), (None, {}))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        k = _key(key)
        state, _ = (await self._entries()).get(k, (None, {}))
        # A JSON round trip: what is kept is exactly what a restart would read back, and a caller
        # mutating its dict later does not change it.
        await self._write(k, state, json.loads(json.dumps(dict(data), ensure_ascii=False)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return copy.deepcopy((await self._entries()).get(_key(key), (None, {}))[1])

    async def close(self) -> None:
        # The database is owned and closed by the application, not by the FSM.
        return None
