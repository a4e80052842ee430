"""Process-death and full-disk faults, with real `schoolbot` subprocesses: kill -9 during a roster
import, during a consent decision and during a backup, and ENOSPC while an import writes. Each
leaves the database intact (integrity_check ok), holding all of a change or none of it, and the
next start works."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import create_app
from bot.channels import Channel
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from scheduler.base import ManualScheduler
from storage.accounts import AccountRepo
from storage.snapshot import verify_file
from tests.delivery_helpers import start_bot
from tests.harness import PARENT_TWO, ROSTER_ROWS, csv_bytes, make_settings, roster_csv
from tests.servers import backend_under_test, query_test_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k == "DATABASE_URL" or not k.startswith(("BOT_", "DATABASE_", "ADMIN_", "OUTBOX_", "BACKUP_", "SCHOOL_"))}
    env.update(
        BOT_TOKEN="123456:TEST-TOKEN",
        BOT_API_URL="http://127.0.0.1:9",  # never reached: these commands do not talk to Telegram
        DATABASE_PATH=str(folder / "schoolbot.sqlite3"),
        BACKUP_DIR=str(folder / "backups"),
        SCHOOL_CONFIG=str(EXAMPLE_SCHOOL_CONFIG),
        PYTHONPATH=str(ROOT),
    )
    return env


async def _spawn(folder: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=folder, env=_env(folder),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _run(folder: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    proc = await _spawn(folder, *args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _kill(proc: asyncio.subprocess.Process) -> None:
    proc.kill()  # SIGKILL: no handler, no finally, no close runs
    await proc.communicate()
    assert proc.returncode == -9


def _count(db: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    """One count on the database after the fault, read from outside as the next start would read it
    (on SQLite the file passes its integrity check first; on the PostgreSQL pass, the test's database)."""
    if backend_under_test() == "sqlite":
        assert query_test_database(db, "PRAGMA integrity_check") == [("ok",)]
    [(n,)] = query_test_database(db, sql, params)
    return int(n)


def _people(db: Path) -> int:
    return _count(db, "SELECT count(*) FROM persons")


def _pupils(n: int) -> bytes:
    rows = [["ФИО", "Роль", "Класс"]] + [[f"Ученик{i} Тест", "ученик", f"{1 + i % 11}А"] for i in range(n)]
    return csv_bytes(rows, encoding="utf-8", delimiter=";")


def _write_locked(db: Path) -> bool:
    """Whether another connection holds the write lock (an import's transaction is open)."""
    if backend_under_test() == "postgres":
        return _count(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                          " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL") > 0
    conn = sqlite3.connect(db, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


async def _new_database(folder: Path) -> None:
    """A database with every migration applied and the small school's 9 people."""
    (folder / "small.csv").write_bytes(csv_bytes(ROSTER_ROWS))
    code, _, err = await _run(folder, "import", "roster", "small.csv")
    assert code == 0, err
    assert _people(folder / "schoolbot.sqlite3") == 9


def _active(db: Path) -> int:
    return _count(db, "SELECT count(*) FROM persons WHERE active = 1")


# --- kill -9 ------------------------------------------------------------------------------------


async def test_kill_9_during_a_roster_import_leaves_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "schoolbot.sqlite3"
    await _new_database(tmp_path)
    (tmp_path / "big.csv").write_bytes(_pupils(20_000))
    proc = await _spawn(tmp_path, "import", "roster", "big.csv", "--confirm-deactivations")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    held = 0
    # Kill once the import's write transaction has been open for a while (rows being written).
    while held < 5:
        assert proc.returncode is None, "the import finished before it could be killed"
        assert loop.time() < deadline, "the import never started writing"
        held = held + 1 if await asyncio.to_thread(_write_locked, db) else 0
        await asyncio.sleep(0.05)
    await _kill(proc)
    # None of the 20,000 rows and none of the 9 deactivations: the transaction never committed.
    assert _people(db) == 9 and _active(db) == 9
    # The next start is clean: the same database takes an import at once.
    code, out, err = await _run(tmp_path, "import", "roster", "small.csv")
    assert code == 0, err
    assert "без изменений: 9" in out


def _decisions(db: Path, child: str) -> int:
    return _count(
        db, "SELECT count(*) FROM consent_ledger WHERE child_id = (SELECT id FROM persons WHERE full_name = ?)",
        (child,),
    )


async def test_kill_9_during_a_consent_decision_then_a_clean_start(tg: FakeTelegram, tmp_path: Path) -> None:
    db = tmp_path / "schoolbot.sqlite3"
    app = create_app(make_settings(tmp_path), scheduler=ManualScheduler())
    await app.open()
    try:
        assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        parent = next(p for p in await app.people.active() if p.full_name == "Иванова Елена Викторовна")
        async with app.db.transaction() as conn:
            await AccountRepo.link(conn, parent.id, Channel.TELEGRAM, PARENT_TWO, None, app.clock.now())
    finally:
        await app.close()
    user = tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
    proc = await start_bot(tg, tmp_path)
    try:
        await user.send("/consent")
        menu = await tg.wait_for(PARENT_TWO, lambda m: "Согласие на обработку" in (m.plain or ""), timeout=60)
        n = len(tg.sent(PARENT_TWO))
        await user.press(menu, "📄 Прочитать документ: Миша")  # the agree button comes after reading
        menu = await tg.wait_for(
            PARENT_TWO, lambda m: any("✅ Согласна: Миша" in row for row in m.buttons()), after=n, timeout=60
        )
        n = len(tg.requests)
        await user.press(menu, "✅ Согласна: Миша")
        # The next poll after the press: the bot holds the update and is deciding.
        await tg.wait_for_request("getUpdates", after=n, timeout=60)
    finally:
        await _kill(proc)
    after_kill = _decisions(db, "Иванов Миша Андреевич")
    assert after_kill in (0, 1)  # the decision whole, or not at all
    print(f"kill -9 during a consent decision: {after_kill} ledger row(s) after the kill")
    proc = await start_bot(tg, tmp_path)
    try:
        seen = len(tg.sent(PARENT_TWO))
        await user.send("/consent")
        again = await tg.wait_for(
            PARENT_TWO, lambda m: "Согласие на обработку" in (m.plain or ""), timeout=60, after=seen
        )
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), timeout=30)
    # The next start shows what the ledger holds, and no press was recorded twice.
    assert _decisions(db, "Иванов Миша Андреевич") == after_kill
    assert ("согласие дано" in (again.plain or "")) == (after_kill == 1), again.plain


@pytest.mark.sqlite_only(reason="the SQLite file's backup copy")
async def test_kill_9_during_a_backup_leaves_no_half_written_copy(tmp_path: Path) -> None:
    db = tmp_path / "schoolbot.sqlite3"
    backups = tmp_path / "backups"
    await _new_database(tmp_path)
    conn = sqlite3.connect(db)
    try:
        # 48 MB of data so that the copy takes long enough to be caught in the middle.
        conn.execute("CREATE TABLE fault_filler(b BLOB)")
        conn.executemany("INSERT INTO fault_filler VALUES (randomblob(1048576))", [()] * 48)
        conn.commit()
    finally:
        conn.close()
    proc = await _spawn(tmp_path, "backup")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while not (backups.exists() and any(".part" in p.name for p in backups.iterdir())):
        assert proc.returncode is None, "the backup finished before it could be killed"
        assert loop.time() < deadline, "the backup never started"
        await asyncio.sleep(0.005)
    await _kill(proc)
    finished = [p for p in backups.iterdir() if ".part" not in p.name]
    assert finished == []  # a copy is renamed into place only once complete and verified
    _people(db)  # the live database still reads (and on SQLite passes its integrity check)
    code, _, err = await _run(tmp_path, "backup")
    assert code == 0, err
    copies = sorted(backups.iterdir())
    assert len(copies) == 1 and ".part" not in copies[0].name, copies  # the cut-short copy is gone
    assert verify_file(copies[0]) is None


# --- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> AsyncIterator[Path]:
    """A 4 MB tmpfs: room for the database, not for much more."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) to make a small tmpfs")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run([shutil.which("umount") or "umount", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system up to `leave` free bytes."""
    filler = folder / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * 65536
        while True:
            free = shutil.disk_usage(folder).free
            if free <= leave:
                break
            try:
                out.write(chunk[: min(len(chunk), free - leave)])
                out.flush()
            except OSError:
                break
    return filler


@pytest.mark.sqlite_only(reason="a full disk under the SQLite file")
async def test_full_disk_during_an_import_is_one_clear_line_and_writes_nothing(small_disk: Path) -> None:
    db = small_disk / "schoolbot.sqlite3"
    await _new_database(small_disk)
    (small_disk / "big.csv").write_bytes(_pupils(3000))
    filler = _fill(small_disk, leave=96 * 1024)
    code, out, err = await _run(small_disk, "import", "roster", "big.csv", "--confirm-deactivations")
    assert code == 2, (out, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        "На диске с базой данных нет места: импорт не записан (ничего не изменено). "
        "Освободите место и повторите импорт."
    ], err
    assert _people(db) == 9 and _active(db) == 9  # no partial row, nobody deactivated
    filler.unlink()
    code, out, err = await _run(small_disk, "import", "roster", "big.csv", "--confirm-deactivations")
    assert code == 0, err
    assert _people(db) == 3009 and _active(db) == 3001  # the last IT officer always stays
