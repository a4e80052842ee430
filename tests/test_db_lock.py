"""One process owns the database: a second `schoolbot run`, or a restore or an import while the bot
runs, exits at once with one clear Russian line (real processes, the real CLI)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.cli import main
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from storage.lock import DatabaseBusy, DatabaseLock
from tests.delivery_helpers import bot_env, start_bot, wait_until
from tests.harness import WEBHOOK_SECRET, free_port, roster_csv
from tests.servers import FreshDatabases

LOCK_LINE = "уже занята другим процессом schoolbot"


async def _cli(tg: FakeTelegram, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=tmp_path, env=bot_env(tg, tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_second_run_restore_and_import_exit_with_one_line_while_the_bot_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    (tmp_path / "roster.csv").write_bytes(roster_csv())
    async with FakeTelegram() as tg:
        for key, value in bot_env(tg, tmp_path).items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        first = await start_bot(tg, tmp_path)
        try:
            async def polling() -> bool:
                return "Бот запущен" in (tmp_path / "bot.log").read_text(errors="replace")

            await wait_until(polling, timeout=180)  # a loaded CI machine starts Python slowly
            # A second `run`: a real process, as an operator would start it.
            code, out, err = await _cli(tg, tmp_path, "run")
            assert code != 0, (out, err)
            [line] = err.strip().splitlines()
            assert LOCK_LINE in line and f"PID {first.pid}" in line and "«run»" in line
            # Restore and import through the same entry point, in this process (the lock is the
            # kernel's, so it holds between processes all the same).
            capsys.readouterr()
            for args in (["restore", "roster.csv"], ["import", "roster", "roster.csv"]):
                assert await asyncio.to_thread(cli.main, args) != 0
                [line] = capsys.readouterr().err.strip().splitlines()
                assert LOCK_LINE in line and f"PID {first.pid}" in line, args
            assert first.returncode is None  # the running bot was not disturbed
        finally:
            first.send_signal(signal.SIGTERM)
            try:
                assert await asyncio.wait_for(first.wait(), timeout=30) == 0
            finally:
                if first.returncode is None:
                    first.kill()
                    await first.wait()
        # Once the bot has stopped the database is free again.
        assert await asyncio.to_thread(cli.main, ["import", "roster", "roster.csv", "--dry-run"]) == 0


@pytest.mark.slow
async def test_webhook_workers_of_one_school_on_postgresql_start_side_by_side(
    tmp_path: Path, pg_databases: FreshDatabases
) -> None:
    """The file lock guards an SQLite file: two `schoolbot run` workers of one school on PostgreSQL
    behind webhooks (the reverse proxy's one address, a port each) both start and run side by side."""
    async with FakeTelegram() as tg:
        tg.webhooks.allow_http = True
        ports = [free_port(), free_port()]
        workers = []
        for i, port in enumerate(ports):
            env = bot_env(
                tg, tmp_path, DATABASE_URL=pg_databases.url("workers"), WEBHOOK_URL=f"http://127.0.0.1:{ports[0]}/hook",
                WEBHOOK_PORT=str(port), WEBHOOK_SECRET=WEBHOOK_SECRET,
            )  # fmt: skip
            with (tmp_path / f"worker-{i}.log").open("ab") as log:  # the child keeps its own descriptor
                workers.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env, stdout=log, stderr=log,
                ))
        try:
            async def both_started() -> bool:
                logs = [(tmp_path / f"worker-{i}.log").read_text(errors="replace") for i in range(2)]
                return all("Бот запущен" in text for text in logs)

            await wait_until(both_started, timeout=180)  # a loaded CI machine starts Python slowly
            assert all(worker.returncode is None for worker in workers)
            assert LOCK_LINE not in (tmp_path / "worker-1.log").read_text(errors="replace")
        finally:
            # How a worker stops is tested elsewhere (test_graceful_stop); here only that both ran.
            for worker in workers:
                if worker.returncode is None:
                    worker.kill()
                    await worker.wait()


def test_lock_is_exclusive_between_holders_and_released(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with DatabaseLock(db, "run"):
        with pytest.raises(DatabaseBusy) as caught:
            DatabaseLock(db, "restore").acquire()
        assert caught.value.holder_command == "run"
    with DatabaseLock(db, "restore") as again:
        assert again.held


def test_an_import_dry_run_reads_beside_the_running_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """"Check first" works without stopping the bot: a dry run writes nothing, so it does not need
    the database to itself; the real import still does."""

    db = tmp_path / "schoolbot.sqlite3"
    monkeypatch.setenv("DATABASE_PATH", str(db))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    assert main(["import", "roster", "roster.csv"]) == 0
    bot = DatabaseLock(db, "run").acquire()  # the running bot
    try:
        capsys.readouterr()
        assert main(["import", "roster", "roster.csv", "--dry-run"]) == 0
        assert "Traceback" not in capsys.readouterr().err
        assert main(["import", "roster", "roster.csv"]) == 3
    finally:
        bot.release()
