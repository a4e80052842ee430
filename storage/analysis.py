"""Plan item 18's analysis: the questions people asked, and the next year's tasks as edited."""

from __future__ import annotations

from datetime import datetime

# These values are the domain's (bot/domain/analysis.py), re-exported for storage's callers.
from bot.domain.analysis import EditedTasks as EditedTasks
from bot.unit_of_work import UnitOfWork
from storage.db import database_of
from storage.timefmt import from_db, to_db


class AnalysisRepo:
    """The analysis tables: reads on the database given, writes (static) in the caller's transaction."""

    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def ticket_texts(self) -> list[str]:
        """Every question asked through the bot ("ask the IT officer"), oldest first."""
        rows = await self.db.fetchall("SELECT text FROM tickets ORDER BY id")
        return [str(r[0]) for r in rows]

    async def edited_tasks(self, school_year: int) -> EditedTasks | None:
        row = await self.db.fetchone(
            "SELECT text, updated_by, updated_at FROM analysis_tasks WHERE school_year = ?", (school_year,)
        )
        if row is None:
            return None
        return EditedTasks(str(row[0]), row[1], from_db(row[2]))

    async def save_tasks(self, school_year: int, text: str, *, by: int | None, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO analysis_tasks(school_year, text, updated_by, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(school_year) DO UPDATE SET text = excluded.text, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at",
                (school_year, text, by, to_db(now)),
            )
