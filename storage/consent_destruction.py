"""Destruction tasks opened by a withdrawn consent (migration 024): the task, its reminders and who
confirmed the destruction, all append-only. Reads take the caller's connection."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

# These values are the domain's (bot/domain/destruction.py), re-exported for storage's callers.
from bot.domain.destruction import Confirmation as Confirmation
from bot.domain.destruction import Destruction as Destruction
from bot.unit_of_work import Connection, Transaction
from storage.db import fetchall_in, fetchone_in, raw
from storage.dialect import returning_id
from storage.sql import Row
from storage.timefmt import from_db, to_db

_SELECT = (
    "SELECT d.*,"
    " (SELECT count(*) FROM consent_destruction_events e WHERE e.destruction_id = d.id AND e.kind = 'reminder')"
    "   AS reminders,"
    " (SELECT max(e.at) FROM consent_destruction_events e WHERE e.destruction_id = d.id AND e.kind = 'reminder')"
    "   AS last_reminder_at,"
    " c.by_person AS c_by, c.channel AS c_channel, c.at AS c_at"
    " FROM consent_destructions d"
    " LEFT JOIN consent_destruction_events c ON c.destruction_id = d.id AND c.kind = 'confirmed'"
)


def _destruction(row: Row) -> Destruction:
    confirmed = (
        Confirmation(row["c_by"], str(row["c_channel"]), from_db(row["c_at"])) if row["c_at"] is not None else None
    )
    return Destruction(
        id=int(row["id"]), child_id=int(row["child_id"]), receipt_id=str(row["receipt_id"]),
        opened_at=from_db(row["opened_at"]), due_on=date.fromisoformat(row["due_on"]),
        reminders=int(row["reminders"]),
        last_reminder_at=from_db(row["last_reminder_at"]) if row["last_reminder_at"] else None,
        confirmed=confirmed,
        subject_name=row["subject_name"], subject_class=row["subject_class"],
        representatives=row["representatives"],
    )


class DestructionRepo:
    @staticmethod
    async def open_for(conn: Connection, child_id: int) -> Destruction | None:
        """The child's task still waiting for its confirmation, if any."""
        conn = raw(conn)
        row = await fetchone_in(conn, _SELECT + " WHERE d.child_id = ? AND c.id IS NULL ORDER BY d.id LIMIT 1",
                                (child_id,))
        return _destruction(row) if row else None

    @staticmethod
    async def insert(
        conn: Transaction, *, child_id: int, receipt_id: str, now: datetime, due_on: date,
        subject_name: str, subject_class: str | None, representatives: str,
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO consent_destructions(child_id, receipt_id, opened_at, due_on, subject_name, subject_class,"
            " representatives) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (child_id, receipt_id, to_db(now), due_on.isoformat(), subject_name, subject_class, representatives),
        )

    @staticmethod
    async def get(conn: Connection, task_id: int) -> Destruction | None:
        conn = raw(conn)
        row = await fetchone_in(conn, _SELECT + " WHERE d.id = ?", (task_id,))
        return _destruction(row) if row else None

    @staticmethod
    async def all_open(conn: Connection) -> list[Destruction]:
        conn = raw(conn)
        return [_destruction(r) for r in await fetchall_in(conn, _SELECT + " WHERE c.id IS NULL ORDER BY d.id")]

    @staticmethod
    async def of_children(conn: Connection, child_ids: Iterable[int]) -> list[Destruction]:
        conn = raw(conn)
        ids = list(child_ids)
        if not ids:
            return []
        rows = await fetchall_in(
            conn, _SELECT + f" WHERE d.child_id IN ({','.join('?' * len(ids))}) ORDER BY d.id", ids
        )
        return [_destruction(r) for r in rows]

    @staticmethod
    async def record_reminder(conn: Transaction, task_id: int, n: int, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_destruction_events(destruction_id, kind, n, at)"
            " VALUES (?, 'reminder', ?, ?) ON CONFLICT DO NOTHING",
            (task_id, n, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def confirm(
        conn: Transaction, task_id: int, *, by: int | None, channel: str, now: datetime
    ) -> bool:
        """False when it was confirmed already (the first confirmation stands)."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_destruction_events(destruction_id, kind, n, by_person, channel, at)"
            " VALUES (?, 'confirmed', 0, ?, ?, ?) ON CONFLICT DO NOTHING",
            (task_id, by, channel, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def cancel_reminders(conn: Transaction, task_id: int) -> None:
        """A confirmed task's messages to the IT officers still waiting in the outbox are moot."""
        conn = raw(conn)
        await conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND dedupe_key LIKE ?",
            (f"consent-destroy:{task_id}:%",),
        )
