"""The access log (#24 item 5): append-only rows of who opened or exported what. The triggers of
migration 027 refuse UPDATE and DELETE, so the only writer is `AccessLogRepo.append`."""

from __future__ import annotations

from datetime import date, datetime

# These values are the domain's (bot/domain/access_log.py), re-exported for storage's callers.
from bot.domain.access_log import AccessRow as AccessRow
from bot.unit_of_work import Transaction, UnitOfWork
from storage.db import database_of, raw
from storage.dialect import returning_id
from storage.sql import Row
from storage.timefmt import from_db, to_db


def _row(row: Row) -> AccessRow:
    return AccessRow(
        id=row["id"], at=from_db(row["at"]), actor=row["actor"], channel=row["channel"], kind=row["kind"],
        object_id=row["object_id"], due_on=date.fromisoformat(row["due_on"]) if row["due_on"] else None,
    )


class AccessLogRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    @staticmethod
    async def append(
        conn: Transaction, *, at: datetime, actor: int | None, channel: str, kind: str,
        object_id: str | None, due_on: date | None = None,
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO access_log(at, actor, channel, kind, object_id, due_on) VALUES (?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (to_db(at), actor, channel, kind, object_id, due_on.isoformat() if due_on else None),
        )

    async def rows(self, *, since: datetime | None = None) -> list[AccessRow]:
        if since is None:
            found = await self.db.fetchall("SELECT * FROM access_log ORDER BY id")
        else:
            found = await self.db.fetchall("SELECT * FROM access_log WHERE at >= ? ORDER BY id", (to_db(since),))
        return [_row(r) for r in found]

    async def about(self, kind: str, object_id: str) -> list[AccessRow]:
        """Rows of one kind naming one object (a subject's own requests, for their report)."""
        found = await self.db.fetchall(
            "SELECT * FROM access_log WHERE kind = ? AND object_id = ? ORDER BY id", (kind, object_id)
        )
        return [_row(r) for r in found]
