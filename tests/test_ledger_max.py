"""A parent's press in MAX is evidence in the consent ledger like a press in Telegram (#17,
migration 016): its own channel and account column, chained and verified like every row, and
every row written before the migration keeps its hash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.channels import Channel
from bot.services import consent, ledger
from storage import chain
from storage import consent as repo
from storage.consent import ConsentRepo
from storage.db import INTEGRITY_ERRORS, Database, migrations
from tests.harness import Harness
from tests.ledger_helpers import bypass, three_decisions

MAX_ACCOUNT = 900_000_123


async def _max_press(h: Harness, receipts_before: int) -> repo.LedgerRow:
    """Elena (who agreed for Misha in Telegram) withdraws it from MAX."""
    app = h.app
    parent = next(p for p in await app.people.active() if p.full_name == "Иванова Елена Викторовна")
    child = next(p for p in await app.people.active() if p.full_name == "Иванов Миша Андреевич")
    version = await app.services.consent.current()
    [result] = await app.services.consent.decide(parent=parent, child_ids=[child.id], decision="withdrawn",
                                    version=version.number, channel=Channel.MAX, user_id=MAX_ACCOUNT, update_id=None,
                                    callback_id="max-press-1")
    assert result.outcome is consent.Outcome.RECORDED, result
    rows = await ConsentRepo.ledger_rows(app.db.conn)
    assert len(rows) == receipts_before + 1
    return rows[-1]


async def test_a_max_press_is_a_chained_row_with_its_own_account(harness: Harness) -> None:
    receipts = await three_decisions(harness)
    row = await _max_press(harness, len(receipts))
    assert (row.channel, row.user_id) == ("max", MAX_ACCOUNT)
    # Written since migration 019: the account in user_id, the historical per-messenger columns empty.
    stored = await harness.app.db.fetchone(
        "SELECT tg_user_id, max_user_id, user_id FROM consent_ledger WHERE receipt_id = ?", (row.receipt_id,)
    )
    assert stored is not None and tuple(stored) == (None, None, MAX_ACCOUNT)
    verdict = await ledger.check(harness.app.db, ConsentRepo())
    assert verdict.ok and verdict.rows == 4 and verdict.last_receipt == row.receipt_id
    # The MAX account is part of the row's hashed evidence: changing it is detected.
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        conn.execute("UPDATE consent_ledger SET user_id = 1 WHERE receipt_id = ?", (row.receipt_id,))
    await harness.app.open()
    verdict = await ledger.check(harness.app.db, ConsentRepo())
    assert not verdict.ok and verdict.fault is not None and verdict.fault.receipt_id == row.receipt_id


async def test_a_messenger_row_names_exactly_one_account(harness: Harness) -> None:
    await three_decisions(harness)
    app = harness.app
    parent = next(p for p in await app.people.active() if p.full_name == "Иванова Елена Викторовна")
    # The table refuses a MAX row without its account, or naming it both the old way and the new,
    # whatever the caller.
    head = await ConsentRepo.chain_head(app.db.conn)
    assert head is not None
    for tg, mx, uid in ((None, None, None), (5, None, 6), (None, 6, 6)):
        values = ("R-bad", parent.id, 5, "given", 1, "abc", "max", tg, None, "cb-bad", None, None,
                  "2026-12-01T10:00:00.000000Z", mx, uid)
        # One transaction each: on PostgreSQL a refused statement ends its transaction.
        with pytest.raises(INTEGRITY_ERRORS, match="(?i)check constraint"):
            async with app.db.transaction() as conn:
                await conn.execute(
                    f"INSERT INTO consent_ledger({', '.join(chain.COLUMNS)}, prev_hash, row_hash)"
                    f" VALUES ({', '.join('?' * (len(chain.COLUMNS) + 2))})",
                    (*values, head.last_hash, chain.row_hash(head.last_hash, values)),
                )


@pytest.mark.sqlite_only(reason="an SQLite file from before migration 016; PostgreSQL starts at its baseline")
async def test_migration_016_keeps_every_row_and_hash(tmp_path: Path) -> None:
    """A ledger written before migration 016 (Telegram and paper rows) verifies after it, row for row
    and hash for hash, and still refuses an update."""
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    raw.create_function(chain.SQL_FUNCTION, len(chain.BASE_COLUMNS) + 1, chain.sql_row_hash, deterministic=True)
    for number, _name, sql in migrations():
        if number < 16:
            raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    raw.execute("INSERT INTO persons(id, roster_key, full_name, created_at, updated_at) VALUES (1, 'p', 'P', 'x', 'x')")
    raw.execute("INSERT INTO persons(id, roster_key, full_name, created_at, updated_at) VALUES (2, 'c', 'C', 'x', 'x')")
    raw.execute("INSERT INTO consent_versions(number, sha256, text, published_at) VALUES (1, 'abc', 't', 'x')")
    prev = chain.GENESIS
    for i, (decision, channel) in enumerate((("given", "telegram"), ("withdrawn", "paper"), ("given", "telegram"))):
        values = (f"OLD{i}", 1, 2, decision, 1, "abc", channel, 77 if channel == "telegram" else None, None,
                  f"cb{i}", 1 if channel == "paper" else None, "2026-09-01" if channel == "paper" else None,
                  f"2026-09-0{i + 1}T10:00:00.000000Z")
        digest = chain.row_hash(prev, values)
        raw.execute(
            f"INSERT INTO consent_ledger({', '.join(chain.BASE_COLUMNS)}, prev_hash, row_hash)"
            f" VALUES ({', '.join('?' * (len(chain.BASE_COLUMNS) + 2))})", (*values, prev, digest),
        )
        prev = digest
    before = raw.execute("SELECT id, receipt_id, row_hash FROM consent_ledger ORDER BY id").fetchall()
    raw.commit()
    raw.close()
    db = Database(path)
    await db.open()
    try:
        after = await db.fetchall("SELECT id, receipt_id, row_hash FROM consent_ledger ORDER BY id")
        assert [tuple(r) for r in after] == before
        verdict = await ledger.check(db, ConsentRepo())
        assert verdict.ok and verdict.rows == 3 and verdict.last_receipt == "OLD2"
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await db.conn.execute("UPDATE consent_ledger SET decision = 'given'")
    finally:
        await db.close()
