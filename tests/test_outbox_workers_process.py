"""Three worker processes drain one outbox and one of them is killed with SIGKILL mid-drain (#27
item 4): nothing is lost and nothing goes twice (counted in the strict fake Telegram's own record).

Each child is a real process built as `schoolbot run` builds its sender (create_app from the
environment, build_bot with the limited session, OutboxSender), sharing the database file (or, under
SCHOOLBOT_TEST_BACKEND=postgres, the PostgreSQL database of DATABASE_URL). The killed worker dies
holding leases on rows it has not sent; the survivors' keepers see its pid gone and take the rows.

The one window in which a kill can make a duplicate (the fake accepted a message, the worker had not
yet recorded it: the honest limit in storage/delivery.py) is avoided on purpose: the victim is
stopped (SIGSTOP) first, and killed only when none of the rows it holds has reached the fake;
otherwise it is let go on and stopped again a moment later.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.app import build_bot, create_app
from bot.config import Settings
from bot.fakeapi import FakeTelegram
from scheduler.base import ManualScheduler
from storage.delivery import DeliveryRepo
from storage.outbox import OutboxRepo, Payload
from tests.delivery_helpers import TG_CHAT, add_people, bot_env, wait_until
from tests.harness import make_settings

pytestmark = pytest.mark.slow

PEOPLE = 150
PER_PERSON = 2  # 300 messages


def _text(n: int, tg_id: int) -> str:
    return f"m{n} for {tg_id}"


async def _prepare(tg: FakeTelegram, folder: Path) -> list[tuple[int, int]]:

    app = create_app(make_settings(folder), scheduler=ManualScheduler())
    await app.open()
    try:
        people = await add_people(app, PEOPLE)
        now = app.clock.now()
        async with app.db.transaction() as conn:
            for n in range(PER_PERSON):
                for person_id, tg_id in people:
                    await OutboxRepo.enqueue(
                        conn, dedupe_key=f"p:{person_id}:{n}", person_id=person_id, kind="text",
                        payload=Payload(text=_text(n, tg_id)), now=now,
                    )
    finally:
        await app.close()
    for _, tg_id in people:
        await tg.user(tg_id, f"Родитель {tg_id}").send("/start")
    return people


async def _state(folder: Path, victim: int) -> tuple[int, int, list[int]]:
    """(rows pending, rows sent, ids of the rows the victim holds), read as a fourth party."""

    app = create_app(make_settings(folder), scheduler=ManualScheduler())
    await app.open()
    try:
        pending = int(await app.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'"))
        sent = int(await app.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'sent'"))
        held = await app.db.fetchall(
            "SELECT id FROM outbox WHERE status = 'pending' AND lease_owner LIKE ?", (f"%#{victim}#%",)
        )
        return pending, sent, [int(r[0]) for r in held]
    finally:
        await app.close()


async def _texts_of(folder: Path, ids: list[int]) -> list[tuple[int, str]]:
    """(Telegram chat, text) of outbox rows, to look for them in the fake's record."""

    if not ids:
        return []
    app = create_app(make_settings(folder), scheduler=ManualScheduler())
    await app.open()
    try:
        rows = await app.db.fetchall(
            f"SELECT {TG_CHAT}, payload FROM outbox WHERE id IN ({','.join('?' * len(ids))})", ids
        )
        return [(int(r[0]), Payload.from_json(r[1]).text or "") for r in rows]
    finally:
        await app.close()


async def test_three_worker_processes_one_killed_mid_drain_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    async with FakeTelegram(rate_limited=False, strict_chats=True) as tg:
        people = await _prepare(tg, tmp_path)
        # 10 messages a second each: the drain takes long enough to kill a worker in its middle.
        env = {**bot_env(tg, tmp_path), "OUTBOX_RATE": "10"}
        # The backend under test (bot_env leaves the developer's DATABASE_* out): PostgreSQL's URL.
        env.update({k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "DATABASE_SCHEMA")})
        children = []
        for i in range(3):
            with (tmp_path / f"worker-{i}.log").open("ab") as log:  # the child keeps its own descriptor
                children.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tests.test_outbox_workers_process", str(tmp_path),
                    cwd=tmp_path, env=env, stdout=log, stderr=log,
                ))
        try:
            async def ready() -> bool:
                return len(list(tmp_path.glob("ready-*"))) == 3

            await wait_until(ready, timeout=180)  # a loaded machine starts Python slowly
            (tmp_path / "go").touch()
            victim = children[0]
            held: list[int] = []

            async def victim_busy() -> bool:
                nonlocal held
                _, sent, held = await _state(tmp_path, victim.pid)
                return sent >= 60 and len(held) > 0

            await wait_until(victim_busy, timeout=60)
            stops = 0
            in_window: list[tuple[int, str]] = []
            while True:
                os.kill(victim.pid, signal.SIGSTOP)
                stops += 1
                # Let the fake (on this event loop) answer whatever the victim had already sent.
                await asyncio.sleep(0.3)
                _, _, held = await _state(tmp_path, victim.pid)
                accepted = {(m.chat_id, m.plain) for _, tg_id in people for m in tg.sent(tg_id)}
                in_window = [t for t in await _texts_of(tmp_path, held) if t in accepted]
                # Best: caught holding rows with none of them at the platform. On a loaded machine the
                # victim may be mid-send at every stop; then it is killed anyway and the messages it had
                # in flight (accepted by the platform, not yet recorded) are the documented limit
                # (storage/delivery.py): they alone may arrive twice.
                if (held and not in_window) or stops >= 20:
                    break
                os.kill(victim.pid, signal.SIGCONT)
                await asyncio.sleep(0.05)
            victim.kill()
            await victim.wait()
            assert victim.returncode == -signal.SIGKILL
            print(f"\nkilled worker {victim.pid}: {len(held)} row(s) held, {len(in_window)} in flight, {stops} stop(s)")
            for child in children[1:]:
                assert await asyncio.wait_for(child.wait(), timeout=120) == 0
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
        pending, sent, _ = await _state(tmp_path, victim.pid)
        assert (pending, sent) == (0, PEOPLE * PER_PERSON)
        copies = Counter((m.chat_id, m.plain) for _, tg_id in people for m in tg.sent(tg_id))
        expected = {(tg_id, _text(n, tg_id)) for _, tg_id in people for n in range(PER_PERSON)}
        assert set(copies) == expected  # nothing lost
        twice = {k for k, n in copies.items() if n > 1}
        # Nothing twice, but for what the victim had in flight when it was killed (empty when caught clean).
        assert twice <= set(in_window), twice
        assert max(copies.values()) <= 2
        for _, tg_id in people:  # and a person's messages in order, whichever worker sent them
            assert [m.plain for m in tg.sent(tg_id)] == [_text(n, tg_id) for n in range(PER_PERSON)]


# --- the child: one worker process -------------------------------------------------------------


async def _child(folder: Path) -> None:

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, scheduler=ManualScheduler())
    await app.open()
    bot = build_bot(settings)
    sender = app.new_sender(bot)
    try:
        (folder / f"ready-{os.getpid()}").touch()
        while not (folder / "go").exists():  # noqa: ASYNC110 - a child waiting for its start signal
            await asyncio.sleep(0.05)
        sender.start()
        repo = DeliveryRepo(app.db)
        while (await repo.counts())["pending"] > 0:  # noqa: ASYNC110 - until the shared queue is empty
            await asyncio.sleep(0.2)
    finally:
        await sender.stop()
        await bot.session.close()
        await app.close()


if __name__ == "__main__":  # a child: `python -m tests.test_outbox_workers_process FOLDER` (PYTHONPATH: the root)
    asyncio.run(_child(Path(sys.argv[1])))
