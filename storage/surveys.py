"""Surveys: their specs, fixed respondents, answers, reminders, and the anonymising close."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

# Surveys' values are the domain's (bot/domain/surveys.py), re-exported for storage's callers.
from bot.domain.surveys import MIN_GROUP as MIN_GROUP
from bot.domain.surveys import Answer as Answer
from bot.domain.surveys import Respondent as Respondent
from bot.domain.surveys import SurveyRow as SurveyRow
from bot.unit_of_work import Connection, Transaction, UnitOfWork
from storage import dialect
from storage.db import database_of, fetchall_in, fetchone_in, raw
from storage.dialect import returning_id
from storage.sql import Row
from storage.timefmt import from_db, opt_from_db, to_db


def _survey(row: Row) -> SurveyRow:
    return SurveyRow(
        id=row["id"], title=row["title"], template=row["template"], spec=json.loads(row["spec"]),
        plan_item=row["plan_item"], audience=row["audience"], audience_value=row["audience_value"],
        anonymous=bool(row["anonymous"]), data_class=row["data_class"], author_id=row["author_id"],
        created_at=from_db(row["created_at"]), deadline=from_db(row["deadline"]),
        closed_at=opt_from_db(row["closed_at"]),
    )


def _respondent(row: Row) -> Respondent:
    return Respondent(row["survey_id"], row["person_id"], row["role"], row["class_label"],
                      opt_from_db(row["finished_at"]))


class SurveyRepo:
    """Reads on the database given; writes (static) in the caller's transaction."""

    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def forget_overwritten(self) -> None:
        """After an anonymous survey's close (between write transactions): the rows it overwrote
        leave no copy behind. Their old pages are overwritten in the file (secure_delete); the
        write-ahead log that still holds them is folded into the file and emptied."""
        await self.db.checkpoint()

    async def get(self, survey_id: int) -> SurveyRow | None:
        row = await self.db.fetchone("SELECT * FROM surveys WHERE id = ?", (survey_id,))
        return None if row is None else _survey(row)

    async def all(self) -> list[SurveyRow]:
        return [_survey(r) for r in await self.db.fetchall("SELECT * FROM surveys ORDER BY id")]

    async def open_at(self, now: datetime) -> list[SurveyRow]:
        rows = await self.db.fetchall(
            "SELECT * FROM surveys WHERE closed_at IS NULL AND deadline > ? ORDER BY id", (to_db(now),)
        )
        return [_survey(r) for r in rows]

    async def due_to_close(self, now: datetime) -> list[SurveyRow]:
        rows = await self.db.fetchall(
            "SELECT * FROM surveys WHERE closed_at IS NULL AND deadline <= ? ORDER BY id", (to_db(now),)
        )
        return [_survey(r) for r in rows]

    async def of_person(self, person_id: int) -> list[tuple[SurveyRow, Respondent]]:
        rows = await self.db.fetchall(
            "SELECT s.*, r.person_id, r.role, r.class_label, r.finished_at, r.survey_id FROM surveys s"
            " JOIN survey_respondents r ON r.survey_id = s.id WHERE r.person_id = ? ORDER BY s.id",
            (person_id,),
        )
        return [(_survey(r), _respondent(r)) for r in rows]

    async def respondent(self, survey_id: int, person_id: int) -> Respondent | None:
        row = await self.db.fetchone(
            "SELECT * FROM survey_respondents WHERE survey_id = ? AND person_id = ?", (survey_id, person_id)
        )
        return None if row is None else _respondent(row)

    async def respondents(self, survey_id: int) -> list[Respondent]:
        rows = await self.db.fetchall(
            "SELECT * FROM survey_respondents WHERE survey_id = ? ORDER BY person_id", (survey_id,)
        )
        return [_respondent(r) for r in rows]

    async def answers_of(self, survey_id: int, person_id: int) -> dict[int, Any]:
        rows = await self.db.fetchall(
            "SELECT question, value FROM survey_answers WHERE survey_id = ? AND person_id = ?",
            (survey_id, person_id),
        )
        return {int(r[0]): json.loads(r[1]) for r in rows}

    async def answers(self, survey_id: int) -> list[Answer]:
        rows = await self.db.fetchall(
            # By sheet (random per respondent) and question: SQLite's rowid order has no portable
            # twin, and a reader of the answers needs none (texts are shuffled, tallies count).
            "SELECT question, value, role, class_label, sheet, person_id FROM survey_answers WHERE survey_id = ?"
            " ORDER BY sheet, question", (survey_id,),
        )
        return [Answer(int(r[0]), json.loads(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    async def reminders(self, survey_id: int) -> dict[int, set[int]]:
        """person id -> which reminders (n) they have had for this survey."""
        rows = await self.db.fetchall("SELECT person_id, n FROM survey_reminders WHERE survey_id = ?", (survey_id,))
        out: dict[int, set[int]] = {}
        for r in rows:
            out.setdefault(int(r[0]), set()).add(int(r[1]))
        return out

    # --- writes ----------------------------------------------------------------------------------

    @staticmethod
    async def insert(
        conn: Transaction, *, title: str, template: str | None, spec: dict[str, Any], plan_item: str | None,
        audience: str, audience_value: str, anonymous: bool, data_class: str, author_id: int | None,
        now: datetime, deadline: datetime,
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO surveys(title, template, spec, plan_item, audience, audience_value, anonymous, data_class,"
            " author_id, created_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (title, template, json.dumps(spec, ensure_ascii=False), plan_item, audience, audience_value,
             int(anonymous), data_class, author_id, to_db(now), to_db(deadline)),
        )

    @staticmethod
    async def add_respondents(
        conn: Transaction, survey_id: int, rows: Iterable[tuple[int, str, str | None]]
    ) -> None:
        conn = raw(conn)
        await conn.executemany(
            "INSERT INTO survey_respondents(survey_id, person_id, role, class_label) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(survey_id, pid, role, cls) for pid, role, cls in rows],
        )

    @staticmethod
    async def put_answer(
        conn: Transaction, survey_id: int, respondent: Respondent, question: int, value: Any, now: datetime
    ) -> None:
        # A person's answers share a random sheet (never derived from who they are), so once the person
        # is unlinked (the anonymous close, a purge) nothing leads back to them.
        conn = raw(conn)
        # Two answers of one person at once (two workers, transactions side by side on PostgreSQL) would
        # each read "no sheet yet" and split the person over two random sheets, counted as two
        # respondents. The respondent's row is locked first (a no-op UPDATE: the portable SELECT ...
        # FOR UPDATE; SQLite's writes are one at a time anyway), so the second waits for the first to
        # commit and its read, a new statement, then finds the first one's sheet.
        await conn.execute(
            "UPDATE survey_respondents SET role = role WHERE survey_id = ? AND person_id = ?",
            (survey_id, respondent.person_id),
        )
        row = await fetchone_in(
            conn, "SELECT sheet FROM survey_answers WHERE survey_id = ? AND person_id = ? LIMIT 1",
            (survey_id, respondent.person_id),
        )
        sheet = str(row[0]) if row is not None else secrets.token_hex(8)
        await conn.execute(
            "INSERT INTO survey_answers(survey_id, person_id, sheet, question, value, role, class_label, answered_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(survey_id, person_id, question) WHERE person_id IS NOT NULL"
            " DO UPDATE SET value = excluded.value, answered_at = excluded.answered_at",
            (survey_id, respondent.person_id, sheet, question,
             json.dumps(value, ensure_ascii=False), respondent.role, respondent.class_label, to_db(now)),
        )

    @staticmethod
    async def mark_finished(conn: Transaction, survey_id: int, person_id: int, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE survey_respondents SET finished_at = ? WHERE survey_id = ? AND person_id = ?"
            " AND finished_at IS NULL", (to_db(now), survey_id, person_id),
        )
        return cur.rowcount == 1

    @staticmethod
    async def record_reminder(
        conn: Transaction, survey_id: int, person_id: int, n: int, day: date, now: datetime
    ) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO survey_reminders(survey_id, person_id, n, day, enqueued_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (survey_id, person_id, n, day.isoformat(), to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def reminded_on(conn: Connection, person_id: int, day: date) -> bool:
        conn = raw(conn)
        row = await fetchone_in(
            conn, "SELECT 1 FROM survey_reminders WHERE person_id = ? AND day = ? LIMIT 1", (person_id, day.isoformat())
        )
        return row is not None

    @staticmethod
    async def close(conn: Transaction, survey: SurveyRow, now: datetime) -> None:
        """Close the survey. An anonymous one keeps no link between a person and an answer: its answers
        are deleted and written again without the person, without times, in a random order, under a
        random sheet per respondent, and with the class (role) only where at least MIN_GROUP people of
        that class (role) answered; the respondents keep only whether they finished, not when."""
        conn = raw(conn)
        await conn.execute("UPDATE surveys SET closed_at = ? WHERE id = ?", (to_db(now), survey.id))
        # Nothing still waiting in the outbox keeps nudging about a closed survey.
        await conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND dedupe_key LIKE ?",
            (f"survey:{survey.id}:%",),
        )
        if not survey.anonymous:
            return
        # Overwrite freed pages, so the old rows do not linger in the file.
        await dialect.secure_delete(conn, True)
        # The questions each answer was followed by (queued with it as the press's answer: a question
        # shows its current answer) would tie a person to an answer: gone with the link.
        await conn.execute("DELETE FROM outbox WHERE dedupe_key LIKE ?", (f"survey-next:{survey.id}:%",))
        rows = await fetchall_in(
            conn, "SELECT person_id, question, value, role, class_label FROM survey_answers WHERE survey_id = ?",
            (survey.id,),
        )
        people: dict[int, list[Row]] = {}
        for r in rows:
            people.setdefault(int(r["person_id"]) if r["person_id"] is not None else -len(people) - 1, []).append(r)
        classes: dict[str | None, int] = {}
        roles: dict[str | None, int] = {}
        for answers in people.values():
            classes[answers[0]["class_label"]] = classes.get(answers[0]["class_label"], 0) + 1
            roles[answers[0]["role"]] = roles.get(answers[0]["role"], 0) + 1
        shuffled: list[tuple[Any, ...]] = []
        for answers in people.values():
            sheet = secrets.token_hex(8)
            for r in answers:
                cls = r["class_label"] if classes.get(r["class_label"], 0) >= MIN_GROUP else None
                role = r["role"] if roles.get(r["role"], 0) >= MIN_GROUP else None
                shuffled.append((survey.id, sheet, r["question"], r["value"], role, cls))
        secrets.SystemRandom().shuffle(shuffled)
        await conn.execute("DELETE FROM survey_answers WHERE survey_id = ?", (survey.id,))
        await conn.executemany(
            "INSERT INTO survey_answers(survey_id, person_id, sheet, question, value, role, class_label, answered_at)"
            " VALUES (?, NULL, ?, ?, ?, ?, ?, NULL)", shuffled,
        )
        await dialect.secure_delete(conn, False)
        await conn.execute(
            "UPDATE survey_respondents SET finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE ? END"
            " WHERE survey_id = ?", (to_db(survey.deadline), survey.id),
        )
        await conn.execute("DELETE FROM survey_reminders WHERE survey_id = ?", (survey.id,))

    @staticmethod
    async def cancel_reminders(conn: Transaction, survey_id: int, person_id: int) -> None:
        """A reminder still waiting in the outbox is dropped once its person has answered."""
        conn = raw(conn)
        await conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND dedupe_key LIKE ?",
            (f"survey:{survey_id}:remind:{person_id}:%",),
        )
