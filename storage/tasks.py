"""Plan items, proofs, the reminder log, snoozes and digests (the only SQL of the tasks capability)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

# A proof is the domain's value (bot/domain/plan.py), re-exported for storage's callers.
from bot.domain.plan import Deadline, PlanItem
from bot.domain.plan import Proof as Proof
from bot.unit_of_work import Connection, Transaction, UnitOfWork
from storage.db import database_of, fetchall_in, fetchone_in, raw
from storage.dialect import returning_id
from storage.sql import Row
from storage.timefmt import from_db, opt_from_db, to_db


def _item(row: Row) -> PlanItem:
    raw_date = row["deadline_date"]
    return PlanItem(
        number=row["number"],
        text=row["text"],
        deadline=Deadline(
            kind=row["deadline_kind"],
            date=date.fromisoformat(raw_date) if raw_date else None,
            year=row["deadline_year"],
            month=row["deadline_month"],
            source=row["deadline_source"],
        ),
        responsible=tuple(r for r in row["responsible"].split(",") if r),
        responsible_text=row["responsible_text"],
        proof=row["proof"],
    )


def _proof(row: Row) -> Proof:
    return Proof(
        id=row["id"],
        item_number=row["item_number"],
        occurrence_key=row["occurrence_key"],
        person_id=row["person_id"],
        kind=row["kind"],
        body=row["body"],
        file_id=row["file_id"],
        file_unique_id=row["file_unique_id"],
        file_name=row["file_name"],
        status=row["status"],
        created_at=from_db(row["created_at"]),
        reviewed_by=row["reviewed_by"],
        reviewed_at=opt_from_db(row["reviewed_at"]),
        review_comment=row["review_comment"],
    )


_ITEM_COLUMNS = (
    "number, text, deadline_kind, deadline_date, deadline_year, deadline_month, deadline_source,"
    " responsible, responsible_text, proof"
)


class TaskRepo:
    def __init__(self, db: UnitOfWork, conn: Connection | None = None) -> None:
        self.db = database_of(db)
        self._conn = None if conn is None else raw(conn)

    def on(self, conn: Connection) -> TaskRepo:
        """The same reads on `conn` (as PersonRepo.on): a caller inside a write transaction passes
        it, so the plan it reads is the one the transaction sees, not whatever another connection
        of a pool last committed."""
        return TaskRepo(self.db, conn)

    async def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        # execute_fetchall is one hop to aiosqlite's thread instead of three (execute, fetch,
        # close): the sweep reads these tables every minute, and the year-walk test thousands of times.
        conn = self._conn if self._conn is not None else self.db.conn
        return list(await conn.execute_fetchall(sql, tuple(params)))

    # --- reads ----------------------------------------------------------------------------------

    async def plan_year(self) -> int | None:
        rows = await self._rows("SELECT value FROM plan_meta WHERE key = 'school_year'")
        return int(rows[0][0]) if rows else None

    async def items(self) -> list[PlanItem]:
        rows = await self._rows(f"SELECT {_ITEM_COLUMNS} FROM plan_items WHERE active = 1 ORDER BY position")
        return [_item(r) for r in rows]

    async def item(self, number: str) -> PlanItem | None:
        rows = await self._rows(f"SELECT {_ITEM_COLUMNS} FROM plan_items WHERE active = 1 AND number = ?", (number,))
        return _item(rows[0]) if rows else None

    async def proofs(self, item_number: str | None = None) -> list[Proof]:
        if item_number is None:
            rows = await self._rows("SELECT * FROM task_proofs ORDER BY id")
        else:
            rows = await self._rows("SELECT * FROM task_proofs WHERE item_number = ? ORDER BY id", (item_number,))
        return [_proof(r) for r in rows]

    async def proof(self, proof_id: int) -> Proof | None:
        rows = await self._rows("SELECT * FROM task_proofs WHERE id = ?", (proof_id,))
        row = rows[0] if rows else None
        return _proof(row) if row is not None else None

    async def reminder_log(self) -> set[tuple[str, str, int, str]]:
        rows = await self._rows("SELECT item_number, occurrence_key, person_id, kind FROM task_reminders")
        return {(r[0], r[1], int(r[2]), r[3]) for r in rows}

    async def due_snoozes(self, now: datetime) -> list[tuple[int, str, str, int]]:
        rows = await self._rows(
            "SELECT s.id, s.item_number, s.occurrence_key, s.person_id FROM task_snoozes s"
            " WHERE s.remind_at <= ? AND NOT EXISTS (SELECT 1 FROM task_reminders r"
            " WHERE r.item_number = s.item_number AND r.occurrence_key = s.occurrence_key"
            " AND r.person_id = s.person_id AND r.kind = 'snooze-' || s.id)",
            (to_db(now),),
        )
        return [(int(r[0]), r[1], r[2], int(r[3])) for r in rows]

    async def digest_sent(self, week: str) -> set[int]:
        rows = await self._rows("SELECT person_id FROM task_digests WHERE week = ?", (week,))
        return {int(r[0]) for r in rows}

    async def plan_days(self, day: date) -> set[int]:
        """Who already got their plan message on this school-local day."""
        rows = await self._rows("SELECT person_id FROM task_plan_days WHERE day = ?", (day.isoformat(),))
        return {int(r[0]) for r in rows}

    # --- writes: call inside Database.transaction() with its connection -------------------------

    @staticmethod
    async def log_plan_day(conn: Transaction, person_id: int, day: date, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO task_plan_days(person_id, day, enqueued_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (person_id, day.isoformat(), to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def existing_items(conn: Connection) -> dict[str, tuple[PlanItem, bool]]:
        """Every stored item, active or not, with its active flag."""
        conn = raw(conn)
        rows = await fetchall_in(conn, f"SELECT {_ITEM_COLUMNS}, active FROM plan_items")
        return {r["number"]: (_item(r), bool(r["active"])) for r in rows}

    @staticmethod
    async def save_plan(
        conn: Transaction,
        items: Sequence[PlanItem],
        *,
        title: str,
        order: str,
        school_year: int,
        now: datetime,
    ) -> None:
        conn = raw(conn)
        stamp = to_db(now)
        numbers = [item.number for item in items]
        for position, item in enumerate(items):
            d = item.deadline
            await conn.execute(
                "INSERT INTO plan_items(number, position, text, deadline_kind, deadline_date, deadline_year,"
                " deadline_month, deadline_source, responsible, responsible_text, proof, active, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(number) DO UPDATE SET"
                " position = excluded.position, text = excluded.text, deadline_kind = excluded.deadline_kind,"
                " deadline_date = excluded.deadline_date, deadline_year = excluded.deadline_year,"
                " deadline_month = excluded.deadline_month, deadline_source = excluded.deadline_source,"
                " responsible = excluded.responsible, responsible_text = excluded.responsible_text,"
                " proof = excluded.proof, active = 1, updated_at = excluded.updated_at",
                (
                    item.number,
                    position,
                    item.text,
                    d.kind,
                    d.date.isoformat() if d.date else None,
                    d.year,
                    d.month,
                    d.source,
                    ",".join(item.responsible),
                    item.responsible_text,
                    item.proof,
                    stamp,
                ),
            )
        # Items the file no longer lists are inactive; an empty plan leaves none (`NOT IN ()` is SQLite's alone).
        unlisted = f" AND number NOT IN ({','.join('?' * len(numbers))})" if numbers else ""
        await conn.execute(
            f"UPDATE plan_items SET active = 0, updated_at = ? WHERE active = 1{unlisted}", (stamp, *numbers)
        )
        meta = {"title": title, "order": order, "school_year": str(school_year), "loaded_at": stamp}
        await conn.executemany(
            "INSERT INTO plan_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(meta.items()),
        )

    @staticmethod
    async def update_deadline(conn: Transaction, number: str, deadline: Deadline, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute(
            "UPDATE plan_items SET deadline_kind = ?, deadline_date = ?, deadline_year = ?, deadline_month = ?,"
            " updated_at = ? WHERE number = ?",
            (
                deadline.kind,
                deadline.date.isoformat() if deadline.date else None,
                deadline.year,
                deadline.month,
                to_db(now),
                number,
            ),
        )

    @staticmethod
    async def update_roles(conn: Transaction, number: str, roles: Sequence[str], now: datetime) -> None:
        conn = raw(conn)
        await conn.execute(
            "UPDATE plan_items SET responsible = ?, updated_at = ? WHERE number = ?",
            (",".join(roles), to_db(now), number),
        )

    @staticmethod
    async def add_proof(
        conn: Transaction,
        *,
        item_number: str,
        occurrence_key: str,
        person_id: int,
        kind: str,
        body: str | None,
        file_id: str | None,
        file_unique_id: str | None,
        file_name: str | None,
        now: datetime,
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO task_proofs(item_number, occurrence_key, person_id, kind, body, file_id, file_unique_id,"
            " file_name, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'submitted', ?) RETURNING id",
            (item_number, occurrence_key, person_id, kind, body, file_id, file_unique_id, file_name, to_db(now)),
        )

    @staticmethod
    async def review_proof(
        conn: Transaction, proof_id: int, *, status: str, reviewer_id: int, comment: str | None, now: datetime
    ) -> bool:
        """Only a submitted proof can be reviewed; False when someone else already did."""
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE task_proofs SET status = ?, reviewed_by = ?, reviewed_at = ?, review_comment = ?"
            " WHERE id = ? AND status = 'submitted'",
            (status, reviewer_id, to_db(now), comment, proof_id),
        )
        return cur.rowcount == 1

    @staticmethod
    async def log_reminder(
        conn: Transaction, item_number: str, occurrence_key: str, person_id: int, kind: str, now: datetime
    ) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO task_reminders(item_number, occurrence_key, person_id, kind, enqueued_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (item_number, occurrence_key, person_id, kind, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def add_snooze(
        conn: Transaction, item_number: str, occurrence_key: str, person_id: int, at: datetime, now: datetime
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO task_snoozes(item_number, occurrence_key, person_id, remind_at, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (item_number, occurrence_key, person_id, to_db(at), to_db(now)),
        )

    @staticmethod
    async def log_digest(conn: Transaction, week: str, person_id: int, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO task_digests(week, person_id, enqueued_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (week, person_id, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def has_plan(conn: Connection) -> bool:
        conn = raw(conn)
        return (await fetchone_in(conn, "SELECT 1 FROM plan_meta WHERE key = 'school_year'")) is not None
