"""Helpers of the delivery-engine tests: people with Telegram links, outbox rows, waiting for the
sender (real I/O against the fake server, so a bounded real wait, never a deadline)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.app import App, create_app
from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from bot.paths import ROOT
from bot.services import broadcast as service
from scheduler.base import ManualScheduler
from storage.accounts import AccountRepo
from storage.delivery import DeliveryRepo
from storage.outbox import OutboxRepo, Payload
from storage.people import PersonRepo
from tests.harness import make_settings, private_school_config
from tests.servers import backend_under_test, query_test_database

FIRST_TG = 50_000

# The Telegram chat of an outbox row's person, for tests that look at the outbox by Telegram chat:
# a row addresses a person, and the sender sends it to their account.
TG_CHAT = "(SELECT a.user_id FROM accounts a WHERE a.person_id = outbox.person_id AND a.channel = 'telegram')"


async def add_people(
    app: App, count: int, *, role: str = "parent", first_tg: int = FIRST_TG, class_label: str | None = None
) -> list[tuple[int, int]]:
    """`count` linked people with `role`; returns (person id, Telegram id) pairs."""
    now = app.clock.now()
    result = []
    async with app.db.transaction() as conn:
        for i in range(count):
            tg_id = first_tg + i
            person_id = await PersonRepo.create(
                conn, roster_key=f"{role}-{tg_id}", full_name=f"Person {tg_id}", roles=[role], now=now,
                class_label=class_label,
            )
            await AccountRepo.link(conn, person_id, Channel.TELEGRAM, tg_id, None, now)
            result.append((person_id, tg_id))
    return result


async def enqueue_texts(app: App, people: list[tuple[int, int]], prefix: str = "m") -> None:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        for person_id, tg_id in people:
            await OutboxRepo.enqueue(
                conn, dedupe_key=f"{prefix}:{person_id}", person_id=person_id, kind="text",
                payload=Payload(text=f"{prefix} for {tg_id}"), now=now,
            )
    app.wake_sender()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, step: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


async def counts(app: App) -> dict[str, int]:
    return await DeliveryRepo(app.db).counts()


async def drained(app: App) -> bool:
    return (await counts(app))["pending"] == 0


# --- the bot in a subprocess (graceful stop and crash tests) ------------------------------------

BROADCAST_TEXT = "Проверка рассылки"


async def prepare_broadcast(tmp_path: Path, recipients: int) -> int:
    """A database with `recipients` linked parents and one broadcast to all of them, enqueued."""

    app = create_app(make_settings(tmp_path), scheduler=ManualScheduler())
    await app.open()
    try:
        await add_people(app, recipients)
        broadcast_id, count = await app.services.broadcast.create(
            audience=service.Audience("parents"), html_text=BROADCAST_TEXT, author=None
        )
        assert count == recipients
        return broadcast_id
    finally:
        await app.close()


def bot_env(tg: FakeTelegram, tmp_path: Path, **extra: str) -> dict[str, str]:
    # DATABASE_URL stays: on the PostgreSQL pass (tests/conftest.py) the child uses the test's database.
    env = {k: v for k, v in os.environ.items()
           if k == "DATABASE_URL" or not k.startswith(("BOT_", "DATABASE_", "ADMIN_", "OUTBOX_"))}
    env.update(
        BOT_TOKEN=tg.token,
        BOT_API_URL=tg.base_url,
        DATABASE_PATH=str(tmp_path / "schoolbot.sqlite3"),
        BACKUP_DIR=str(tmp_path / "backups"),
        SCHOOL_CONFIG=str(private_school_config(tmp_path)),
        OUTBOX_RATE="30",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


async def start_bot(tg: FakeTelegram, tmp_path: Path, log_name: str = "bot.log") -> asyncio.subprocess.Process:
    """`schoolbot run` in a subprocess (cwd = tmp_path, so no .env of the developer is read)."""
    with (tmp_path / log_name).open("ab") as log:  # the child keeps its own descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run",
            cwd=tmp_path, env=bot_env(tg, tmp_path), stdout=log, stderr=log,
        )


def broadcast_deliveries(tg: FakeTelegram, recipients: int) -> dict[int, int]:
    """Telegram id -> how many copies of the broadcast it received."""
    return {
        tg_id: sum(1 for m in tg.sent(tg_id) if BROADCAST_TEXT in (m.plain or ""))
        for tg_id in range(FIRST_TG, FIRST_TG + recipients)
    }


def db_state(tmp_path: Path) -> dict[str, int]:
    """Read from outside (the bot process is gone): integrity (SQLite's check of its file) and
    outbox statuses, on the backend under test (tests/servers.query_test_database)."""
    db = tmp_path / "schoolbot.sqlite3"
    if backend_under_test() == "sqlite":
        assert query_test_database(db, "PRAGMA integrity_check") == [("ok",)]
    state = {str(k): int(v) for k, v in query_test_database(db, "SELECT status, count(*) FROM outbox GROUP BY status")}
    [(state["leased"],)] = query_test_database(db, "SELECT count(*) FROM outbox WHERE lease_owner IS NOT NULL")
    [(state["sent_without_id"],)] = query_test_database(
        db, "SELECT count(*) FROM outbox WHERE status = 'sent' AND tg_message_id IS NULL"
    )
    return state
