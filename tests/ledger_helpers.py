"""Shared setup for the ledger tests: decisions made by parents through the real Dispatcher, and
tampering with the database the way an attacker with access to it would (plain sqlite3 on the file
with the append-only triggers dropped; on PostgreSQL the superuser with triggers disabled)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storage.consent import ConsentRepo
from storage.pg import translate
from tests.consent_helpers import consent_menu, school
from tests.harness import PARENT_ONE, PARENT_TWO, Harness, private_school_config
from tests.servers import backend_under_test


async def decide(h: Harness, user: int, label: str) -> None:
    keys = await consent_menu(h, user)  # the documents opened: the agree buttons are there
    await h.press(user, keys[label])


async def three_decisions(h: Harness) -> list[str]:
    """The harness school, linked; three decisions by two parents. Returns the receipts in order."""
    await school(h)
    await decide(h, PARENT_TWO, "✅ Согласна: Миша")
    await decide(h, PARENT_ONE, "✅ Согласен: Коля")
    await decide(h, PARENT_TWO, "❌ Не согласна: Маша")
    receipts = [r.receipt_id for r in await ConsentRepo.ledger_rows(h.app.db.conn)]
    assert len(receipts) == 3
    return receipts


class _PgBypass:
    """The PostgreSQL side of `bypass`: the statements as the tests write them (`?` placeholders)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(translate(sql), params)


@contextmanager
def bypass(db_path: Path | None) -> Iterator[Any]:
    """A raw connection with the ledger's protective triggers off (committed on exit), as an attacker
    with access to the database has: on SQLite the file with the triggers dropped; on PostgreSQL
    (SCHOOLBOT_TEST_BACKEND) the test's database as its superuser with triggers disabled for the
    session (session_replication_role = replica)."""
    if backend_under_test() == "postgres":
        with psycopg.connect(os.environ["DATABASE_URL"]) as pg:  # commits on a clean exit
            pg.execute("SET search_path TO school")
            pg.execute("SET session_replication_role = replica")
            yield _PgBypass(pg)
        return
    assert db_path is not None
    conn = sqlite3.connect(db_path)
    try:
        for name in ("consent_ledger_no_update", "consent_ledger_no_delete", "consent_ledger_chained",
                     "consent_ledger_head_advance"):
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        yield conn
        conn.commit()
    finally:
        conn.close()


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`schoolbot` in this process on the harness's database (see tests.harness.make_settings)."""
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "schoolbot.sqlite3"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(private_school_config(tmp_path)))
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
