"""A third messenger is an enum value, a session and a fake (#23 item 1), not a migration: the send
log, the access log and the destruction records accept any channel name the code gives them
(migration 036 took the messenger lists out of their CHECKs; validation lives with bot.channels.Channel).
A database written before 036 keeps every row, index and append-only trigger through the rebuild."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.channels import DataClass
from storage import chain
from storage.access_log import AccessLogRepo
from storage.db import INTEGRITY_ERRORS, Database, migrations
from storage.messengers import MessengerRepo
from storage.retention import RetentionRepo

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STAMP = "2026-11-01T10:00:00.000000Z"
# Not a Channel member today: stands for the third messenger someone adds to the enum.
THIRD = "vk"

APPEND_ONLY = ("access_log", "destruction_records")


def _schema(path: Path) -> dict[str, str]:
    """Every index and trigger of the rebuilt tables, by name, as SQLite stores its text."""
    raw = sqlite3.connect(path)
    try:
        rows = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
            " AND tbl_name IN ('send_log', 'access_log', 'destruction_records')"
        ).fetchall()
    finally:
        raw.close()
    return {str(name): " ".join(str(sql).split()) for name, sql in rows}


def _database_before_036(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.create_function(chain.SQL_FUNCTION, len(chain.BASE_COLUMNS) + 1, chain.sql_row_hash, deterministic=True)
    for number, _name, sql in migrations():
        if number < 36:
            raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    raw.executescript(
        f"""
        INSERT INTO send_log(id, at, channel, data_class, outcome, purpose) VALUES
            (7, '{STAMP}', 'telegram', 'public', 'sent', 'reminder'),
            (8, '{STAMP}', 'max', 'personal', 'pointer', ''),
            (9, '{STAMP}', 'paper', 'child_personal', 'paper', 'consent');
        INSERT INTO access_log(id, at, actor, channel, kind, object_id, due_on) VALUES
            (3, '{STAMP}', 1, 'telegram', 'register', '5A', NULL),
            (4, '{STAMP}', NULL, 'cli', 'subject_request', '12', '2026-12-01'),
            (5, '{STAMP}', NULL, 'system', 'backup', 'x.db', NULL);
        INSERT INTO destruction_records(id, at, reason, person_id, withdrawal_row, what, actor, channel) VALUES
            (2, '{STAMP}', 'left', 12, NULL, '{{}}', NULL, 'system'),
            (6, '{STAMP}', 'withdrawal', 13, 4, '{{"codes": 1}}', 1, 'max');
        """
    )
    raw.close()


async def test_a_channel_outside_telegram_and_max_is_accepted_by_every_log(tmp_path: Path) -> None:
    db = Database(tmp_path / "fresh.db")
    await db.open()
    try:
        async with db.transaction() as conn:
            await MessengerRepo.log_send(conn, THIRD, DataClass.PERSONAL, "sent", NOW, "reminder")
            await AccessLogRepo.append(conn, at=NOW, actor=1, channel=THIRD, kind="register", object_id="5A")
            await RetentionRepo.record(
                conn, now=NOW, reason="left", person_id=12, withdrawal_row=None, what={"codes": 1}, actor=1,
                channel=THIRD,
            )
        await MessengerRepo(db).record_send(THIRD, DataClass.PUBLIC, "failed", "faq", NOW)
        assert [(r.channel, r.outcome) for r in await MessengerRepo(db).send_log()] == [
            (THIRD, "sent"), (THIRD, "failed"),
        ]
        assert [r.channel for r in await AccessLogRepo(db).rows()] == [THIRD]
        assert [r.channel for r in await RetentionRepo(db).records()] == [THIRD]
        # The CHECKs that are not about messengers still hold; paper stays a send-log channel.
        with pytest.raises(INTEGRITY_ERRORS):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO send_log(at, channel, data_class, outcome) VALUES (?, ?, 'secret', 'sent')",
                    (STAMP, THIRD),
                )
        with pytest.raises(INTEGRITY_ERRORS):
            async with db.transaction() as conn:
                await RetentionRepo.record(
                    conn, now=NOW, reason="whim", person_id=1, withdrawal_row=None, what={}, actor=None,
                    channel=THIRD,
                )
        async with db.transaction() as conn:
            await MessengerRepo.log_send(conn, "paper", DataClass.CHILD_PERSONAL, "paper", NOW)
    finally:
        await db.close()


@pytest.mark.sqlite_only(reason="an SQLite file from before migration 036")
async def test_a_database_from_before_036_keeps_rows_indexes_and_append_only(tmp_path: Path) -> None:
    fresh = Database(tmp_path / "fresh.db")
    await fresh.open()
    await fresh.close()
    old_path = tmp_path / "old.db"
    _database_before_036(old_path)
    before = _schema(old_path)

    db = Database(old_path)
    await db.open()
    try:
        assert await db.schema_version() >= 36
        assert [(r.channel, r.data_class, r.outcome, r.purpose) for r in await MessengerRepo(db).send_log()] == [
            ("telegram", DataClass.PUBLIC, "sent", "reminder"),
            ("max", DataClass.PERSONAL, "pointer", ""),
            ("paper", DataClass.CHILD_PERSONAL, "paper", "consent"),
        ]
        access = await AccessLogRepo(db).rows()
        assert [(r.id, r.actor, r.channel, r.kind, r.object_id, str(r.due_on)) for r in access] == [
            (3, 1, "telegram", "register", "5A", "None"),
            (4, None, "cli", "subject_request", "12", "2026-12-01"),
            (5, None, "system", "backup", "x.db", "None"),
        ]
        assert [(r.id, r.reason, r.person_id, r.withdrawal_row, r.what, r.actor, r.channel)
                for r in await RetentionRepo(db).records()] == [
            (2, "left", 12, None, {}, None, "system"),
            (6, "withdrawal", 13, 4, {"codes": 1}, 1, "max"),
        ]
        # New rows continue after the old ids, whatever their channel.
        async with db.transaction() as conn:
            new_id = await AccessLogRepo.append(conn, at=NOW, actor=None, channel=THIRD, kind="export", object_id=None)
        assert new_id == 6
        for table in APPEND_ONLY:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                async with db.transaction() as conn:
                    await conn.execute(f"UPDATE {table} SET channel = 'max'")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                async with db.transaction() as conn:
                    await conn.execute(f"DELETE FROM {table}")
        # The unique index on a withdrawal's destruction survived the rebuild.
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await RetentionRepo.record(
                    conn, now=NOW, reason="withdrawal", person_id=13, withdrawal_row=4, what={}, actor=None,
                    channel=THIRD,
                )
    finally:
        await db.close()
    # Same indexes and triggers, word for word, as before 036 and as a fresh database has.
    assert _schema(old_path) == before == _schema(tmp_path / "fresh.db")
    assert set(before) >= {
        "send_log_at", "access_log_at", "access_log_actor", "access_log_no_update", "access_log_no_delete",
        "destruction_records_person", "destruction_records_withdrawal", "destruction_records_no_update",
        "destruction_records_no_delete",
    }


@pytest.mark.sqlite_only(reason="an SQLite file from before migration 036")
async def test_the_old_database_refused_a_third_messenger(tmp_path: Path) -> None:
    """What 036 fixes: before it, the logs refused any messenger not written into the schema."""
    path = tmp_path / "old.db"
    _database_before_036(path)
    raw = sqlite3.connect(path)
    try:
        for sql in (
            "INSERT INTO send_log(at, channel, data_class, outcome) VALUES ('x', 'vk', 'public', 'sent')",
            "INSERT INTO access_log(at, channel, kind) VALUES ('x', 'vk', 'register')",
            "INSERT INTO destruction_records(at, reason, what, channel) VALUES ('x', 'left', '{}', 'vk')",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                raw.execute(sql)
    finally:
        raw.close()
