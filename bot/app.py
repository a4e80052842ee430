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
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import User
from aiogram.utils.token import TokenValidationError

from bot import capabilities
from bot.channels import Channel, ChannelPolicy, ChannelRules, DataClass, ServedBots
from bot.clock import Clock
from bot.config import ConfigError, SchoolConfig, Settings, startup_text
from bot.core import Core, SharedContent, core_parts
from bot.i18n import Catalog
from bot.max import MaxSession, channel_of
from bot.max.limited import build_limited_max_bot
from bot.services.ports import Renderer
from bot.tg.buttons import TelegramButtons
from bot.tg.callback_answers import LateCallbackAnswers
from bot.tg.filters import STAFF_GROUP, IsStaff
from bot.tg.fsm import conversation_storage
from bot.tg.limiter import LimitedSession, SendLimiter
from bot.tg.middlewares import UpdateGuard, check_handler_dependencies, install_dependencies, install_middlewares
from bot.tg.policy import GuardedBots, SendGuard
from bot.tg.progress import ProgressWatchers
from bot.tg.redis_rate import redis_budget
from bot.tg.sender import OutboxSender
from bot.tg.startup import (
    PollingLogFilter,
    StateLog,
    check_data_folders,
    polling_backoff,
    try_or_retry,
    wait_for_bot_api,
)
from bot.tg.wire_text import WireText
from bot.webhook import drop_leftover_webhook, serve_webhooks
from bot.wiring import Services
from handlers.common import set_default_commands
from handlers.errors import install_error_handler
from scheduler.base import APScheduler, Scheduler, Sweep
from scheduler.sweeps import run_sweeps
from storage.cursors import UpdateCursorRepo
from storage.messengers import MessengerRepo
from storage.sql import SqlDatabase
from storage.sweep_runs import SweepRunRepo

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class App(Core):
    """The composition root's product: the shared part every command has (bot/core.py: settings, the
    school and its calendar, the database, the clock, the catalog, the roster, every capability's
    service built once with narrow dependencies, the importers), what the capabilities declared for
    the messenger (renderers, the /admin menu), and what only the root runs (the scheduler, the
    outbox sender, the dispatcher and its update guard). Only entry points hold it: a handler gets
    the one service it calls by name (`dispatcher_data`, handed over by bot.tg.middlewares.Dependencies)."""

    scheduler: Scheduler
    renderers: dict[str, Renderer]
    # (action id, catalog key of its label) of the IT officer's /admin menu, in display order.
    admin_actions: list[tuple[str, str]]
    # The channel policy in force (issue #17): set by `serve` when MAX is served or school.toml has
    # [channels]; without it everything goes to Telegram, as before.
    channels: ChannelRules
    # Enforces the policy on every request to a messenger and writes the send log (bot/tg/policy.py);
    # on the session of every Bot the application sends with.
    send_guard: SendGuard
    watchers: ProgressWatchers
    # The messengers served and their bots' usernames (set by `serve`): the IT officer's sign-in
    # link is given for each.
    served: ServedBots = field(default_factory=ServedBots)
    # The wires being served (issue #17): `bot` is the primary one (Telegram, or MAX alone), `max_bot`
    # MAX beside Telegram. Set by `serve`.
    bot: Bot | None = None
    max_bot: Bot | None = None
    # In a district (bot/multibot.py): the district's bots beside the school's own, by messenger; the
    # outbox sends by them to whoever talks to the school there only.
    district_bots: dict[Channel, Bot] = field(default_factory=dict)
    sender: OutboxSender | None = None
    dispatcher: Dispatcher | None = None
    update_guard: UpdateGuard | None = None
    commands_retry: asyncio.Task[None] | None = None
    # Set by `serve` in webhook mode: setting it stops the server (see `stop_serving`).
    webhook_stop: asyncio.Event | None = None
    # This worker's claims of the minute's sweeps (storage/sweep_runs.py), made at the first tick.
    sweep_runs: SweepRunRepo | None = None
    # Where conversations in progress are kept (`fsm_storage`), made once for the dispatchers built on
    # this App and closed with it: with REDIS_URL it holds a lease of the process's Redis client, which
    # the last user's close releases (bot/tg/redis_clients.py).
    conversations: BaseStorage | None = None

    async def close(self) -> None:
        storage, self.conversations = self.conversations, None
        if storage is not None:
            await storage.close()
        await super().close()

    def dispatcher_data(self) -> dict[str, object]:
        """What handlers, filters and middlewares may ask for by name: the shared pieces, the
        capabilities' declarations, the messenger-side helpers and each service by its field name."""
        return {
            # Not the database, the settings or the scheduler: a handler gets the service it calls.
            "school": self.school, "clock": self.clock,
            "catalog": self.catalog, "people": self.people, "buttons": self.buttons,
            "importers": self.importers, "admin_actions": self.admin_actions, "channels": self.channels,
            "watchers": self.watchers, "served": self.served,
            **dict(self.services.items()),
            **capabilities.dispatcher_data(self.services),
        }

    def new_sender(
        self, bot: Bot, *, max_bot: Bot | None = None, rate: float | None = None, concurrency: int | None = None
    ) -> OutboxSender:
        self.send_guard.protect(bot)
        self.send_guard.protect(max_bot)
        return OutboxSender(
            bot, db=self.db, clock=self.clock, people=self.people, catalog=self.catalog, settings=self.settings,
            renderers=self.renderers, wakeup=self.outbox_wakeup, rules=self.channels, max_bot=max_bot,
            district=self.district_bots, rate=rate, concurrency=concurrency,
        )

    async def tick(self) -> None:
        """Run every capability's sweep at the clock's now (those this worker claims for the minute:
        several workers may tick on one database, #27), then let the sender drain."""
        if self.sweep_runs is None:
            self.sweep_runs = SweepRunRepo(self.db)
        await run_sweeps(self.clock.now(), self.sweeps, claims=self.sweep_runs)
        self.wake_sender()

    @property
    def sweeps(self) -> list[tuple[str, Sweep]]:
        return capabilities.sweeps(self.services)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    scheduler: Scheduler | None = None,
    school: SchoolConfig | None = None,
    shared: SharedContent | None = None,
    database: SqlDatabase | None = None,
) -> App:
    parts = core_parts(
        settings, clock=clock, school=school, buttons=TelegramButtons(), shared=shared, database=database
    )
    school_config: SchoolConfig = parts["school"]
    services: Services = parts["services"]
    # The school's channel policy from the start (safe by default: a state or municipal school's rules
    # unless school.toml says otherwise), for the handlers' answers and the outbox alike.
    channels = ChannelRules(school_config.channel_policy)
    return App(
        **parts,
        scheduler=scheduler or APScheduler(),
        renderers=capabilities.renderers(services),
        admin_actions=capabilities.admin_actions(),
        channels=channels,
        send_guard=SendGuard(rules=channels, catalog=parts["catalog"], db_repo=MessengerRepo(parts["db"]),
                             clock=parts["clock"]),
        watchers=ProgressWatchers(db=parts["db"], clock=parts["clock"], catalog=parts["catalog"]),
    )


def build_routers() -> list[Router]:
    """Every capability's routers in their declared order; the staff-only ones in one group where the
    first stands. The group lets parents, pupils and unknown users skip every staff router at one check."""
    result: list[Router] = []
    staff: Router | None = None
    for spec in capabilities.router_specs():
        if not spec.staff:
            result.append(spec.router())
            continue
        if staff is None:
            staff = Router(name=STAFF_GROUP)
            staff.message.filter(IsStaff())
            staff.callback_query.filter(IsStaff())
            result.append(staff)
        staff.include_router(spec.router())
    return result


def build_max_bot(settings: Settings) -> Bot | None:
    """The MAX Bot (MAX_TOKEN, MAX_API_URL, MAX_CA_FILE) behind its own send limiter, or None without a
    MAX token."""
    if settings.max_token is None:
        return None
    token = settings.max_token.get_secret_value()
    bot = build_limited_max_bot(token, settings.max_api_url, send_limiter(settings, token, Channel.MAX),
                                ca_file=settings.max_ca_file)
    bot.session.middleware(WireText())  # MAX's text limits, counted the MAX way
    return bot


def build_bots(settings: Settings) -> tuple[Bot, Bot | None]:
    """(primary, MAX beside it): Telegram and MAX, Telegram alone, or MAX alone as the primary."""
    max_bot = build_max_bot(settings)
    if settings.bot_token is None and max_bot is not None:
        return max_bot, None
    return build_bot(settings), max_bot


def send_limiter(settings: Settings, token: str, wire: Channel) -> SendLimiter:
    """One limiter for every send of a bot: direct answers and the outbox alike. With REDIS_URL its
    budget is shared by every process sending with `token` (bot/tg/redis_rate.py), through the
    process's one client for the URL (bot/tg/redis_clients.py)."""
    shared = (
        redis_budget(settings.redis_url.get_secret_value(), token, wire=wire.value, prefix=settings.redis_prefix,
                     max_connections=settings.redis_max_connections)
        if settings.redis_url is not None else None
    )
    return SendLimiter(
        rate=settings.send_rate, bulk_rate=settings.outbox_rate, per_chat_rate=settings.outbox_per_chat_rate,
        shared=shared,
    )


def build_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ConfigError(startup_text("no_token"))
    limiter = send_limiter(settings, settings.bot_token.get_secret_value(), Channel.TELEGRAM)
    session = (
        LimitedSession(limiter, api=TelegramAPIServer.from_base(settings.bot_api_url, is_local=False))
        if settings.bot_api_url
        else LimitedSession(limiter)
    )
    session.middleware(WireText())  # Telegram's text and caption limits: services write texts whole
    session.middleware(LateCallbackAnswers())  # a press answered by a worker that died is not an error
    try:
        return Bot(
            settings.bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
    except TokenValidationError:
        raise ConfigError(startup_text("bad_token")) from None


def build_dispatcher(app: App) -> Dispatcher:

    dp = Dispatcher(storage=fsm_storage(app))
    app.update_guard = install_middlewares(dp, app.db, app.people, app.catalog)
    dp.update.outer_middleware(GuardedBots(app.send_guard))
    install_error_handler(dp)
    dp.include_routers(*build_routers())
    # Handlers get their dependencies from an inner middleware (once per update, for the chosen
    # handler); only what a filter asks for is in the Dispatcher's data, which aiogram passes to
    # every filter it checks.
    data = app.dispatcher_data()
    wanted_by_filters = filter_params(dp)
    dp.workflow_data.update({name: value for name, value in data.items() if name in wanted_by_filters})
    install_dependencies(dp, data)
    # A handler's parameter that nothing provides fails here, at build, not at the button press.
    check_handler_dependencies(dp, data)

    async def on_startup(bot: Bot) -> None:
        # aiogram passes the last of the polled bots; the primary wire is the one set by `serve`.
        bot = app.bot or bot
        me = await start_school(app, bot)
        log.info("schoolbot started as @%s", me.username or "")
        # The operator's console says it in their language, whatever the log level.
        print(startup_text("started", username=me.username or ""), file=sys.stderr, flush=True)

    async def on_shutdown(bot: Bot) -> None:
        # Graceful stop: polling has stopped; let running handlers and the sends in flight finish
        # (bounded), then close the database. Whatever is cut off is retried at the next start.
        await app.scheduler.shutdown()
        await _wait_for_handlers([app.update_guard], timeout=SHUTDOWN_GRACE)
        await stop_school(app)
        log.info("schoolbot stopped")
        print(startup_text("stopped"), file=sys.stderr, flush=True)

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return dp


async def start_school(app: App, bot: Bot, *, commands: bool = True) -> User:
    """What serving a school starts once its bots are known (`app.bot`, `app.max_bot`; ``bot`` the
    primary): the database, the ledger's check, the bots' names and command lists, the outbox sender,
    the progress watchers and the scheduler's tick. One school's bot (`build_dispatcher`) and each
    school of a district (bot/multibot.py) alike; ``commands`` False: the bot's command list is another
    school's to set (a district bot serves many). Returns the primary bot's own User."""
    await app.open()
    # The consent ledger's hash chain, checked before anything else is sent (alerts go out
    # through the outbox; the bot starts either way, see bot/services/ledger.py).
    await app.services.ledger.check_at_start()
    me = await bot.get_me()
    app.served.serve(channel_of(bot), me.username)
    # A convenience: a failure is one line and a background retry, never a stopped bot.
    if commands:
        app.commands_retry = await try_or_retry(
            lambda: set_default_commands(bot, app.catalog),
            failed_key="commands_failed", recovered_key="commands_recovered",
        )
    if app.max_bot is not None:
        if commands:
            try:
                await set_default_commands(app.max_bot, app.catalog)
            except Exception as exc:  # a convenience, as for Telegram: the bot serves without it
                log.warning("MAX command list not set: %s", type(exc).__name__)
        # Pointers on Telegram lead to the bot in MAX: its name, when MAX tells it.
        try:
            max_me = await app.max_bot.get_me()
        except Exception as exc:
            log.warning("MAX bot name not known (%s): pointers say 'the school's bot in MAX'", type(exc).__name__)
            max_me = None
        app.send_guard.serve_max(max_me.username if max_me is not None else None)
        app.served.serve(Channel.MAX, max_me.username if max_me is not None else None)
    app.sender = app.new_sender(bot, max_bot=app.max_bot)
    app.sender.start()
    await app.watchers.resume(bot)
    app.scheduler.start(app.tick)
    return me


async def stop_school(app: App) -> None:
    """The school's part of a graceful stop, once its scheduler is stopped and the handlers ran:
    watchers, the command list's retry, the sends in flight (bounded), then the database."""
    await app.watchers.stop()
    retry, app.commands_retry = app.commands_retry, None
    if retry is not None:
        retry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retry
    if app.sender is not None:
        await app.sender.stop(timeout=SHUTDOWN_GRACE)
    await app.close()


def channel_rules_line(rules: ChannelRules, catalog: Catalog, *, max_served: bool) -> str:
    """The start-up line that says which channel rules are in force and what each messenger carries."""
    policy = rules.policy or ChannelPolicy()
    t = catalog.bind("ru")

    def carried(channel: Channel) -> str:
        classes = [t(f"channels.export.class.{c.value}") for c in DataClass if policy.allows(channel, c)]
        return ", ".join(classes) or t("startup.channels_nothing")

    return startup_text(
        f"channels_{policy.operator.value}", telegram=carried(Channel.TELEGRAM),
        max=carried(Channel.MAX) if max_served else t("startup.channels_max_not_served"),
    )


def filter_params(dp: Dispatcher) -> set[str]:
    """The parameter names of every filter of every router under ``dp``."""
    names: set[str] = set()
    for router in dp.chain_tail:
        for observer in router.observers.values():
            # The handlers' own filters (public). A router's own filters (`router.message.filter(...)`)
            # are HasRole and IsLinked only, which ask for `person`, which every update carries.
            for handler in observer.handlers:
                for flt in handler.filters or ():
                    names |= flt.params
    return names


SHUTDOWN_GRACE = 5.0  # seconds for running handlers, then as much for the sends in flight


async def _wait_for_handlers(guards: Sequence[UpdateGuard | None], *, timeout: float) -> None:
    # The update guards count the handlers running (nothing of aiogram's private state is read).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # The guard keeps a plain counter (no event to wait on); a short poll is fine at shutdown.
    while any(g is not None and g.in_flight > 0 for g in guards) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def stop_serving(app: App) -> None:
    """Stop what `serve` runs, as SIGTERM does: polling, or the webhook server."""
    if app.webhook_stop is not None:
        app.webhook_stop.set()
    elif app.dispatcher is not None:
        await app.dispatcher.stop_polling()


def attach_bots(app: App, bot: Bot, max_bot: Bot | None) -> list[Channel]:
    """The school's bots (``bot`` the primary, ``max_bot`` MAX beside it): the send guard on their
    sessions, the messengers served; returns the wires."""
    bots = [b for b in (bot, max_bot) if b is not None]
    app.bot, app.max_bot = bot, max_bot
    for each in bots:
        if isinstance(each.session, MaxSession):
            # MAX's polling marker survives a restart (migration 035); see bot/max/session.py.
            each.session.marker_store = UpdateCursorRepo(app.db, "max")
    wires = [channel_of(b) for b in bots]
    app.send_guard.protect(bot)
    app.send_guard.protect(max_bot)
    if Channel.MAX in wires:
        app.send_guard.serve_max(None)
    for wire in wires:
        app.served.serve(wire)
    return wires


def fsm_storage(app: App) -> BaseStorage:
    """Where the school's conversations in progress are kept (bot/tg/fsm.py: Redis with REDIS_URL,
    else the school's database): the App's one, closed when the App closes."""
    if app.conversations is None:
        app.conversations = conversation_storage(app.settings, app.db)
    return app.conversations


async def serve(app: App, bot: Bot, *, handle_signals: bool = True, max_bot: Bot | None = None) -> None:
    """Receive updates until stopped (SIGTERM/SIGINT, or `stop_serving`): by long polling, or by
    webhook when WEBHOOK_URL is set (bot/webhook.py).

    Start-up problems are one line each (see bot.tg.startup): the data folders are checked, then the
    database opens (a locked or corrupt file is a one-line StorageError), then the Bot API is
    waited for (retried with a growing pause; a refused token stops the start). When polling, a
    webhook left over from webhook mode is reported and deleted (it would silence polling)."""
    api_state = StateLog()
    bots = [b for b in (bot, max_bot) if b is not None]
    webhooks = bool(app.settings.webhook_url)
    try:
        await asyncio.to_thread(check_data_folders, app.settings)
        await app.open()
        await wait_for_bot_api(bot, app.settings, api_state)
        if not webhooks:
            for each in bots:
                await drop_leftover_webhook(each)
    except BaseException:
        await app.close()
        await bot.session.close()
        if max_bot is not None:
            await max_bot.session.close()
        raise
    wires = attach_bots(app, bot, max_bot)
    served_max = Channel.MAX in wires
    log.info(channel_rules_line(app.channels, app.catalog, max_served=served_max))
    # Which messengers people are reached on (a MAX-only school: MAX alone, no Telegram).
    log.info(startup_text("serving", wires=", ".join(channel.label for channel in wires)))
    dp = build_dispatcher(app)
    app.dispatcher = dp
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
        if webhooks:
            app.webhook_stop = asyncio.Event()
            await serve_webhooks(dp, app.settings, bots, app.webhook_stop, handle_signals=handle_signals)
        else:
            await dp.start_polling(
                *bots, handle_signals=handle_signals, close_bot_session=True, polling_timeout=10,
                backoff_config=polling_backoff(),
            )
    finally:
        polling_log.removeFilter(folded)
        gc.unfreeze()
