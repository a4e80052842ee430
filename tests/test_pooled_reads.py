"""Every flow the tests drive reads as a pooled backend would (#27): the harness (the `harness`
fixture, handler_harness, running_bot) opens the database with storage.db.Database(
separate_reader=True), whose reads outside a transaction's handle go to a second connection that
sees only what is committed, as PostgreSQL's pool would. A flow passes only if everything that must
see a transaction's uncommitted rows (the consent gate releasing codes, the person just linked, the
family of a withdrawal) is handed the transaction explicitly: with the consent gate of
CodesService.deliver read on `db.conn` instead, 7 tests of test_codes, test_consent_family,
test_consent_withdrawal and test_code_gate fail. This module checks that the default holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fakeapi import FakeTelegram
from tests.harness import Harness, handler_harness, running_bot


@pytest.mark.sqlite_only(reason="SQLite's second reader connection; PostgreSQL reads on its pool (test_pg_storage.py)")
async def test_the_harness_reads_on_a_second_connection(harness: Harness) -> None:
    db = harness.app.db
    assert db.conn is not db._writer


@pytest.mark.sqlite_only(reason="SQLite's second reader connection; PostgreSQL reads on its pool (test_pg_storage.py)")
async def test_the_running_bot_reads_on_a_second_connection(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        assert app.db.conn is not app.db._writer


@pytest.mark.sqlite_only(reason="SQLite's second reader connection; PostgreSQL reads on its pool (test_pg_storage.py)")
async def test_a_test_may_ask_for_one_connection(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, separate_reader=False) as h:
        assert h.app.db.conn is h.app.db._writer
