"""Shared setup for the ledger tests: decisions made by parents through the real Dispatcher, and
tampering with the database file the way an attacker with file access would (plain sqlite3, the
append-only triggers dropped)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from storage.consent import ConsentRepo
from tests.consent_helpers import consent_menu, school
from tests.harness import PARENT_ONE, PARENT_TWO, Harness, private_school_config


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


@contextmanager
def bypass(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection to the file with the ledger's protective triggers dropped (committed on exit)."""
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
