"""Clear errors at start and at run time: one Russian line that says what to do, once per change.

Read-only and full data folders use a real tmpfs mount (skipped with the reason where mounting is
not allowed); the read-only one runs `schoolbot run` as a process to show its exit and output.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import bot.tg.startup as startup
from bot.app import build_bot, create_app, serve
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG, ConfigError
from bot.fakeapi import FakeTelegram
from bot.paths import ROOT
from bot.tg.startup import StartupError
from scheduler.base import ManualScheduler
from storage.outbox import OutboxRepo, Payload
from tests.delivery_helpers import add_people, drained, wait_until
from tests.harness import DEFAULT_START, make_settings, running_bot


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],  # noqa: S607
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)  # noqa: S607


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def lines_with(caplog: pytest.LogCaptureFixture, fragment: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if fragment in r.getMessage()]


async def test_read_only_data_folder_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "ro,size=4m") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "BACKUP_"))}
        env.update(
            BOT_TOKEN="123456:TEST-TOKEN", BOT_API_URL="http://127.0.0.1:9",  # never reached
            DATABASE_PATH=str(data / "schoolbot.sqlite3"), BACKUP_DIR=str(tmp_path / "backups"),
            SCHOOL_CONFIG=str(EXAMPLE_SCHOOL_CONFIG), PYTHONPATH=str(ROOT),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 2
    line = one_line(err.decode())
    assert line.startswith(f"schoolbot: папка данных {data} доступна только для чтения"), line
    assert "дайте боту право записи" in line


async def test_full_data_folder_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "size=2m") as data:
        settings = make_settings(tmp_path, database_path=data / "schoolbot.sqlite3", bot_api_url="http://127.0.0.1:9")
        app = create_app(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler())
        with pytest.raises(StartupError) as caught:
            await serve(app, build_bot(settings), handle_signals=False)
        assert not (data / "schoolbot.sqlite3").exists()  # nothing half-written
    line = one_line(str(caught.value))
    assert line.startswith(f"на диске с папкой данных {data} осталось ") and "освободите место" in line


async def test_a_token_telegram_refuses_stops_the_start_with_one_line(tg: FakeTelegram, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bot_token="654321:WRONG-TOKEN", bot_api_url=tg.base_url)
    app = create_app(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler())
    with pytest.raises(StartupError) as caught:
        await serve(app, build_bot(settings), handle_signals=False)
    line = one_line(str(caught.value))
    assert line.startswith("Telegram не принимает BOT_TOKEN") and "@BotFather" in line
    assert "WRONG-TOKEN" not in line


def test_a_malformed_or_missing_token_is_one_line(tmp_path: Path) -> None:

    with pytest.raises(ConfigError, match="BOT_TOKEN не похож на токен бота"):
        build_bot(make_settings(tmp_path, bot_token="not-a-token"))
    with pytest.raises(ConfigError, match="не задан BOT_TOKEN: создайте бота у @BotFather"):
        build_bot(make_settings(tmp_path, bot_token=None))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_bot_api_is_one_line_until_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(startup, "API_BACKOFF_FIRST", 0.05)
    monkeypatch.setattr(startup, "API_BACKOFF_CAP", 0.2)
    monkeypatch.setattr(startup, "POLLING_BACKOFF_CAP", 0.2)
    caplog.set_level(logging.INFO)
    port = _free_port()
    tg = FakeTelegram()
    settings = make_settings(tmp_path, bot_token=tg.token, bot_api_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler())
    task = asyncio.create_task(serve(app, build_bot(settings), handle_signals=False))
    try:
        await wait_until(lambda: _true(bool(lines_with(caplog, "Bot API недоступен"))))
        await asyncio.sleep(0.5)  # several more attempts at 0.05-0.2 s
        assert len(lines_with(caplog, "Bot API недоступен")) == 1
        assert f"BOT_API_URL (http://127.0.0.1:{port})" in lines_with(caplog, "Bot API недоступен")[0]
        await tg.start(port=port)
        await wait_until(lambda: _true(app.sender is not None))
        assert len(lines_with(caplog, "связь с Bot API восстановлена")) == 1
        # An outage while polling: aiogram's per-attempt lines fold into the same two lines.
        tg.fail_next("getUpdates", 502, count=4)
        anna = tg.user(501, "Анна")
        await anna.send("/start")  # ends the long poll in progress; the next four polls fail
        await tg.wait_for(anna.id)
        await anna.send("/help")  # answered once polling works again
        await tg.wait_for(anna.id, after=1)
        assert len(lines_with(caplog, "Bot API недоступен")) == 2
        assert len(lines_with(caplog, "связь с Bot API восстановлена")) == 2
        assert not lines_with(caplog, "Failed to fetch updates") and not lines_with(caplog, "Sleep for")
    finally:
        dp = app.dispatcher
        if dp is not None:
            await dp.stop_polling()
        await asyncio.wait_for(task, timeout=15)
        await tg.stop()


async def _true(value: bool) -> bool:
    return value


async def test_failing_set_my_commands_is_one_line_and_the_bot_keeps_going(
    tg: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(startup, "COMMANDS_RETRY_FIRST", 0.05)
    caplog.set_level(logging.INFO)
    tg.fail_next("setMyCommands", 500, count=3)
    async with running_bot(tg, tmp_path) as app:
        assert app.sender is not None  # started despite the failure
        anna = tg.user(501, "Анна")
        await anna.send("/start")
        await tg.wait_for(anna.id)
        await wait_until(lambda: _true(bool(lines_with(caplog, "список команд бота установлен"))))
        failed = lines_with(caplog, "не удалось установить список команд")
        assert len(failed) == 1 and "повторит попытку" in failed[0]
        assert tg.commands() != []


@pytest.mark.sqlite_only(reason="a data folder turned read-only under SQLite (PRAGMA query_only)")
async def test_a_database_that_refuses_writes_is_one_line_until_it_works_again(
    tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = ManualClock(DEFAULT_START)
    # One connection: the read-only switch below (`db.conn`) must reach the one that writes.
    async with running_bot(tg, tmp_path, clock=clock, separate_reader=False) as app:
        people = await add_people(app, 3)
        async with app.db.transaction() as conn:
            for person_id, _tg_id in people:
                await OutboxRepo.enqueue(conn, dedupe_key=f"ro:{person_id}", person_id=person_id,
                              kind="text",
                              payload=Payload(text="после сбоя"), now=clock.now(),
                              not_before=clock.now() + timedelta(hours=1))
        # What a data folder turned read-only under the running bot looks like to SQLite.
        await app.db.conn.execute("PRAGMA query_only = ON")
        clock.advance(timedelta(hours=2))
        app.wake_sender()
        await asyncio.sleep(2.5)  # the sender retries about once a second meanwhile
        refused = lines_with(caplog, "запись в базу данных не удалась")
        assert len(refused) == 1 and "стала доступна только для чтения" in refused[0], refused
        assert not lines_with(caplog, "outbox round failed")
        await app.db.conn.execute("PRAGMA query_only = OFF")
        app.wake_sender()
        await wait_until(lambda: drained(app))
        assert len(lines_with(caplog, "запись в базу данных снова работает")) == 1
        assert all(len(tg.sent(tg_id)) == 1 for _, tg_id in people)
