"""Repositories that read and then write, run by two workers at once (#27 leftover): on PostgreSQL two
write transactions run side by side, so both can pass the read before either writes. Each test holds
the first transaction open, lets the second run until the database makes it wait on a lock (as
tests/test_ledger_concurrent.py does), commits the first, and shows the second finishing cleanly with
the result the two would give one after the other: no duplicate, no constraint error.

- consent document versions: two publications get two numbers; two workers needing the first
  document publish it once;
- invitation codes: two codes given to one person at once leave one active, the other recorded as
  replaced by it, whether the person had a code before or not;
- survey answers: two answers of one person at once share one sheet (one respondent, not two).

Runs on a throwaway PostgreSQL in both passes of the suite; skipped where PostgreSQL is not installed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from storage.codes import CodeRepo, NewCode
from storage.consent import ConsentRepo
from storage.pg import PgDatabase
from storage.sql import SqlConn
from storage.surveys import Respondent, SurveyRepo
from tests.servers import FreshDatabases

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
STAMP = "2026-09-01T09:00:00.000000Z"
T = TypeVar("T")


async def side_by_side(
    db: PgDatabase, first: Callable[[SqlConn], Awaitable[T]], second: Callable[[SqlConn], Awaitable[T]]
) -> tuple[T, T]:
    """`first` in a transaction left open while `second` runs in its own until PostgreSQL holds it
    waiting on a lock; then the first commits and the second is let finish."""

    async def other() -> T:
        async with db.transaction() as tx:
            return await second(tx)

    async with db.transaction() as tx:
        one = await first(tx)
        task = asyncio.create_task(other())
        while not await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            assert not task.done(), task.result()
    return one, await task


async def opened(pg_databases: FreshDatabases, name: str) -> PgDatabase:
    db = PgDatabase(pg_databases.url(name))
    await db.open()
    async with db.transaction() as tx:
        for key in ("parent", "teacher"):
            await tx.execute(
                "INSERT INTO persons(roster_key, full_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (key, key, STAMP, STAMP),
            )
    return db


async def test_two_publications_at_once_get_two_versions_and_the_first_document_is_published_once(
    pg_databases: FreshDatabases,
) -> None:
    db = await opened(pg_databases, "versions")
    try:
        async def first_document(tx: SqlConn) -> bool:
            return await ConsentRepo.insert_first_version(tx, sha256="s", text="shipped", text_en=None, now=NOW,
                                                          by=None)

        # Two workers each need the document of a school that has none: one publishes it.
        assert await side_by_side(db, first_document, first_document) == (True, False)
        assert await db.fetchval("SELECT count(*) FROM consent_versions") == 1

        def publish(text: str) -> Callable[[SqlConn], Awaitable[int]]:
            async def run(tx: SqlConn) -> int:
                return await ConsentRepo.insert_version(tx, sha256=text, text=text, text_en=None, now=NOW, by=1)
            return run

        # Two publications at once: each its own number, one after the other.
        assert await side_by_side(db, publish("второй"), publish("третий")) == (2, 3)
        rows = await db.fetchall("SELECT number, text FROM consent_versions ORDER BY number")
        assert [(r[0], r[1]) for r in rows] == [(1, "shipped"), (2, "второй"), (3, "третий")]
    finally:
        await db.close()


async def test_two_codes_given_to_one_person_at_once_leave_one_active(pg_databases: FreshDatabases) -> None:
    db = await opened(pg_databases, "codes")
    try:
        def give(code: str) -> Callable[[SqlConn], Awaitable[tuple[int, str | None]]]:
            async def run(tx: SqlConn) -> tuple[int, str | None]:
                new_id, old = await CodeRepo.insert(
                    tx, NewCode(person_id=1, role="parent", class_label=None, code=code), source="import", now=NOW
                )
                return new_id, old.code if old is not None else None
            return run

        async def codes() -> list[tuple[str, str, str | None]]:
            rows = await db.fetchall(
                "SELECT c.code, c.status, r.code FROM codes c LEFT JOIN codes r ON r.id = c.replaced_by"
                " ORDER BY c.id"
            )
            return [(r[0], r[1], r[2]) for r in rows]

        # No code yet: the second replaces the first, as if given after it.
        (_, before_a), (_, before_b) = await side_by_side(db, give("CODE-A"), give("CODE-B"))
        assert (before_a, before_b) == (None, "CODE-A")
        assert await codes() == [("CODE-A", "replaced", "CODE-B"), ("CODE-B", "active", None)]
        # A code already: both replace it at once; it is replaced once, and the later one stays.
        (_, before_c), (_, before_d) = await side_by_side(db, give("CODE-C"), give("CODE-D"))
        assert (before_c, before_d) == ("CODE-B", "CODE-C")
        assert await codes() == [
            ("CODE-A", "replaced", "CODE-B"), ("CODE-B", "replaced", "CODE-C"), ("CODE-C", "replaced", "CODE-D"),
            ("CODE-D", "active", None),
        ]
    finally:
        await db.close()


async def test_two_answers_of_one_person_at_once_share_one_sheet(pg_databases: FreshDatabases) -> None:
    db = await opened(pg_databases, "surveys")
    try:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO surveys(id, title, spec, audience, audience_value, anonymous, data_class, created_at,"
                " deadline) VALUES (1, 'Оснащение', '{}', 'role', 'teacher', 0, 'personal', ?, ?)",
                (STAMP, STAMP),
            )
            await tx.execute(
                "INSERT INTO survey_respondents(survey_id, person_id, role, class_label) VALUES (1, 2, 'teacher', NULL)"
            )
        teacher = Respondent(survey_id=1, person_id=2, role="teacher", class_label=None, finished_at=None)

        def answer(question: int) -> Callable[[SqlConn], Awaitable[None]]:
            async def run(tx: SqlConn) -> None:
                await SurveyRepo.put_answer(tx, 1, teacher, question, question + 10, NOW)
            return run

        await side_by_side(db, answer(0), answer(1))
        rows = await db.fetchall("SELECT question, value, sheet FROM survey_answers ORDER BY question")
        assert [(r[0], r[1]) for r in rows] == [(0, "10"), (1, "11")]
        assert rows[0][2] == rows[1][2]  # one respondent, one sheet
    finally:
        await db.close()
