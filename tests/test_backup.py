"""Backups of the bot's own database: online backup under concurrent writes, verification,
rotation, restore (and its refusals), the nightly sweep, the CLI."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import cli
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.core import file_restore
from bot.services import backup as backup_service
from bot.services.backup import BackupError, select_keep
from storage.db import Database
from storage.ops import OpsRepo
from storage.snapshot import verify_file
from tests.harness import Harness

pytestmark = pytest.mark.sqlite_only(reason="the SQLite file's backups and restores (pg_dump's: test_backup_pg.py)")

MSK = ZoneInfo("Europe/Moscow")


async def test_backup_is_verified_private_and_recorded(harness: Harness) -> None:
    result = await harness.app.services.backup.take_backup()
    assert result.ok and result.size_bytes > 0
    assert result.path.name == "schoolbot-20261130T070000Z.sqlite3"
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert verify_file(result.path) is None
    assert not Path(str(result.path) + "-wal").exists()
    last = await OpsRepo(harness.app.db).last_db_backup()
    assert last is not None and last.ok and last.local_day == "2026-11-30"


async def test_backup_during_concurrent_writes_restores_every_committed_row(harness: Harness, tmp_path: Path) -> None:
    app = harness.app
    async with app.db.transaction() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    committed: list[int] = []
    stop = asyncio.Event()
    warmed_up = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            async with app.db.transaction() as conn:
                for _ in range(20):
                    n += 1
                    await conn.execute("INSERT INTO bench_rows(id, payload) VALUES (?, ?)", (n, "x" * 200))
            committed.append(n)
            if len(committed) >= 30:
                warmed_up.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    await warmed_up.wait()
    before = committed[-1]  # every row up to here was committed before the backup started
    result = await app.services.backup.take_backup()
    writes_during = committed[-1] - before
    stop.set()
    await task
    assert result.ok
    assert writes_during > 0  # the writer kept committing while the backup ran (WAL: no blocking)

    target = tmp_path / "restored" / "schoolbot.sqlite3"
    await file_restore(target).restore(result.path, app.clock.now())
    conn = sqlite3.connect(target)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM bench_rows ORDER BY id")]
    finally:
        conn.close()
    assert len(ids) >= before
    assert ids == list(range(1, len(ids) + 1))  # no hole: one consistent snapshot
    assert len(ids) % 20 == 0  # only whole transactions
    print(f"rows committed before the backup: {before}, during it: {writes_during}, in the copy: {len(ids)}")


def test_rotation_keeps_daily_weekly_monthly() -> None:
    # One backup per night (03:00 Moscow) for 400 days, plus extra ones on some days.
    start = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    items = [(Path(f"b{i:03d}"), start + timedelta(days=i)) for i in range(400)]
    items.append((Path("extra"), start + timedelta(days=399, hours=5)))
    keep = select_keep(items, MSK, daily=7, weekly=4, monthly=12)
    moments = {p: m for p, m in items}
    kept = sorted(moments[p] for p in keep)
    newest = max(m for _, m in items)
    assert moments[Path("extra")] == newest and Path("extra") in keep
    days = {m.astimezone(MSK).date() for m in kept}
    # The last 7 days each keep one copy (the newest of the day).
    for back in range(7):
        assert (newest.astimezone(MSK) - timedelta(days=back)).date() in days
    assert Path("b399") not in keep  # same day as "extra", which is newer
    months = {(m.astimezone(MSK).year, m.astimezone(MSK).month) for m in kept}
    assert len(months) == 12
    weeks = {m.astimezone(MSK).isocalendar()[:2] for m in kept}
    assert len(weeks) >= 4
    assert len(keep) <= 7 + 4 + 12
    assert min(kept) > newest - timedelta(days=366)


def test_rotate_deletes_files_by_their_name_dates(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    for i in range(60):
        (tmp_path / backup_service.backup_name(start + timedelta(days=i))).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a backup")
    removed = backup_service.rotate(tmp_path, MSK)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert "notes.txt" in left
    assert len(left) - 1 == 60 - len(removed)
    assert len(left) - 1 <= 7 + 4 + 12
    assert backup_service.latest_backup(tmp_path) == tmp_path / backup_service.backup_name(start + timedelta(days=59))


async def test_restore_refuses_corrupt_and_foreign_files_and_changes_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "live.sqlite3"
    db = Database(db_path)
    await db.open()
    await db.close()
    original = db_path.read_bytes()
    now = datetime(2026, 11, 30, tzinfo=UTC)

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"definitely not sqlite" * 100)
    foreign = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    truncated = tmp_path / "truncated.sqlite3"
    truncated.write_bytes(original[: len(original) // 2])
    newer = tmp_path / "newer.sqlite3"
    newer.write_bytes(original)
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()

    for bad, words in ((garbage, "это не база данных SQLite"), (foreign, "это не база schoolbot"), (truncated, None),
                       (newer, "более новой версией schoolbot"), (tmp_path / "missing.sqlite3", "такого файла нет")):
        with pytest.raises(BackupError, match=words):
            await file_restore(db_path).restore(bad, now)
    assert db_path.read_bytes() == original
    assert not list(tmp_path.glob("*.before-restore-*"))


async def test_restore_moves_the_current_database_aside(harness: Harness, tmp_path: Path) -> None:
    app = harness.app
    result = await app.services.backup.take_backup()
    await app.services.backup.log_journal(quarter=2, label="after the backup", person_id=None)
    await app.close()
    aside = (await file_restore(app.db.path).restore(result.path, datetime(2026, 12, 1, 7, tzinfo=UTC))).aside
    assert aside is not None and aside.name == "schoolbot.sqlite3.before-restore-20261201T070000Z"
    assert stat.S_IMODE(app.db.path.stat().st_mode) == 0o600
    await app.open()
    assert await OpsRepo(app.db).journal_backups() == []  # the restored state predates the log entry
    old = Database(aside)
    await old.open()
    try:
        assert len(await OpsRepo(old).journal_backups()) == 1  # the previous database is intact aside
    finally:
        await old.close()


async def test_nightly_sweep_backs_up_once_per_night(harness: Harness) -> None:
    app = harness.app
    harness.clock.set(datetime(2026, 12, 1, 1, 30, tzinfo=MSK))
    await app.tick()
    assert await OpsRepo(app.db).last_db_backup() is None  # before the window
    harness.clock.set(datetime(2026, 12, 1, 2, 1, tzinfo=MSK))
    await app.tick()
    first = await OpsRepo(app.db).last_db_backup()
    assert first is not None and first.ok and first.local_day == "2026-12-01"
    harness.clock.advance(timedelta(minutes=1))
    await app.tick()
    assert len(await OpsRepo(app.db).db_backup_log()) == 1
    harness.clock.set(datetime(2026, 12, 2, 4, 59, tzinfo=MSK))
    assert await app.services.ops.nightly_backup(app.clock.now())
    harness.clock.set(datetime(2026, 12, 3, 5, 0, tzinfo=MSK))
    assert not await app.services.ops.nightly_backup(app.clock.now())  # after the window
    assert len(backup_service.list_backups(Path(app.settings.backup_dir))) == 2


async def test_cli_backup_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "bk"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(cli.main, ["backup"]) == 0
    [copy] = backup_service.list_backups(tmp_path / "bk")
    assert await asyncio.to_thread(cli.main, ["restore", str(copy[0])]) == 0
    assert "Прежняя база сохранена как" in capsys.readouterr().out
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"nope")
    assert await asyncio.to_thread(cli.main, ["restore", str(bad)]) == 1
    assert "Восстановление отменено: " in capsys.readouterr().err
    assert await asyncio.to_thread(cli.main, ["export", "report", "--out", str(tmp_path / "r.xlsx")]) == 0
    assert (tmp_path / "r.xlsx").stat().st_size > 1000
