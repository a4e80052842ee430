"""Conversations in progress (aiogram's FSM state), one row per key; bot/tg/fsm.py keeps them in
memory write-through and reads them from here once."""

from __future__ import annotations

import json
from typing import Any

from bot.unit_of_work import Transaction, UnitOfWork
from storage.db import database_of, raw


class FsmRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def all(self) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """key -> (state, data) of every conversation in progress."""
        out: dict[str, tuple[str | None, dict[str, Any]]] = {}
        for row in await self.db.fetchall("SELECT key, state, data FROM fsm"):
            loaded = json.loads(row["data"] or "{}")
            out[row["key"]] = (row["state"], loaded if isinstance(loaded, dict) else {})
        return out

    @staticmethod
    async def put(conn: Transaction, key: str, state: str | None, data: dict[str, Any]) -> None:
        """Store the entry; an empty one (no state, no data) is deleted, so the table holds only
        conversations in progress."""
        conn = raw(conn)
        if state is None and not data:
            await conn.execute("DELETE FROM fsm WHERE key = ?", (key,))
        else:
            await conn.execute(
                "INSERT INTO fsm(key, state, data) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " state = excluded.state, data = excluded.data",
                (key, state, json.dumps(data, ensure_ascii=False)),
            )
