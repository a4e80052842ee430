"""The consent ledger is a hash chain: a row changed, removed or reordered behind the bot's back
(triggers dropped, file edited) is named by `schoolbot verify-ledger` and at the bot's start."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from bot import cli
from bot.fakeapi import FakeTelegram
from bot.fakeapi.models import SentMessage
from bot.services import ledger
from storage import chain
from storage.consent import ConsentRepo
from storage.db import INTEGRITY_ERRORS, Database, migrations
from tests.harness import IT_OFFICER, Harness, running_bot
from tests.ledger_helpers import bypass, cli_env, three_decisions


async def _verify_cli(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["verify-ledger"])
    return code, capsys.readouterr().out.strip()


async def test_intact_ledger_verifies_and_new_rows_chain(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receipts = await three_decisions(harness)
    rows = await ConsentRepo.chain_rows(harness.app.db.conn)
    assert rows[0].prev_hash == chain.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    head = await ConsentRepo.chain_head(harness.app.db.conn)
    assert head is not None and head.rows == 3 and head.last_receipt == receipts[-1]
    assert (await ledger.check(harness.app.db, ConsentRepo())).ok
    await harness.app.close()
    cli_env(monkeypatch, tmp_path)
    code, out = await _verify_cli(capsys)
    assert code == 0
    assert out == f"Журнал согласий в порядке: 3 записи, цепочка хешей сходится (последняя квитанция: {receipts[-1]})."


async def test_changed_row_is_named(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receipts = await three_decisions(harness)
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        conn.execute("UPDATE consent_ledger SET decision = 'given' WHERE receipt_id = ?", (receipts[2],))
    cli_env(monkeypatch, tmp_path)
    code, out = await _verify_cli(capsys)
    assert code == 1
    assert out.startswith("Журнал согласий повреждён: запись изменена после того, как была внесена")
    assert f"Первая квитанция, которая не сходится: {receipts[2]} (запись № 3)" in out


async def test_changed_row_with_its_hash_recomputed_breaks_the_next_link(harness: Harness) -> None:
    receipts = await three_decisions(harness)
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        row = conn.execute(
            f"SELECT prev_hash, {', '.join(chain.COLUMNS)} FROM consent_ledger WHERE receipt_id = ?", (receipts[0],)
        ).fetchone()
        values = list(row[1:])
        values[chain.COLUMNS.index("decision")] = "declined"
        conn.execute(
            "UPDATE consent_ledger SET decision = 'declined', row_hash = ? WHERE receipt_id = ?",
            (chain.row_hash(row[0], values), receipts[0]),
        )
    await harness.app.open()
    fault = (await ledger.check(harness.app.db, ConsentRepo())).fault
    assert fault is not None and fault.kind == "removed" and fault.receipt_id == receipts[1]


@pytest.mark.parametrize("which", [0, 1])
async def test_removed_row_is_named(harness: Harness, which: int) -> None:
    receipts = await three_decisions(harness)
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        conn.execute("DELETE FROM consent_ledger WHERE receipt_id = ?", (receipts[which],))
    await harness.app.open()
    verdict = await ledger.check(harness.app.db, ConsentRepo())
    assert verdict.fault is not None and verdict.fault.receipt_id == receipts[which + 1]
    text = ledger.describe(verdict, harness.app.catalog.bind("ru"))
    assert "удалена запись" in text or "порядок записей" in text
    assert receipts[which + 1] in text


async def test_newest_row_removed_is_detected_by_the_head(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receipts = await three_decisions(harness)
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        conn.execute("DELETE FROM consent_ledger WHERE receipt_id = ?", (receipts[2],))
    cli_env(monkeypatch, tmp_path)
    code, out = await _verify_cli(capsys)
    assert code == 1
    assert "из конца журнала удалены записи: по заголовку цепочки их должно быть 3, а в журнале 2" in out
    assert f"последней была внесена квитанция {receipts[2]}" in out
    assert f"Последняя сохранившаяся квитанция: {receipts[1]}" in out


async def test_reordered_rows_are_detected(harness: Harness) -> None:
    receipts = await three_decisions(harness)
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        # Swap the first two rows (ids 1 and 2), hashes and all.
        conn.execute("UPDATE consent_ledger SET id = 100 WHERE id = 1")
        conn.execute("UPDATE consent_ledger SET id = 1 WHERE id = 2")
        conn.execute("UPDATE consent_ledger SET id = 2 WHERE id = 100")
    await harness.app.open()
    verdict = await ledger.check(harness.app.db, ConsentRepo())
    assert verdict.fault is not None and verdict.fault.kind == "reordered"
    assert verdict.fault.receipt_id == receipts[1]  # now first, it names its real predecessor
    assert "порядок записей в журнале изменён" in ledger.describe(verdict, harness.app.catalog.bind("ru"))


async def test_row_inserted_around_the_chain_is_refused_or_detected(harness: Harness) -> None:
    await three_decisions(harness)
    conn = harness.app.db.conn
    copy = "INSERT INTO consent_ledger(receipt_id, parent_id, child_id, decision, version, sha256, channel," \
        " user_id, created_at{}) SELECT 'FORGED01', parent_id, child_id, 'given', version, sha256, channel," \
        " user_id, created_at{} FROM consent_ledger WHERE id = 1"
    with pytest.raises(INTEGRITY_ERRORS, match="chain onto the ledger head"):
        await conn.execute(copy.format("", ""))
    with pytest.raises(INTEGRITY_ERRORS, match="chain onto the ledger head"):
        await conn.execute(copy.format(", prev_hash, row_hash", ", prev_hash, row_hash"))
    with pytest.raises(INTEGRITY_ERRORS, match="moves only with an insert"):
        await conn.execute("UPDATE consent_ledger_head SET rows = rows - 1")
    await harness.app.close()
    with bypass(harness.app.db.path) as raw:
        raw.execute(copy.format("", ""))
    await harness.app.open()
    fault = (await ledger.check(harness.app.db, ConsentRepo())).fault
    assert fault is not None and fault.kind == "unsealed" and fault.receipt_id == "FORGED01"


@pytest.mark.sqlite_only(reason="SQLite's migration 008 hashing older rows; PostgreSQL starts at its baseline")
async def test_existing_rows_are_chained_by_the_migration(tmp_path: Path) -> None:
    """A database from before migration 008 with ledger rows: opening it hashes them in id order."""
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    for number, _name, sql in migrations():
        if number < 8:
            raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    raw.execute("INSERT INTO persons(id, roster_key, full_name, created_at, updated_at) VALUES (1, 'p', 'P', 'x', 'x')")
    raw.execute("INSERT INTO persons(id, roster_key, full_name, created_at, updated_at) VALUES (2, 'c', 'C', 'x', 'x')")
    raw.execute("INSERT INTO consent_versions(number, sha256, text, published_at) VALUES (1, 'abc', 't', 'x')")
    for i, decision in enumerate(("given", "withdrawn", "given"), start=1):
        raw.execute(
            "INSERT INTO consent_ledger(receipt_id, parent_id, child_id, decision, version, sha256, channel,"
            " tg_user_id, created_at) VALUES (?, 1, 2, ?, 1, 'abc', 'telegram', 77, ?)",
            (f"OLD{i}", decision, f"2026-09-0{i}T10:00:00.000000Z"),
        )
    raw.commit()
    raw.close()
    db = Database(path)
    await db.open()
    try:
        verdict = await ledger.check(db, ConsentRepo())
        assert verdict.ok and verdict.rows == 3 and verdict.last_receipt == "OLD3"
        rows = await ConsentRepo.chain_rows(db.conn)
        assert rows[0].row_hash == chain.row_hash(chain.GENESIS, rows[0].values)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await db.conn.execute("UPDATE consent_ledger SET decision = 'given'")
    finally:
        await db.close()


@pytest.mark.slow
async def test_broken_ledger_at_start_logs_and_alerts_the_it_officer(
    harness: Harness, tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receipts = await three_decisions(harness)
    await harness.app.close()
    with bypass(harness.app.db.path) as conn:
        conn.execute("UPDATE consent_ledger SET channel = 'paper', recorded_by = 1, paper_date = '2026-11-01'"
                     " WHERE receipt_id = ?", (receipts[1],))
    tg.user(IT_OFFICER, "Пётр", "Петров", phone="+79000000001")
    with caplog.at_level(logging.ERROR, logger="bot.services.ledger"):
        async with running_bot(tg, tmp_path) as app:

            def alert(m: SentMessage) -> bool:
                return "Журнал согласий повреждён" in (m.plain or "")

            message = await tg.wait_for(IT_OFFICER, alert)
            assert receipts[1] in (message.plain or "")
            assert "schoolbot verify-ledger" in (message.plain or "")
            assert app.sender is not None  # the bot started and keeps running
    [line] = [r.getMessage() for r in caplog.records if "CONSENT LEDGER BROKEN" in r.getMessage()]
    assert f"changed at receipt {receipts[1]}" in line
