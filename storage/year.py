"""The school year: new-year records, class moves, the May archive checklist (plan item 19)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

# These values are the domain's (bot/domain/year.py), re-exported for storage's callers.
from bot.domain.year import ARCHIVE_STEPS as ARCHIVE_STEPS
from bot.domain.year import ArchiveCheck as ArchiveCheck
from bot.domain.year import PersonClass as PersonClass
from bot.domain.year import PromotionMove as PromotionMove
from bot.domain.year import RosterPerson as RosterPerson
from bot.domain.year import YearRecord as YearRecord
from bot.unit_of_work import Connection, Transaction, UnitOfWork
from storage.db import database_of, fetchall_in, fetchone_in, raw
from storage.people import roles_of_people
from storage.sql import Row
from storage.timefmt import from_db, to_db


def _year(row: Row) -> YearRecord:
    quarters = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in json.loads(row["quarters"])]
    return YearRecord(
        year=int(row["year"]),
        quarters=quarters,
        holidays=[date.fromisoformat(d) for d in json.loads(row["holidays"])],
        report=json.loads(row["report"]),
        applied_at=from_db(row["applied_at"]),
    )


class YearRepo:
    """The year tables: reads on the database given, writes (static) in the caller's transaction."""

    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def latest_year(self) -> YearRecord | None:
        row = await self.db.fetchone("SELECT * FROM school_years ORDER BY year DESC LIMIT 1")
        return _year(row) if row is not None else None

    @staticmethod
    async def year_record(conn: Connection, year: int) -> YearRecord | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT * FROM school_years WHERE year = ?", (year,))
        return _year(row) if row is not None else None

    @staticmethod
    async def active_people_with_class(conn: Connection) -> list[PersonClass]:
        conn = raw(conn)
        rows = await fetchall_in(
            conn,
            "SELECT p.id, p.roster_key, p.full_name, p.class_label"
            " FROM persons p WHERE p.active = 1 AND p.class_label IS NOT NULL ORDER BY p.class_label, p.full_name",
        )
        roles = await roles_of_people(lambda sql, params: fetchall_in(conn, sql, params), [int(r["id"]) for r in rows])
        return [
            PersonClass(
                id=int(r["id"]),
                roster_key=str(r["roster_key"]),
                full_name=str(r["full_name"]),
                class_label=r["class_label"],
                roles=roles.get(int(r["id"]), frozenset()),
            )
            for r in rows
        ]

    @staticmethod
    async def record_year(
        conn: Transaction,
        *,
        year: int,
        quarters: Sequence[tuple[date, date]],
        holidays: Sequence[date],
        report: dict[str, Any],
        applied_by: int | None,
        now: datetime,
    ) -> bool:
        """False when this year was already recorded (a second new-year for it does nothing)."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO school_years(year, quarters, holidays, report, applied_by, applied_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                year,
                json.dumps([[a.isoformat(), b.isoformat()] for a, b in quarters]),
                json.dumps([d.isoformat() for d in holidays]),
                json.dumps(report, ensure_ascii=False),
                applied_by,
                to_db(now),
            ),
        )
        return cur.rowcount == 1

    @staticmethod
    async def move_person(
        conn: Transaction,
        *,
        person_id: int,
        from_class: str | None,
        to_class: str | None,
        reason: str,
        school_year: int | None,
        now: datetime,
        new_key: str | None = None,
        deactivate: bool = False,
    ) -> None:
        """Change a person's class in place (same id: links, consents, codes and ledger rows stay)."""
        conn = raw(conn)
        stamp = to_db(now)
        if new_key is not None:
            await conn.execute("UPDATE persons SET roster_key = ? WHERE id = ?", (new_key, person_id))
        await conn.execute(
            "UPDATE persons SET class_label = ?, active = CASE WHEN ? = 1 THEN 0 ELSE active END, updated_at = ?"
            " WHERE id = ?",
            (to_class, 1 if deactivate else 0, stamp, person_id),
        )
        await conn.execute(
            "INSERT INTO class_moves(person_id, from_class, to_class, reason, school_year, moved_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (person_id, from_class, to_class, reason, school_year, stamp),
        )
        if not deactivate:
            await YearRepo.codes_follow(conn, person_id, from_class, to_class)

    @staticmethod
    async def log_import_move(
        conn: Transaction, person_id: int, from_class: str | None, to_class: str | None, now: datetime
    ) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO class_moves(person_id, from_class, to_class, reason, moved_at) VALUES (?, ?, ?, 'import', ?)",
            (person_id, from_class, to_class, to_db(now)),
        )
        await YearRepo.codes_follow(conn, person_id, from_class, to_class)

    @staticmethod
    async def codes_follow(
        conn: Transaction, person_id: int, from_class: str | None, to_class: str | None
    ) -> None:
        """The active codes of a moved pupil, and their parents' codes filed under the old class, follow
        the pupil to the new class (print sheets, QR cards and per-class counts read codes.class_label)."""
        conn = raw(conn)
        if from_class is None or to_class is None or from_class == to_class:
            return
        await conn.execute(
            "UPDATE codes SET class_label = ? WHERE status = 'active' AND class_label = ? AND (person_id = ?"
            " OR (role = 'parent' AND person_id IN (SELECT parent_id FROM guardians WHERE child_id = ?)))",
            (to_class, from_class, person_id, person_id),
        )

    @staticmethod
    async def rekey_person(conn: Transaction, person_id: int, new_key: str) -> None:
        conn = raw(conn)
        await conn.execute("UPDATE persons SET roster_key = ? WHERE id = ?", (new_key, person_id))

    @staticmethod
    async def key_taken(conn: Connection, roster_key: str, except_id: int) -> bool:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT 1 FROM persons WHERE roster_key = ? AND id != ?", (roster_key, except_id))
        return row is not None

    @staticmethod
    async def set_plan_year(conn: Transaction, year: int) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO plan_meta(key, value) VALUES ('school_year', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(year),),
        )

    async def class_moves(self, person_id: int) -> list[PromotionMove]:
        rows = await self.db.fetchall(
            "SELECT person_id, from_class, to_class, reason FROM class_moves WHERE person_id = ? ORDER BY id",
            (person_id,),
        )
        return [PromotionMove(int(r[0]), r[1], r[2], str(r[3])) for r in rows]

    # --- the May archive checklist -------------------------------------------------------------------
    async def archive_checks(self, school_year: int) -> list[ArchiveCheck]:
        rows = await self.db.fetchall(
            "SELECT a.class_label, a.step, a.person_id, p.full_name, a.done_at FROM archive_checks a"
            " JOIN persons p ON p.id = a.person_id WHERE a.school_year = ? ORDER BY a.class_label, a.done_at",
            (school_year,),
        )
        return [ArchiveCheck(str(r[0]), str(r[1]), int(r[2]), str(r[3]), from_db(r[4])) for r in rows]

    @staticmethod
    async def mark_archive_step(
        conn: Transaction, *, school_year: int, class_label: str, step: str, person_id: int, now: datetime
    ) -> bool:
        """False when the step was already confirmed (the first confirmation stays on record)."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO archive_checks(school_year, class_label, step, person_id, done_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (school_year, class_label, step, person_id, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def archive_nudged(conn: Connection, school_year: int, person_id: int, week: str) -> bool:
        conn = raw(conn)
        row = await fetchone_in(
            conn,
            "SELECT 1 FROM archive_nudges WHERE school_year = ? AND person_id = ? AND week = ?",
            (school_year, person_id, week),
        )
        return row is not None

    @staticmethod
    async def record_archive_nudge(
        conn: Transaction, school_year: int, person_id: int, week: str, now: datetime
    ) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO archive_nudges(school_year, person_id, week, enqueued_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (school_year, person_id, week, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def rekey_holder(conn: Transaction, roster_key: str) -> None:
        """Give the inactive holder of `roster_key` a key of its own, so a promoted pupil can take it."""
        conn = raw(conn)
        await conn.execute(
            "UPDATE persons SET roster_key = roster_key || ':left:' || id WHERE roster_key = ? AND active = 0",
            (roster_key,),
        )

    @staticmethod
    async def deactivate(conn: Transaction, person_id: int, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute("UPDATE persons SET active = 0, updated_at = ? WHERE id = ?", (to_db(now), person_id))

    @staticmethod
    async def parents_only_of(conn: Connection, child_ids: set[int]) -> list[tuple[int, str]]:
        """Active parents without a staff role whose every active child is among `child_ids`."""
        conn = raw(conn)
        if not child_ids:  # `IN ()` is SQLite's alone
            return []
        marks = ",".join("?" * len(child_ids))
        rows = await fetchall_in(
            conn,
            "SELECT p.id, p.full_name FROM persons p WHERE p.active = 1"
            " AND EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = 'parent')"
            " AND NOT EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id"
            "   AND r.role NOT IN ('parent', 'student'))"
            f" AND EXISTS (SELECT 1 FROM guardians g WHERE g.parent_id = p.id AND g.child_id IN ({marks}))"
            " AND NOT EXISTS (SELECT 1 FROM guardians g JOIN persons c ON c.id = g.child_id"
            f"   WHERE g.parent_id = p.id AND c.active = 1 AND g.child_id NOT IN ({marks}))"
            " ORDER BY p.full_name",
            (*sorted(child_ids), *sorted(child_ids)),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    @staticmethod
    async def active_people(conn: Connection) -> dict[str, RosterPerson]:
        """Active people by roster key, read inside an import's transaction."""
        conn = raw(conn)
        rows = await fetchall_in(conn, "SELECT p.id, p.roster_key, p.full_name FROM persons p WHERE p.active = 1")
        roles = await roles_of_people(lambda sql, params: fetchall_in(conn, sql, params), [int(r["id"]) for r in rows])
        return {
            str(r["roster_key"]): RosterPerson(int(r["id"]), str(r["full_name"]), roles.get(int(r["id"]), frozenset()))
            for r in rows
        }
