"""Where a wire's long polling resumes after a restart (migration 035): MAX's ``marker``."""

from __future__ import annotations

from bot.unit_of_work import UnitOfWork
from storage.db import database_of


class UpdateCursorRepo:
    """The polling marker of one wire (``channel``, e.g. "max"). ``load`` and ``save`` are what the
    MAX session asks of its marker store (bot.max.session.MarkerStore)."""

    def __init__(self, db: UnitOfWork, channel: str) -> None:
        self.db = database_of(db)
        self.channel = channel

    async def load(self) -> int | None:
        value = await self.db.fetchval("SELECT marker FROM update_cursors WHERE channel = ?", (self.channel,))
        return None if value is None else int(value)

    async def save(self, marker: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO update_cursors(channel, marker) VALUES (?, ?)"
                " ON CONFLICT(channel) DO UPDATE SET marker = excluded.marker",
                (self.channel, marker),
            )
