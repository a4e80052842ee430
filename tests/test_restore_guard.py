"""Restore compares consent ledgers by receipt: an older backup is refused while the live database
holds receipts the backup lacks (nothing lost, nothing changed); --carry-over re-appends them,
chained; --force restores without them, names each lost receipt and keeps the previous database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot import cli
from bot.core import file_restore
from bot.services import ledger
from bot.services.restore import CarryOverFailed, RestoreRefused
from storage.consent import ConsentRepo
from storage.db import Database
from tests.consent_helpers import school
from tests.harness import PARENT_ONE, PARENT_TWO, Harness
from tests.ledger_helpers import cli_env, decide

pytestmark = pytest.mark.sqlite_only(reason="the SQLite file's backups and restores (pg_dump's: test_backup_pg.py)")


async def _receipts(path: Path) -> list[str]:
    db = Database(path)
    await db.open()
    try:
        assert (await ledger.check(db, ConsentRepo())).ok
        return [r.receipt_id for r in await ConsentRepo.ledger_rows(db.conn)]
    finally:
        await db.close()


async def _older_backup_then_two_decisions(h: Harness) -> tuple[Path, list[str]]:
    await school(h)
    await decide(h, PARENT_TWO, "✅ Согласна: Миша")
    backup = await h.app.services.backup.take_backup()
    assert backup.ok
    await decide(h, PARENT_ONE, "✅ Согласен: Коля")
    await decide(h, PARENT_TWO, "❌ Не согласна: Маша")
    receipts = [r.receipt_id for r in await ConsentRepo.ledger_rows(h.app.db.conn)]
    assert len(receipts) == 3
    await h.app.close()
    return backup.path, receipts


async def _restore(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["restore", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_restore_of_an_older_backup_is_refused_and_nothing_is_lost(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup, receipts = await _older_backup_then_two_decisions(harness)
    before = harness.app.db.path.read_bytes()
    cli_env(monkeypatch, tmp_path)
    code, _out, err = await _restore(str(backup), capsys=capsys)
    assert code == 1
    assert "Восстановление отменено, ничего не изменено: в текущей базе есть 2 квитанции согласия" in err
    for receipt in receipts[1:]:
        assert f"• {receipt}: " in err
    assert f"• {receipts[0]}" not in err
    assert "schoolbot restore --carry-over" in err and "schoolbot restore --force" in err
    assert harness.app.db.path.read_bytes() == before
    assert not list(tmp_path.glob("*.before-restore-*"))
    assert await _receipts(harness.app.db.path) == receipts


async def test_carry_over_keeps_every_receipt_chained(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup, receipts = await _older_backup_then_two_decisions(harness)
    cli_env(monkeypatch, tmp_path)
    code, out, err = await _restore("--carry-over", str(backup), capsys=capsys)
    assert code == 0, err
    assert f"перенесены 2 квитанции: {receipts[1]}, {receipts[2]}" in out
    assert await _receipts(harness.app.db.path) == receipts  # same order, chain intact
    [aside] = tmp_path.glob("schoolbot.sqlite3.before-restore-*")
    assert await _receipts(aside) == receipts
    # The restored database decides as the live one did: Коля covered, Маша declined.
    await harness.app.open()
    rows = {r.receipt_id: r for r in await ConsentRepo.ledger_rows(harness.app.db.conn)}
    assert await harness.app.services.consent_gate.is_covered(harness.app.db.conn, rows[receipts[1]].child_id)
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, rows[receipts[2]].child_id)


async def test_force_names_every_lost_receipt_and_keeps_the_previous_database(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup, receipts = await _older_backup_then_two_decisions(harness)
    cli_env(monkeypatch, tmp_path)
    code, out, err = await _restore("--force", str(backup), capsys=capsys)
    assert code == 0, err
    [aside] = tmp_path.glob("schoolbot.sqlite3.before-restore-*")
    assert "ВНИМАНИЕ: в восстановленном журнале согласий нет 2 квитанций." in out
    assert f"Они сохранились только в отложенной копии {aside}" in out
    assert f"• {receipts[1]}: согласие дано" in out and f"• {receipts[2]}: отказ" in out
    assert await _receipts(harness.app.db.path) == receipts[:1]
    assert await _receipts(aside) == receipts


async def test_carry_over_brings_the_people_and_version_an_early_backup_lacks(harness: Harness) -> None:
    early = await harness.app.services.backup.take_backup()  # before the roster was imported
    await school(harness)
    await decide(harness, PARENT_ONE, "✅ Согласен: Коля")
    receipts = [r.receipt_id for r in await ConsentRepo.ledger_rows(harness.app.db.conn)]
    await harness.app.close()
    with pytest.raises(RestoreRefused):
        await file_restore(harness.app.db.path).restore(early.path, harness.clock.now())
    outcome = await file_restore(harness.app.db.path).restore(early.path, harness.clock.now(), carry_over=True)
    assert outcome.carried == tuple(receipts) and outcome.lost == ()
    assert await _receipts(harness.app.db.path) == receipts
    await harness.app.open()
    [row] = await ConsentRepo.ledger_rows(harness.app.db.conn)
    assert await harness.app.services.consent_gate.is_covered(harness.app.db.conn, row.child_id)


async def test_carry_over_that_cannot_apply_puts_the_live_database_back(harness: Harness) -> None:
    await school(harness)
    await harness.app.services.consent.current()  # version 1 is published before the backup
    backup = await harness.app.services.backup.take_backup()
    await decide(harness, PARENT_ONE, "✅ Согласен: Коля")
    await harness.app.close()
    before = await _receipts(harness.app.db.path)
    # The backup's version 1 differs from the one the live receipt was given on.
    conn = sqlite3.connect(backup.path)
    conn.execute("DROP TRIGGER consent_versions_no_update")
    conn.execute("UPDATE consent_versions SET sha256 = 'other' WHERE number = 1")
    conn.commit()
    conn.close()
    with pytest.raises(CarryOverFailed):
        await file_restore(harness.app.db.path).restore(backup.path, harness.clock.now(), carry_over=True)
    assert await _receipts(harness.app.db.path) == before
