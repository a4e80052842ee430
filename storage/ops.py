"""Operations storage: the journal backup log (plan item 16), the log of the bot's own database
backups, and read-only aggregate queries over the other capabilities' tables for /status and the
report.

The other capabilities land their tables independently, so every aggregate first asks the
database's catalogue (storage.dialect) whether the table (and the columns it needs) exist; a
missing piece makes that section "not available" instead of an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# These values are the domain's (bot/domain/ops.py), re-exported for storage's callers.
from bot.domain.ops import Attendance as Attendance
from bot.domain.ops import DbBackup as DbBackup
from bot.domain.ops import JournalBackup as JournalBackup
from bot.domain.ops import PersonRow as PersonRow
from bot.unit_of_work import Transaction, UnitOfWork
from storage import dialect
from storage.db import database_of, raw
from storage.people import roles_of_people
from storage.sql import Row
from storage.timefmt import from_db, to_db

# --- journal backups (item 16) ---------------------------------------------------------------


def _journal(row: Row) -> JournalBackup:
    return JournalBackup(
        id=row["id"],
        school_year=row["school_year"],
        quarter=row["quarter"],
        medium_label=row["medium_label"],
        photo_file_id=row["photo_file_id"],
        logged_by=row["logged_by"],
        logged_by_name=row["logged_by_name"],
        logged_at=from_db(row["logged_at"]),
    )


_JOURNAL_SELECT = (
    "SELECT j.id, j.school_year, j.quarter, j.medium_label, j.photo_file_id, j.logged_by, j.logged_at,"
    " p.full_name AS logged_by_name FROM journal_backups j LEFT JOIN persons p ON p.id = j.logged_by"
)


# --- the bot's own database backups ---------------------------------------------------------


def _db_backup(row: Row) -> DbBackup:
    return DbBackup(
        id=row["id"],
        path=row["path"],
        size_bytes=row["size_bytes"],
        ok=bool(row["ok"]),
        detail=row["detail"],
        local_day=row["local_day"],
        taken_at=from_db(row["taken_at"]),
    )


# --- roster aggregates -----------------------------------------------------------------------


class OpsRepo:
    """The ops tables: reads on the database given, writes (static) in the caller's transaction."""

    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    # --- schema introspection --------------------------------------------------------------------
    async def table_exists(self, name: str) -> bool:
        return name in await dialect.tables(self.db.conn, views=True)

    async def table_columns(self, name: str) -> set[str]:
        return set(await dialect.columns(self.db.conn, name))

    @staticmethod
    async def log_journal_backup(
        conn: Transaction,
        *,
        school_year: int,
        quarter: int,
        medium_label: str,
        logged_by: int | None,
        now: datetime,
    ) -> int:
        """Call inside `Database.transaction()`."""
        conn = raw(conn)
        return await dialect.returning_id(
            conn,
            "INSERT INTO journal_backups(school_year, quarter, medium_label, logged_by, logged_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (school_year, quarter, medium_label, logged_by, to_db(now)),
        )

    @staticmethod
    async def attach_journal_photo(conn: Transaction, backup_id: int, file_id: str) -> None:
        conn = raw(conn)
        await conn.execute("UPDATE journal_backups SET photo_file_id = ? WHERE id = ?", (file_id, backup_id))

    async def journal_backups(self, school_year: int | None = None) -> list[JournalBackup]:
        if school_year is None:
            rows = await self.db.fetchall(_JOURNAL_SELECT + " ORDER BY j.logged_at, j.id")
        else:
            rows = await self.db.fetchall(
                _JOURNAL_SELECT + " WHERE j.school_year = ? ORDER BY j.logged_at, j.id", (school_year,)
            )
        return [_journal(r) for r in rows]

    async def last_journal_backup(self) -> JournalBackup | None:
        row = await self.db.fetchone(_JOURNAL_SELECT + " ORDER BY j.logged_at DESC, j.id DESC LIMIT 1")
        return _journal(row) if row else None

    async def quarter_has_backup(self, school_year: int, quarter: int) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM journal_backups WHERE school_year = ? AND quarter = ? LIMIT 1", (school_year, quarter)
        )
        return row is not None

    async def record_db_backup(
        self, *, path: str, size_bytes: int, ok: bool, detail: str | None, local_day: str, now: datetime
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO db_backups(path, size_bytes, ok, detail, local_day, taken_at) VALUES (?, ?, ?, ?, ?, ?)",
                (path, size_bytes, int(ok), detail, local_day, to_db(now)),
            )

    async def has_db_backup_on(self, local_day: str) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM db_backups WHERE local_day = ? AND ok = 1 LIMIT 1", (local_day,))
        return row is not None

    async def db_backup_attempts_on(self, local_day: str) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM db_backups WHERE local_day = ?", (local_day,)) or 0)

    async def last_db_backup(self, *, ok_only: bool = False) -> DbBackup | None:
        where = " WHERE ok = 1" if ok_only else ""
        row = await self.db.fetchone(
            "SELECT id, path, size_bytes, ok, detail, local_day, taken_at FROM db_backups"
            + where
            + " ORDER BY taken_at DESC, id DESC LIMIT 1"
        )
        return _db_backup(row) if row else None

    async def db_backup_log(self, limit: int = 60) -> list[DbBackup]:
        rows = await self.db.fetchall(
            "SELECT id, path, size_bytes, ok, detail, local_day, taken_at FROM db_backups"
            " ORDER BY taken_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [_db_backup(r) for r in rows]

    async def roster_rows(self) -> list[PersonRow]:
        """Every active person with roles and link state, in one query."""
        rows = await self.db.fetchall(
            "SELECT p.id, p.full_name, p.class_label,"
            " (SELECT a.unreachable_reason FROM accounts a WHERE a.person_id = p.id AND a.unreachable_at IS NOT NULL"
            " ORDER BY a.id LIMIT 1) AS unreachable_reason"
            " FROM persons p WHERE p.active = 1 ORDER BY p.full_name"
        )
        # Roles and channels as rows, grouped here (each engine spells string aggregation its own way).
        roles = await roles_of_people(self.db.fetchall, [int(r["id"]) for r in rows])
        channels: dict[int, set[str]] = {}
        for a in await dialect.rows_for_ids(
            self.db.fetchall, "SELECT person_id, channel FROM accounts WHERE person_id IN ({ids})",
            [int(r["id"]) for r in rows],
        ):
            channels.setdefault(int(a[0]), set()).add(str(a[1]))
        result = []
        for r in rows:
            linked_on = frozenset(channels.get(int(r["id"]), ()))
            result.append(
                PersonRow(
                    id=r["id"],
                    full_name=r["full_name"],
                    class_label=r["class_label"],
                    roles=roles.get(int(r["id"]), frozenset()),
                    linked=bool(linked_on),
                    unreachable_reason=r["unreachable_reason"],
                    channels=linked_on,
                )
            )
        return result

    async def guardian_pairs(self) -> list[tuple[int, int]]:
        rows = await self.db.fetchall(
            "SELECT g.parent_id, g.child_id FROM guardians g JOIN persons c ON c.id = g.child_id WHERE c.active = 1"
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def failed_outbox(self) -> list[tuple[int | None, str | None]]:
        """(person_id, last_error) of messages that could not be delivered (status 'dead')."""
        # Each distinct pair once, the newest first (PostgreSQL orders a DISTINCT only by what it selects).
        rows = await self.db.fetchall(
            "SELECT person_id, last_error FROM outbox WHERE status = 'dead' GROUP BY person_id, last_error"
            " ORDER BY max(id) DESC LIMIT 500"
        )
        return [(r[0], r[1]) for r in rows]

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, count(*) FROM outbox GROUP BY status")
        return {str(r[0]): int(r[1]) for r in rows}

    # --- generic guarded reads over other capabilities' tables -----------------------------------
    async def _rows_if(
        self, table: str, needed: set[str], sql: str, params: tuple[Any, ...] = ()
    ) -> list[Row] | None:
        """Run `sql` when `table` exists with the `needed` columns; None ("not available") otherwise."""
        cols = await self.table_columns(table)
        if not cols or not needed <= cols:
            return None
        return await self.db.fetchall(sql, params)

    async def open_ticket_count(self) -> int | None:
        rows = await self._rows_if(
            "tickets", {"status"}, "SELECT count(*) FROM tickets WHERE status = 'open'"
        )
        return None if rows is None else int(rows[0][0])

    async def training_attendance(self) -> list[Attendance] | None:
        """Per session (not cancelled), in time order; None before the training tables exist."""
        rows = await self._rows_if(
            "training_invitees",
            {"session_id", "rsvp", "attended"},
            "SELECT s.title, s.starts_at, count(i.person_id) AS invited,"
            " sum(CASE WHEN i.rsvp = 'yes' THEN 1 ELSE 0 END) AS yes,"
            " sum(CASE WHEN i.attended = 1 THEN 1 ELSE 0 END) AS attended"
            " FROM training_sessions s LEFT JOIN training_invitees i ON i.session_id = s.id"
            " WHERE s.cancelled_at IS NULL GROUP BY s.id, s.title, s.starts_at ORDER BY s.starts_at, s.id",
        )
        if rows is None:
            return None
        return [
            Attendance(str(r["title"]), from_db(r["starts_at"]), int(r["invited"] or 0), int(r["yes"] or 0),
                       int(r["attended"] or 0))
            for r in rows
        ]
