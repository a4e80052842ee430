"""What the benchmarks share: settings for a fresh temporary bot, a filled outbox, a sender run."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App, build_bot, create_app
from bot.channels import Channel
from bot.config import EXAMPLE_SCHOOL_CONFIG, Settings
from bot.fakeapi import FakeTelegram
from bot.services.qr_card import CardData, render_card
from scheduler.base import ManualScheduler
from storage.accounts import AccountRepo
from storage.outbox import OutboxRepo, Payload
from storage.people import PersonRepo

FIRST_CHAT = 100_000


@dataclass
class Row:
    name: str
    what: str
    measured: str
    target: str


def settings_for(tmp: Path, tg: FakeTelegram | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_path": tmp / "bench.sqlite3",
        "backup_dir": tmp / "backups",
        "school_config": EXAMPLE_SCHOOL_CONFIG,
    }
    if tg is not None:
        values.update(bot_token=tg.token, bot_api_url=tg.base_url)
    values.update(extra)
    return Settings(_env_file=None, **values)


async def _fill_outbox(app: App, count: int, kind: str) -> None:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        for i in range(count):
            chat = FIRST_CHAT + i
            person_id = await PersonRepo.create(
                conn, roster_key=f"bench-{chat}", full_name=f"Иванова Мария {i}", roles=["parent"], now=now
            )
            await AccountRepo.link(conn, person_id, Channel.TELEGRAM, chat, None, now)
            payload = (
                Payload(text=f"Сообщение номер {i}")
                if kind == "text"
                else Payload(text="Ваш код", renderer="bench_card", args={"i": i})
            )
            await OutboxRepo.enqueue(conn, dedupe_key=f"bench:{i}", person_id=person_id,
                          kind="text" if kind == "text" else "photo", payload=payload, now=now, broadcast_id=1)


@dataclass
class SendResult:
    rate: float
    fraction: float
    n429: int
    lost: int
    duplicated: int
    extra: dict[str, float]


async def run_sender(
    count: int, pace: float, *, kind: str = "text", latency: float = 0.0, fault_429: float = 0.0
) -> SendResult:
    render_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with FakeTelegram(rate_limited=True, global_rate=30, per_chat_rate=1, latency=latency) as tg:
            if fault_429:
                tg.set_faults(fault_429, kinds=("429",), seed=1)
            app = create_app(settings_for(tmp, tg, outbox_rate=pace), scheduler=ManualScheduler())
            await app.open()
            if kind == "photo":

                def card(i: int) -> bytes:
                    started = time.perf_counter()
                    data = render_card(CardData(
                        full_name=f"Иванова Мария Петровна {i}", role_label="Родитель", class_label="5А",
                        code=f"AB{i:02d}-CD34-EF56", qr_payload=f"AB{i:02d}-CD34-EF56",
                        where_to_enter="Введите код на dnevnik.ru → «Регистрация по коду»",
                        school_name="МБОУ СОШ № 1",
                    ))
                    render_ms.append((time.perf_counter() - started) * 1000)
                    return data

                async def renderer(args: dict[str, Any]) -> tuple[bytes, str]:
                    return await asyncio.to_thread(card, int(args["i"])), "card.png"

                app.renderers["bench_card"] = renderer
            await _fill_outbox(app, count, kind)
            bot = build_bot(app.settings)
            sender = app.new_sender(bot)
            started = time.monotonic()
            sender.start()
            try:
                while True:
                    pending = await app.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'")
                    if not pending:
                        break
                    await asyncio.sleep(0.1)
                elapsed = time.monotonic() - started
            finally:
                await sender.stop()
                await bot.session.close()
            sent_rows = int(await app.db.fetchval("SELECT count(*) FROM outbox WHERE status = 'sent'") or 0)
            await app.close()
            per_chat = [len(tg.sent(FIRST_CHAT + i)) for i in range(count)]
            # The fake server's own 429s (its rate limiter) plus injected ones; report the limiter's.
            n429 = tg.stats.total_429
    rate = count / elapsed
    extra: dict[str, float] = {}
    if render_ms:
        extra["render_median_ms"] = statistics.median(render_ms)
    return SendResult(
        rate=rate,
        fraction=rate / pace,
        n429=n429,
        lost=max(count - sent_rows, sum(1 for n in per_chat if n == 0)),
        duplicated=sum(max(0, n - 1) for n in per_chat),
        extra=extra,
    )
