"""One process serving many bots over webhooks (issue #27, item 3): a bot per school (its own Telegram
and MAX tokens) and one district bot, where a person known in several schools picks the school.

One Dispatcher and one router tree serve every bot (building the routers costs as much as a school's
whole start; 300 copies would not fit). The school is a per-update choice made in one place, the
outer update middleware `SchoolRouting`:
- an update received by a school's own bot belongs to that school (the Bot object that received it,
  not its id: every MAX Bot carries the same placeholder id);
- one received by the district bot belongs to the school a deep link names (``/start <key>-<payload>``,
  ``_`` between them), else to the person's remembered choice, else to the one
  school that knows their messenger account; a person known in several schools who has not chosen is
  answered by the picker alone (handlers/district_bot.py).
It then runs that school's own middlewares for the update (conversation state, the update guard, the
caller's person, the send guard on the bot) and hands handlers that school's values
(bot.tg.middlewares.SCHOOL_VALUES): nothing in the handlers knows there are many schools.

Per school, as for one school's bot (bot/app.py): the store and every service, the send guard with its
channel policy and send log, the update guard and the processed updates (in the school's store; the
district bot's updates in an id space of their own, `DISTRICT_ID_BASE`, since update ids repeat across
bots), conversation state (the district bot's keys carry the school: `district_destiny`), the outbox
sender (with the school's own bots, or the district's for a school that has none), the scheduler's
tick, the served bots and the sign-in links' prefix, the progress watchers.

A school with bots of its own is reached through the district bot too: a person may join it there and
never start the school's own bot, which the messenger then does not let write to them. Each chain
records which bot an account writes through (bot/tg/reached.py), and the school's sender has the
district's bots beside its own (`fallback_of`): each message goes by a bot that reaches its person
(bot/reach.py `via`, bot/tg/sender_row.py).

The district bot speaks for many schools: every request it makes while a school is chosen passes that
school's send guard and carries the school's title as a header (`DistrictSession`), so a parent with
children in two schools knows which school speaks. The school of a request is a context variable set
for the update's handlers and, at start, for every task a school starts (its sender, its watchers).

Polling stays one school's: many bots are served by webhook only."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import html
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.methods import EditMessageText, SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup, TelegramObject, Update, User

from bot.app import (
    SHUTDOWN_GRACE,
    App,
    _wait_for_handlers,
    attach_bots,
    build_bot,
    build_max_bot,
    build_routers,
    filter_params,
    fsm_storage,
    start_school,
    stop_school,
)
from bot.channels import Channel
from bot.config import ConfigError, Settings
from bot.district.runtime import District
from bot.i18n import DEFAULT_LANG, LANGUAGES, Catalog, pick_lang
from bot.max import channel_of
from bot.reach import Via
from bot.services.district import DistrictService
from bot.tg.middlewares import (
    SCHOOL_VALUES,
    MenuLeavesFlow,
    PersonContext,
    UpdateGuard,
    check_handler_dependencies,
    install_dependencies,
)
from bot.tg.policy import GuardedBots, current_scope
from bot.tg.reached import ReachedThrough
from bot.webhook import Hook, serve_webhooks
from handlers import district_bot
from handlers.district_bot import DistrictSchools
from handlers.errors import install_error_handler

log = logging.getLogger(__name__)

DISTRICT = "district"
"""The district bot's key: its webhook routes are WEBHOOK_URL/telegram/district and /max/district."""

STARTING_AT_ONCE = 8
"""Schools whose start (the database, the ledger's check, the bots' names and commands) runs at once."""

DISTRICT_ID_BASE = 1 << 56
"""Where the district bot's update ids are recorded in a school's store, apart from its own bot's
(Telegram's ids are far below 2^40, MAX's derived ones below 2^54)."""

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# What the routing puts in a district bot's update for the district's own handlers (handlers/district_bot.py,
# handlers/district.py): the picker, the district role's service, whether the school is still to be chosen.
DISTRICT_NAMES = ("district_schools", "district_coverage", "school_pending")


@functools.cache
def _catalog() -> Catalog:
    return Catalog.load()


def district_text(key: str, /, **params: Any) -> str:
    """The operator's messages about the district's bots (content/i18n/ru/district_bot.toml)."""
    return _catalog().text("ru", f"district_bot.{key}", **params)


def district_destiny(key: str) -> str:
    """The conversation-state key's destiny of the district bot's updates for school ``key``: the same
    person talking to the district bot about two schools has two conversations."""
    return f"school:{key}"


class Choices(Protocol):
    """Which school each messenger account talks to in the district bot: the district's registry
    (bot/services/district.py SchoolChoices) keeps it across restarts."""

    async def chosen(self, channel: Channel, user_id: int) -> str | None: ...

    async def choose(self, channel: Channel, user_id: int, key: str) -> None: ...


class MemoryChoices:
    """`Choices` in memory, for a district assembled without a registry (tests)."""

    def __init__(self) -> None:
        self._chosen: dict[tuple[Channel, int], str] = {}

    async def chosen(self, channel: Channel, user_id: int) -> str | None:
        return self._chosen.get((channel, user_id))

    async def choose(self, channel: Channel, user_id: int, key: str) -> None:
        self._chosen[(channel, user_id)] = key


class SchoolFsm(FSMContextMiddleware):
    """aiogram's conversation-state middleware on the school's storage, under ``destiny``."""

    def __init__(self, storage: BaseStorage, destiny: str) -> None:
        super().__init__(storage=storage, events_isolation=DisabledEventIsolation())
        self.destiny = destiny

    def resolve_event_context(self, bot: Bot, data: dict[str, Any], destiny: str | None = None) -> Any:
        return super().resolve_event_context(bot, data, destiny or self.destiny)


@dataclass
class School:
    """One school served: its App, its own bots (None: the district's serve it), and its per-update
    pieces, built once."""

    key: str
    app: App
    bot: Bot | None = None
    max_bot: Bot | None = None
    # The school's name in the district's lists (the registry's title); else school.toml's.
    name: str | None = None
    values: dict[str, object] = field(default_factory=dict)
    filter_values: dict[str, object] = field(default_factory=dict)
    own: list[BaseMiddleware] = field(default_factory=list)
    district: list[BaseMiddleware] = field(default_factory=list)
    guards: list[UpdateGuard] = field(default_factory=list)
    storage: BaseStorage | None = None

    @property
    def title(self) -> str:
        info = self.app.school.school
        return self.name or info.short_name or info.name

    def build(self, wanted_by_filters: set[str]) -> None:
        self.values = self.app.dispatcher_data()
        self.filter_values = {k: v for k, v in self.values.items() if k in wanted_by_filters}
        storage = self.storage = fsm_storage(self.app)
        person = PersonContext(self.app.people, self.app.catalog)
        guarded = GuardedBots(self.app.send_guard)
        own_guard = UpdateGuard(self.app.db, catalog=self.app.catalog)
        district_guard = UpdateGuard(self.app.db, id_base=DISTRICT_ID_BASE, catalog=self.app.catalog)
        self.guards = [own_guard, district_guard]
        # Which bot each account writes through, so the outbox sends by one that reaches it
        # (bot/tg/reached.py); recorded for a school without bots of its own too, which may get them later.
        own_via = ReachedThrough(self.app.db, self.app.clock, Via.OWN)
        district_via = ReachedThrough(self.app.db, self.app.clock, Via.DISTRICT)
        self.own = [SchoolFsm(storage, "default"), own_guard, person, own_via, guarded]
        self.district = [SchoolFsm(storage, district_destiny(self.key)), district_guard, person, district_via, guarded]


_speaking: contextvars.ContextVar[School | None] = contextvars.ContextVar("speaking_school", default=None)


@contextlib.contextmanager
def speaking_for(school: School | None) -> Iterator[None]:
    """What the district bot sends inside speaks for ``school`` (its guard, its header)."""
    token = _speaking.set(school)
    try:
        yield
    finally:
        _speaking.reset(token)


HEADED = (SendMessage, EditMessageText)
CAPTIONED = (SendPhoto, SendDocument)


class DistrictSession:
    """A request middleware on the district bot's session: a request made for a school passes that
    school's send guard (its channel policy and send log) and carries the school's title as a header;
    the main menu gets «🏫 Сменить школу» below. A request for no school (the picker) goes as it is."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        school = _speaking.get()
        if school is None:
            return await make_request(bot, method)

        async def headed(bot: Bot, method: TelegramMethod[Any]) -> Response[Any]:
            return await make_request(bot, self._headed(school, method))

        return cast(Response[TelegramType], await school.app.send_guard(headed, bot, method))

    def _headed(self, school: School, method: TelegramMethod[Any]) -> TelegramMethod[Any]:
        header = self.catalog.text("ru", "district_bot.header", title=html.escape(school.title))
        update: dict[str, Any] = {}
        if isinstance(method, HEADED) and method.text:
            plain = method.parse_mode is None
            update["text"] = f"🏫 {school.title}\n\n{method.text}" if plain else f"{header}\n\n{method.text}"
        elif isinstance(method, CAPTIONED) and method.caption:
            update["caption"] = f"{header}\n\n{method.caption}"
        markup = getattr(method, "reply_markup", None)
        if isinstance(markup, ReplyKeyboardMarkup):
            # In the language of the answer it is on (the handler's or the outbox row's, bot/tg/policy.py).
            lang = current_scope().lang
            label = self.catalog.text(lang if lang in LANGUAGES else DEFAULT_LANG, "district_bot.change")
            rows = [*markup.keyboard, [KeyboardButton(text=label)]]
            update["reply_markup"] = markup.model_copy(update={"keyboard": rows})
        return method.model_copy(update=update) if update else method


@dataclass
class Multibot:
    """The schools of a district, their bots and the district bot, served by one Dispatcher."""

    schools: dict[str, School]
    settings: Settings
    district_bot: Bot | None = None
    district_max_bot: Bot | None = None
    choices: Choices = field(default_factory=MemoryChoices)
    # The district role's service (handlers/district.py asks for it as ``district_coverage``), if any.
    role: DistrictService | None = None
    dispatcher: Dispatcher | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # id(Bot) -> the school key of a school's own bot, or None for the district's.
    routes: dict[int, str | None] = field(default_factory=dict)

    # --- DistrictSchools (handlers/district_bot.py) -------------------------------------------------
    async def schools_of(self, channel: Channel, user_id: int) -> list[tuple[str, str]]:
        found = []
        for school in self.schools.values():
            if await school.app.people.by_account(channel, user_id) is not None:
                found.append((school.key, school.title))
        return found

    async def choose(self, channel: Channel, user_id: int, key: str) -> str | None:
        school = self.schools.get(key)
        if school is None or await school.app.people.by_account(channel, user_id) is None:
            return None
        await self.choices.choose(channel, user_id, key)
        return school.title

    # --- the bots -----------------------------------------------------------------------------------
    def district_bots(self) -> list[Bot]:
        return [b for b in (self.district_bot, self.district_max_bot) if b is not None]

    def hooks(self) -> list[Hook]:
        hooks = [Hook(bot, school.key) for school in self.schools.values()
                 for bot in (school.bot, school.max_bot) if bot is not None]
        return hooks + [Hook(bot, DISTRICT) for bot in self.district_bots()]

    def fallback_of(self, school: School) -> dict[Channel, Bot]:
        """The district's bots beside a school's own, by messenger: the school's outbox sends by them to
        whoever talks to it only through the district bot (bot/reach.py `via`). None for a school
        without bots of its own: the district's are its wires already."""
        if school.bot is None and school.max_bot is None:
            return {}
        return {channel_of(bot): bot for bot in self.district_bots()}

    def wires_of(self, school: School) -> tuple[Bot, Bot | None]:
        """(primary, MAX beside it) the school's outbox sends with: its own, else the district's."""
        telegram = school.bot if school.bot is not None or school.max_bot is not None else self.district_bot
        max_bot = school.max_bot if school.bot is not None or school.max_bot is not None else self.district_max_bot
        primary = telegram or max_bot
        if primary is None:
            raise ValueError(f"school {school.key}: no bot of its own and no district bot")
        return primary, max_bot if telegram is not None else None


LINK_SEPARATOR = "_"
"""Between the school's key and its own payload in a district bot's start payload: a school key has
none (storage/district.py SCHOOL_KEY: a-z, 0-9 and '-', at most 32), so the first one ends the key.
A key and a sign-in token (24 characters) are at most 57 of Telegram's 64 (MAX allows 128)."""


def deep_link_school(payload: str, schools: Mapping[str, object]) -> tuple[str, str] | None:
    """(school key, the school's own payload) of a district deep link's payload: ``<key>`` or
    ``<key>_<payload>``; None when it names no school."""
    key, _, rest = payload.partition(LINK_SEPARATOR)
    return (key, rest) if key in schools else None


def _start_payload(update: Update) -> str | None:
    message = update.message
    if message is None or not message.text or not message.text.startswith("/start"):
        return None
    parts = message.text.split(maxsplit=1)
    return parts[1].strip() if len(parts) == 2 and parts[0] in ("/start",) else None


def _with_start(update: Update, rest: str) -> Update:
    """The update as the school's bot would have received it: ``/start <its own payload>``."""
    message = cast(Message, update.message)
    text = f"/start {rest}" if rest else "/start"
    entities = [e.model_copy(update={"length": len("/start")}) for e in (message.entities or [])[:1]]
    return update.model_copy(update={"message": message.model_copy(update={"text": text, "entities": entities})})


class SchoolRouting(BaseMiddleware):
    """The outer update middleware that makes the school a per-update choice (see the module's text)."""

    def __init__(self, multibot: Multibot, catalog: Catalog) -> None:
        self.multibot = multibot
        self.catalog = catalog

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        bot = data.get("bot")
        if bot is None or id(bot) not in self.multibot.routes:
            log.warning("update %s from a bot this process does not serve, skipped", event.update_id)
            return UNHANDLED
        key = self.multibot.routes[id(bot)]
        if key is not None:
            school = self.multibot.schools[key]
            return await self._through(school, school.own, handler, event, data)
        return await self._district(handler, event, data, bot)

    async def _district(self, handler: Handler, event: Update, data: dict[str, Any], bot: Bot) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return UNHANDLED
        channel = channel_of(bot)
        multibot = self.multibot
        payload = _start_payload(event)
        named = None if payload is None else deep_link_school(payload, multibot.schools)
        key: str | None = None
        if named is not None:
            # A school's invitation link: that school, whether or not it knows the person yet.
            key, rest = named
            await multibot.choices.choose(channel, user.id, key)
            event = _with_start(event, rest)
        else:
            key = await multibot.choices.chosen(channel, user.id)
            if key not in multibot.schools:
                known = await multibot.schools_of(channel, user.id)
                key = known[0][0] if len(known) == 1 else None
                if key is not None:
                    await multibot.choices.choose(channel, user.id, key)
        if key is not None:
            school = multibot.schools[key]
            return await self._through(school, school.district, handler, event, data, district=multibot)
        if event.message is None and event.callback_query is None:
            return UNHANDLED
        # Known in several schools (or none) and nothing chosen: the picker answers, no school does.
        data.update({
            SCHOOL_VALUES: {"catalog": self.catalog}, "catalog": self.catalog, "school_pending": True,
            "person": None, "channel": channel, "t": self.catalog.bind(pick_lang(user.language_code)),
        })
        self._district_data(data)
        return await handler(event, data)

    def _district_data(self, data: dict[str, Any]) -> None:
        data["district_schools"] = self.multibot
        if self.multibot.role is not None:
            data["district_coverage"] = self.multibot.role

    async def _through(
        self, school: School, chain: Sequence[BaseMiddleware], handler: Handler, event: Update, data: dict[str, Any],
        *, district: DistrictSchools | None = None,
    ) -> Any:
        data.update(school.filter_values)
        data[SCHOOL_VALUES] = school.values
        if district is not None:  # the district bot's own handlers (the picker) act here alone
            self._district_data(data)
        call: Handler = handler
        for middleware in reversed(chain):
            call = _bind(middleware, call)
        with speaking_for(school):
            return await call(event, data)


def _bind(middleware: BaseMiddleware, handler: Handler) -> Handler:
    async def call(event: TelegramObject, data: dict[str, Any]) -> Any:
        return await middleware(handler, event, data)

    return call


def build_multibot_dispatcher(multibot: Multibot) -> Dispatcher:
    """The one Dispatcher of every bot: the district's picker first, then every capability's routers."""
    schools = list(multibot.schools.values())
    if not schools:
        raise ValueError("a district with no school")
    catalog = schools[0].app.catalog  # shipped content, the same for every school
    # Conversation state is the school's own (SchoolFsm, in the routing), not the Dispatcher's.
    dp = Dispatcher(disable_fsm=True)
    dp.update.outer_middleware(SchoolRouting(multibot, catalog))
    dp.message.outer_middleware(MenuLeavesFlow(catalog))
    install_error_handler(dp)
    dp.include_router(district_bot.build_router())
    dp.include_routers(*build_routers())
    wanted = filter_params(dp)
    for school in schools:
        school.build(wanted)
    # Before a school is resolved (an error in the routing itself) the error handler still has the catalog.
    install_dependencies(dp, {"catalog": catalog})
    check_handler_dependencies(dp, [*schools[0].values, *DISTRICT_NAMES])
    for school in schools:
        for bot in (school.bot, school.max_bot):
            if bot is not None:
                multibot.routes[id(bot)] = school.key
    for bot in multibot.district_bots():
        multibot.routes[id(bot)] = None
        bot.session.middleware(DistrictSession(catalog))
        for school in schools:
            # The district bot's requests pass the school's guard through DistrictSession, per request.
            school.app.send_guard.delegated(bot)

    # Schools start side by side (each asks its bots' names and sets their commands), a few at a time.
    starting = asyncio.Semaphore(STARTING_AT_ONCE)

    async def start(school: School) -> None:
        primary, max_bot = multibot.wires_of(school)
        attach_bots(school.app, primary, max_bot)
        school.app.district_bots = multibot.fallback_of(school)
        if school.bot is None and school.max_bot is None:
            school.app.served.payload_prefix = school.key + LINK_SEPARATOR
        # Every task the school starts (its sender, its watchers) speaks for it on the district bot.
        async with starting:
            with speaking_for(school):
                await start_school(school.app, primary, commands=school.bot is not None or school is schools[0])

    async def on_startup() -> None:
        outcomes = await asyncio.gather(*(start(school) for school in schools), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            # One school that cannot start stops the start: the others' senders and ticks stop too.
            for school in schools:
                await school.app.scheduler.shutdown()
                await stop_school(school.app)
            raise failed[0]
        log.info(catalog.text("ru", "district_bot.started", schools=len(schools), bots=len(multibot.hooks())))

    async def on_shutdown() -> None:
        for school in schools:
            await school.app.scheduler.shutdown()
        await _wait_for_handlers([g for s in schools for g in s.guards], timeout=SHUTDOWN_GRACE)
        for school in schools:
            await stop_school(school.app)
            if school.storage is not None:
                await school.storage.close()  # a Redis storage's connections (the database's is the App's)

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    multibot.dispatcher = dp
    return dp


def build_multibot(
    settings: Settings, schools: Mapping[str, App], *, titles: Mapping[str, str] | None = None,
    choices: Choices | None = None, role: DistrictService | None = None,
) -> Multibot:
    """The bots of a district: each school's own (from its settings: BOT_TOKEN, MAX_TOKEN, either or
    none) and the district bot (from the district's ``settings``: its BOT_TOKEN and MAX_TOKEN)."""
    served: dict[str, School] = {}
    for key, app in schools.items():
        own = app.settings
        served[key] = School(
            key, app, bot=build_bot(own) if own.bot_token is not None else None, max_bot=build_max_bot(own),
            name=(titles or {}).get(key),
        )
    multibot = Multibot(
        served, settings, district_bot=build_bot(settings) if settings.bot_token is not None else None,
        district_max_bot=build_max_bot(settings), choices=choices or MemoryChoices(), role=role,
    )
    build_multibot_dispatcher(multibot)
    return multibot


def build_district_bots(district: District) -> Multibot:
    """`build_multibot` for a district read from its registry (bot/district/runtime.py build_district):
    the registry's titles, its remembered choices and the district role."""
    titles = {key: info.title for key, info in district.info.items()}
    return build_multibot(
        district.settings, district.schools, titles=titles, choices=district.choices, role=district.service
    )


async def serve_multibot(multibot: Multibot, *, handle_signals: bool = True) -> None:
    """Every school's bots and the district bot by webhook, until stopped (SIGTERM/SIGINT, or
    ``multibot.stop``)."""
    if not multibot.settings.webhook_url:
        raise ConfigError(district_text("needs_webhook"))
    dp = multibot.dispatcher or build_multibot_dispatcher(multibot)
    # As bot/app.py serve: what is built lives as long as the process, out of the collector's sight.
    gc.freeze()
    try:
        await serve_webhooks(dp, multibot.settings, multibot.hooks(), multibot.stop, handle_signals=handle_signals)
    except BaseException:
        for school in multibot.schools.values():
            await school.app.close()
        raise
    finally:
        gc.unfreeze()
