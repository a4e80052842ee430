"""The application factory, shared by `schoolbot run`, the tests and the sandbox.

`create_app` assembles settings, storage, clock, catalog and scheduler into an `App`;
`build_bot` makes the aiogram Bot (real aiohttp session with the one send limiter, optionally
against a local Bot API server); `build_dispatcher` wires middlewares, routers and the startup/shutdown hooks;
`serve` runs all of it until stopped. Tests and the sandbox call exactly these functions,
passing a ManualClock and a ManualScheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiosqlite
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.utils.token import TokenValidationError

from bot.clock import Clock, SystemClock
from bot.config import ConfigError, SchoolConfig, Settings, apply_year_override, load_school_config, startup_text
from bot.domain.people import Person
from bot.i18n import DEFAULT_LANG, Catalog, Translator
from bot.services import ledger
from bot.tg.limiter import LimitedSession, SendLimiter
from bot.tg.startup import (
    PollingLogFilter,
    StateLog,
    check_data_folders,
    polling_backoff,
    try_or_retry,
    wait_for_bot_api,
)
from scheduler.base import APScheduler, Scheduler
from scheduler.sweeps import run_sweeps
from storage.db import Database
from storage.people import PersonRepo
from storage.year import latest_year

if TYPE_CHECKING:
    from bot.services.imports import Importer
    from bot.tg.sender import OutboxSender

log = logging.getLogger(__name__)

# Called inside the linking transaction, after a Telegram account was linked to a person
# (e.g. staff get their invitation code). Registered by capabilities in `create_app`.
LinkHook = Callable[["App", aiosqlite.Connection, Person, datetime], Awaitable[None]]
# Produces the bytes (and a file name) of an outbox photo/document from its args; runs in a thread.
Renderer = Callable[["App", dict[str, Any]], Awaitable[tuple[bytes, str]]]


@dataclass
class App:
    settings: Settings
    school: SchoolConfig
    db: Database
    clock: Clock
    catalog: Catalog
    people: PersonRepo
    scheduler: Scheduler
    link_hooks: list[LinkHook] = field(default_factory=list)
    renderers: dict[str, Renderer] = field(default_factory=dict)
    importers: dict[str, Importer] = field(default_factory=dict)
    # (action id, catalog key of its label) of the IT officer's /admin menu, in display order.
    admin_actions: list[tuple[str, str]] = field(default_factory=list)
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    bot_username: str = ""
    sender: OutboxSender | None = None
    # Services keep their own long-lived state here (e.g. the FAQ index), keyed by capability.
    extras: dict[str, Any] = field(default_factory=dict)

    async def open(self) -> None:
        if not self.db.is_open:
            await self.db.open()
            # A school year moved on by `schoolbot new-year` lives in the database (see migration 010).
            record = await latest_year(self.db)
            if record is not None:
                apply_year_override(self.school, record.year, record.quarters, record.holidays)

    async def close(self) -> None:
        await self.db.close()

    def translator_for(self, person: Person) -> Translator:
        """The catalog in the language a person chose (Russian unless they chose otherwise)."""
        return self.catalog.bind(person.lang or DEFAULT_LANG)

    def wake_sender(self) -> None:
        self.outbox_wakeup.set()

    async def tick(self) -> None:
        """Run every capability's sweep at the clock's now, then let the sender drain."""
        await run_sweeps(self, self.clock.now())
        self.wake_sender()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    scheduler: Scheduler | None = None,
    school: SchoolConfig | None = None,
) -> App:
    school_config = school or load_school_config(settings.school_config)
    db = Database(settings.database_path)
    app = App(
        settings=settings,
        school=school_config,
        db=db,
        clock=clock or SystemClock(),
        catalog=Catalog.load(),
        people=PersonRepo(db),
        scheduler=scheduler or APScheduler(),
    )
    from bot import capabilities

    capabilities.install(app)
    return app


def build_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ConfigError(startup_text("no_token"))
    # One limiter for every send of this bot: direct answers and the outbox alike.
    limiter = SendLimiter(
        rate=settings.send_rate, bulk_rate=settings.outbox_rate, per_chat_rate=settings.outbox_per_chat_rate
    )
    session = (
        LimitedSession(limiter, api=TelegramAPIServer.from_base(settings.bot_api_url, is_local=False))
        if settings.bot_api_url
        else LimitedSession(limiter)
    )
    try:
        return Bot(
            settings.bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
    except TokenValidationError:
        raise ConfigError(startup_text("bad_token")) from None


def build_dispatcher(app: App) -> Dispatcher:
    from bot.tg.fsm import SQLiteStorage
    from bot.tg.middlewares import install_middlewares
    from handlers import routers
    from handlers.errors import install_error_handler

    dp = Dispatcher(
        storage=SQLiteStorage(app.db),
        app=app,
        settings=app.settings,
        school=app.school,
        db=app.db,
        clock=app.clock,
        catalog=app.catalog,
        people=app.people,
        scheduler=app.scheduler,
    )
    install_middlewares(dp, app)
    install_error_handler(dp)
    dp.include_routers(*routers())

    async def on_startup(bot: Bot) -> None:
        await app.open()
        # The consent ledger's hash chain, checked before anything else is sent (alerts go out
        # through the outbox; the bot starts either way, see bot/services/ledger.py).
        await ledger.check_at_start(app)
        me = await bot.get_me()
        app.bot_username = me.username or ""
        from handlers.common import set_default_commands

        # A convenience: a failure is one line and a background retry, never a stopped bot.
        retry = await try_or_retry(
            lambda: set_default_commands(bot, app.catalog),
            failed_key="commands_failed", recovered_key="commands_recovered",
        )
        if retry is not None:
            app.extras["commands_retry"] = retry
        from bot.tg.sender import OutboxSender

        app.sender = OutboxSender(app, bot)
        app.sender.start()
        from bot.services.broadcast import resume_watchers

        await resume_watchers(app, bot)
        app.scheduler.start(app.tick)
        log.info("schoolbot started as @%s", app.bot_username)

    async def on_shutdown(bot: Bot) -> None:
        # Graceful stop: polling has stopped; let running handlers and the sends in flight finish
        # (bounded), then close the database. Whatever is cut off is retried at the next start.
        await app.scheduler.shutdown()
        await _wait_for_handlers(app, dp, timeout=SHUTDOWN_GRACE)
        from bot.services.broadcast import stop_watchers

        await stop_watchers(app)
        retry = app.extras.pop("commands_retry", None)
        if retry is not None:
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry
        if app.sender is not None:
            await app.sender.stop(timeout=SHUTDOWN_GRACE)
        await app.close()
        log.info("schoolbot stopped")

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return dp


SHUTDOWN_GRACE = 5.0  # seconds for running handlers, then as much for the sends in flight


async def _wait_for_handlers(app: App, dp: Dispatcher, *, timeout: float) -> None:
    tasks = [t for t in getattr(dp, "_handle_update_tasks", set()) if not t.done()]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
    guard = app.extras.get("update_guard")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # The guard keeps a plain counter (no event to wait on); a short poll is fine at shutdown.
    while guard is not None and guard.in_flight > 0 and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def serve(app: App, bot: Bot, *, handle_signals: bool = True) -> None:
    """Long-poll until stopped (SIGTERM/SIGINT, or `dp.stop_polling()`).

    Start-up problems are one line each (see bot.tg.startup): the data folders are checked, then the
    database opens (a locked or corrupt file is a one-line StorageError), then the Bot API is
    waited for (retried with a growing pause; a refused token stops the start)."""
    api_state = StateLog()
    try:
        await asyncio.to_thread(check_data_folders, app.settings)
        await app.open()
        await wait_for_bot_api(bot, app.settings, api_state)
    except BaseException:
        await app.close()
        await bot.session.close()
        raise
    dp = build_dispatcher(app)
    app.extras["dispatcher"] = dp
    # Everything built so far (modules, aiogram's models, catalogs, the FAQ index) lives as long as
    # the process: moved out of the collector's sight, a full collection triggered by a big import
    # in a worker thread (which holds the GIL, stalling the loop) walks only what the import made
    # (P8: a 20,000-row import stalled the loop 260 ms on such collections, 44 ms with this).
    # Unfrozen when serving ends, so a process that serves many times (the tests) frees it all.
    gc.freeze()
    # aiogram logs every failed poll twice; the operator gets one line per change instead.
    polling_log = logging.getLogger("aiogram.dispatcher")
    folded = PollingLogFilter(api_state, app.settings)
    polling_log.addFilter(folded)
    try:
        await dp.start_polling(
            bot, handle_signals=handle_signals, close_bot_session=True, polling_timeout=10,
            backoff_config=polling_backoff(),
        )
    finally:
        polling_log.removeFilter(folded)
        gc.unfreeze()
