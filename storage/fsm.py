"""aiogram FSM storage in SQLite, so a restart does not lose a half-finished dialogue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from storage.db import Database


def _key(key: StorageKey) -> str:
    parts = (key.bot_id, key.chat_id, key.user_id, key.thread_id or 0, key.business_connection_id or "", key.destiny)
    return ":".join(str(p) for p in parts)


class SQLiteStorage(BaseStorage):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO fsm(key, state) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET state = excluded.state",
                (_key(key), value),
            )

    async def get_state(self, key: StorageKey) -> str | None:
        value = await self.db.fetchval("SELECT state FROM fsm WHERE key = ?", (_key(key),))
        return None if value is None else str(value)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO fsm(key, data) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data",
                (_key(key), json.dumps(dict(data), ensure_ascii=False)),
            )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        raw = await self.db.fetchval("SELECT data FROM fsm WHERE key = ?", (_key(key),))
        if not raw:
            return {}
        data = json.loads(raw)
        return data if isinstance(data, dict) else {}

    async def close(self) -> None:
        # The database is owned and closed by the application, not by the FSM.
        return None
