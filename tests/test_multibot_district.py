"""`schoolbot run` with DISTRICT_DIR (bot/cli_run.py run_district): the district read from its registry
(bot/district/runtime.py build_district), every school's own bot and the district bot served by one
process over webhooks (bot/multibot.py); the district role's /district on the district bot only; a
school chosen on the district bot is kept in the registry; polling is refused for a district."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import cli_run
from bot.channels import Channel
from bot.clock import ManualClock
from bot.config import ConfigError, Settings
from bot.district.schools import add_school, registry_store
from bot.fakeapi import FakeTelegram
from bot.i18n import Catalog
from bot.multibot import build_district_bots, serve_multibot
from bot.services.district import DistrictRegistry
from storage.lock import DatabaseBusy, DatabaseLock
from tests.district_helpers import built_district, district_settings, school_toml
from tests.harness import DEFAULT_START, PARENT_TWO, WEBHOOK_SECRET, free_port, roster_csv

ASK = "Чтобы бот узнал вас"


async def add(settings: Settings, tmp_path: Path, key: str, title: str, token: str | None = None) -> None:
    """As `schoolbot district add-school` adds a school (with its own bot's token, or none)."""
    t = Catalog.load().bind("ru")
    store = registry_store(settings, t)
    await store.open()
    try:
        registry = DistrictRegistry(records=store, clock=ManualClock(DEFAULT_START))
        new = await registry.check_new_school(key, title, school_toml(tmp_path, title), f"{key}.toml", t,
                                              telegram_token=token)
        await add_school(settings, registry, new, t)
    finally:
        await store.close()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeTelegram]]:
    async with (
        FakeTelegram(token="6001:ALPHA", bot_username="alpha_bot") as alpha,
        FakeTelegram(token="6999:DISTRICT", bot_username="district_bot") as district,
    ):
        alpha.webhooks.allow_http = district.webhooks.allow_http = True
        yield alpha, district


async def test_a_district_from_its_registry_serves_each_school_and_the_district_bot(
    fakes: tuple[FakeTelegram, FakeTelegram], tmp_path: Path
) -> None:
    alpha_tg, district_tg = fakes
    port = free_port()
    settings = district_settings(
        tmp_path, bot_token=district_tg.token, bot_api_url=district_tg.base_url,
        webhook_url=f"http://127.0.0.1:{port}/hook", webhook_port=port, webhook_secret=WEBHOOK_SECRET,
    )  # fmt: skip
    await add(settings, tmp_path, "alpha", "Школа «Альфа»", alpha_tg.token)
    await add(settings, tmp_path, "beta", "Школа «Бета»")
    async with built_district(settings) as district:
        # One fake Bot API server per token here; in production every bot talks to api.telegram.org.
        alpha = district.schools["alpha"]
        alpha.settings = alpha.settings.model_copy(update={"bot_api_url": alpha_tg.base_url})
        for app in district.schools.values():
            assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        multibot = build_district_bots(district)
        assert multibot.schools["alpha"].bot is not None and multibot.schools["beta"].bot is None
        task = asyncio.create_task(serve_multibot(multibot, handle_signals=False))
        try:
            for _ in range(1000):
                started = all(a.sender is not None for a in district.schools.values())
                if task.done() or (started and all(any(r.method == "getWebhookInfo" for r in f.requests)
                                                   for f in fakes)):
                    break
                await asyncio.sleep(0.01)
            assert not task.done(), task
            assert district.schools["beta"].served.payload_prefix == "beta_"
            # Alpha's own bot answers for Alpha.
            await alpha_tg.user(PARENT_TWO, "Елена", "Иванова").send("/start")
            in_alpha = await alpha_tg.wait_for(PARENT_TWO, lambda m: ASK in (m.plain or ""))
            assert "Альфа" in (in_alpha.plain or "") and "Бета" not in (in_alpha.plain or "")
            # The district role's /district: on the district bot (not an operator: refused), never on a
            # school's own bot.
            elena = district_tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
            await elena.send("/district")
            await district_tg.wait_for(PARENT_TWO, lambda m: "сотрудники района" in (m.plain or ""))
            await alpha_tg.user(PARENT_TWO, "Елена", "Иванова").send("/district")
            await alpha_tg.webhooks.wait_delivered()
            assert not [m for m in alpha_tg.sent(PARENT_TWO) if "сотрудники района" in (m.plain or "")]
            # Beta's invitation link on the district bot: Beta answers under its title, and the choice is
            # kept in the registry.
            await elena.send("/start beta")
            ask = await district_tg.wait_for(PARENT_TWO, lambda m: ASK in (m.plain or ""))
            assert (ask.plain or "").startswith("🏫 Школа «Бета»")
            await elena.press_reply(ask, "📱 Поделиться номером телефона")
            await district_tg.wait_for(PARENT_TWO, lambda m: "Ваши роли" in (m.plain or ""))
            assert await district.choices.chosen(Channel.TELEGRAM, PARENT_TWO) == "beta"
            beta_person = await district.schools["beta"].people.by_account(Channel.TELEGRAM, PARENT_TWO)
            assert beta_person is not None
        finally:
            multibot.stop.set()
            await asyncio.wait_for(task, timeout=15)


async def test_a_district_is_not_served_by_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = district_settings(tmp_path, bot_token="6999:DISTRICT")
    monkeypatch.setattr(cli_run, "load_settings", lambda: settings)
    with pytest.raises(ConfigError) as caught:
        await cli_run.cmd_run(argparse.Namespace())
    assert "WEBHOOK_URL" in str(caught.value) and "одной школы" in str(caught.value)


@pytest.mark.sqlite_only(reason="the lock on a SQLite district's folder (a PostgreSQL district runs several workers)")
async def test_a_second_process_on_a_sqlite_district_stops_at_the_lock(tmp_path: Path) -> None:
    """On SQLite a school's store is one process's: a `schoolbot run` while another holds a school's
    store stops with the lock's message before anything is served."""
    port = free_port()
    settings = district_settings(tmp_path, bot_token="6999:DISTRICT", webhook_url=f"http://127.0.0.1:{port}/hook",
                                 webhook_port=port, webhook_secret=WEBHOOK_SECRET)
    await add(settings, tmp_path, "alpha", "Школа «Альфа»")
    await add(settings, tmp_path, "beta", "Школа «Бета»")
    async with built_district(settings) as district:
        beta_store = district.schools["beta"].settings.database_path
    with DatabaseLock(beta_store, "run"), pytest.raises(DatabaseBusy):
        await cli_run.run_district(settings)
