"""A district served as `schoolbot run` serves it (bot/multibot.py): each school an App of its own
(its own database file, settings and tokens), the bots built by build_multibot, everything received
by the real webhook server from the fake Bot API servers (one fake per bot: each has its own token,
its own update ids and its own webhook)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.multibot import Multibot, build_multibot, serve_multibot
from scheduler.base import ManualScheduler
from tests.harness import DEFAULT_START, WEBHOOK_SECRET, make_settings, pooled_app, private_school_config

EXAMPLE_NAME = 'name = "МБОУ «Средняя общеобразовательная школа № 1»"\nshort_name = "СОШ № 1"\n'


@dataclass
class SchoolSetup:
    """One school of the district: its title and its own bots (None: the district bot serves it)."""

    title: str
    tg: FakeTelegram | None = None
    mx: FakeMax | None = None
    # The example school's channel rules as shipped (a municipal school: Telegram carries public notices
    # only); else a private school's, where Telegram carries everything.
    municipal: bool = False


def school_config(folder: Path, title: str, *, municipal: bool = False) -> Path:
    text = (EXAMPLE_SCHOOL_CONFIG if municipal else private_school_config(folder)).read_text(encoding="utf-8")
    assert EXAMPLE_NAME in text, "the example school's name changed"
    path = folder / "school.toml"
    path.write_text(text.replace(EXAMPLE_NAME, f'name = "МБОУ «{title}»"\nshort_name = "{title}"\n'), encoding="utf-8")
    return path


def _bots(tg: FakeTelegram | None, mx: FakeMax | None) -> dict[str, Any]:
    values: dict[str, Any] = {"bot_token": None}
    if tg is not None:
        tg.webhooks.allow_http = True
        values.update(bot_token=tg.token, bot_api_url=tg.base_url)
    if mx is not None:
        mx.allow_http_webhooks = True
        values.update(max_token=mx.token, max_api_url=mx.base_url)
    return values


def school_apps(
    tmp_path: Path, schools: Mapping[str, SchoolSetup], clock: ManualClock, **extra: Any
) -> dict[str, App]:
    """Each school's App as create_app makes it, with its own database file, settings and tokens (and
    ``extra`` settings; with REDIS_URL each school's keys under its own prefix, as a district gives)."""
    apps: dict[str, App] = {}
    for key, setup in schools.items():
        folder = tmp_path / key
        folder.mkdir(parents=True, exist_ok=True)
        own = {**extra, "redis_prefix": f"schoolbot.{key}"} if "redis_url" in extra else extra
        config = school_config(folder, setup.title, municipal=setup.municipal)
        settings = make_settings(folder, school_config=config, **_bots(setup.tg, setup.mx), **own)
        apps[key] = pooled_app(settings, clock=clock, scheduler=ManualScheduler())
    return apps


@asynccontextmanager
async def running_district(
    tmp_path: Path, schools: Mapping[str, SchoolSetup], port: int, *,
    district_tg: FakeTelegram | None = None, district_mx: FakeMax | None = None,
    district_extra: Mapping[str, Any] | None = None, **extra: Any,
) -> AsyncIterator[Multibot]:
    """The district's bots served by webhook on 127.0.0.1:``port``; yields once every bot's webhook
    is registered and every school's sender runs. ``extra``: settings every school gets;
    ``district_extra``: the district's own (its bots' settings)."""
    clock = ManualClock(DEFAULT_START)
    apps = school_apps(tmp_path, schools, clock, **extra)
    settings = make_settings(
        tmp_path, **_bots(district_tg, district_mx), webhook_url=f"http://127.0.0.1:{port}/hook",
        webhook_port=port, webhook_secret=WEBHOOK_SECRET, **(district_extra or {}),
    )  # fmt: skip
    multibot = build_multibot(settings, apps)
    fakes_tg = [f for f in [*(s.tg for s in schools.values()), district_tg] if f is not None]
    fakes_mx = [f for f in [*(s.mx for s in schools.values()), district_mx] if f is not None]

    def ready() -> bool:
        return (all(f.webhooks.webhook is not None for f in fakes_tg) and all(f.subscriptions for f in fakes_mx)
                and all(app.sender is not None for app in apps.values()))

    task = asyncio.create_task(serve_multibot(multibot, handle_signals=False))
    try:
        for _ in range(1000):
            if ready() or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        # The registration check (getWebhookInfo) comes after setWebhook: wait for the server to listen.
        for _ in range(1000):
            if all(any(r.method == "getWebhookInfo" for r in f.requests) for f in fakes_tg) or task.done():
                break
            await asyncio.sleep(0.01)
        yield multibot
    finally:
        multibot.stop.set()
        await asyncio.wait_for(task, timeout=15)
