"""Helpers of the delivery-engine tests: people with Telegram links, outbox rows, waiting for the
sender (real I/O against the fake server, so a bounded real wait, never a deadline)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.app import App
from storage.delivery import DeliveryRepo
from storage.outbox import Payload, enqueue
from storage.people import PersonRepo

FIRST_TG = 50_000


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
            await PersonRepo.link_telegram(conn, person_id, tg_id, None, now)
            result.append((person_id, tg_id))
    return result


async def enqueue_texts(app: App, people: list[tuple[int, int]], prefix: str = "m") -> None:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        for person_id, tg_id in people:
            await enqueue(
                conn, dedupe_key=f"{prefix}:{person_id}", chat_id=tg_id, person_id=person_id, kind="text",
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
