"""A district's running side: every school's `App`, built as `schoolbot run` builds the one school of
a plain install, and the district role's pieces for the district's bot.

`build_district(settings)` reads the registry (DISTRICT_DIR/district.db) and gives a `District`:
- `schools`: key -> that school's `App` (bot/app.py `create_app` on the school's own settings copy:
  its store, its tokens, its SchoolConfig), for the process that serves many bots (bot/multibot.py);
  on PostgreSQL each school's store is its schema on one pool all schools share (`stores`), opened by
  `District.open()` before any school's;
- `info`: key -> `School` (title, settings, its bots' tokens as SecretStr, None when only the
  district's bot serves it);
- `service`: the district role's `DistrictService` (coverage across schools, who is an operator);
- `choices`: `SchoolChoices` (`chosen(channel, user_id)`, `choose(channel, user_id, key)`), which school
  each account last picked on the district's bot, kept in the registry across restarts;
- `dispatcher_data()` / `install_district_role(dp)`: what the district bot's dispatcher needs for
  handlers/district.py.

An entry point's module (tests/test_layering.py): it builds applications with bot/app.py, which only
entry points import; the process that serves many bots imports it as its own.

Lean per school. The catalog and the FAQ library are loaded once and shared by every school
(bot.core.SharedContent: the install's content, no school's data); everything that holds a school's
data (store, services, outbox wake-up, send guard, scheduler) is the school's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import TelegramObject, User

from bot.app import App, create_app
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.core import SharedContent
from bot.district.schools import registry_store, school_figures, school_settings, school_stores
from bot.i18n import Catalog, pick_lang
from bot.max import channel_of
from bot.services.district import DistrictRegistry, DistrictService, School, SchoolChoices
from bot.tg.middlewares import check_handler_dependencies, install_dependencies
from handlers import district as district_handlers
from scheduler.base import APScheduler, Scheduler
from storage.district import DistrictStore, SchoolStores

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass(kw_only=True, eq=False)
class District:
    """Every school of the district, built; only entry points and the multi-bot root hold it."""

    settings: Settings
    store: DistrictStore
    # The schools' stores: their files, or their schemas on one PostgreSQL pool every school shares.
    stores: SchoolStores
    registry: DistrictRegistry
    service: DistrictService
    shared: SharedContent
    clock: Clock
    # Which school each account talks to on the district's bot (remembered in the registry).
    choices: SchoolChoices
    # key -> the school's application, in key order.
    schools: Mapping[str, App] = field(default_factory=dict)
    # key -> the school's title, settings and its own bots' tokens.
    info: Mapping[str, School] = field(default_factory=dict)

    @property
    def catalog(self) -> Catalog:
        return self.shared.catalog

    def title(self, key: str) -> str:
        return self.info[key].title

    async def open(self) -> None:
        """Open the registry and every school's store (each applies its own migrations)."""
        await self.store.open()
        await self.stores.open()
        for app in self.schools.values():
            await app.open()

    async def close(self) -> None:
        for app in self.schools.values():
            await app.close()
        await self.stores.close()
        await self.store.close()

    def dispatcher_data(self) -> dict[str, object]:
        """What handlers/district.py asks for on the district's bot."""
        return {"district_coverage": self.service, "catalog": self.shared.catalog}


async def build_district(
    settings: Settings,
    *,
    clock: Clock | None = None,
    scheduler: Callable[[], Scheduler] | None = None,
) -> District:
    """Read the registry and build every school's `App`. The registry and the schools' shared pool
    (PostgreSQL) are left open: the registry answers the district role and the school picker, and each
    school's store opens on the pool with `District.open()` or, served, at its App's start-up.
    `District.close()` closes all of it. `scheduler` makes each school's scheduler (tests:
    ManualScheduler)."""
    shared = SharedContent.load()
    the_clock = clock or SystemClock()
    store = registry_store(settings, shared.catalog.bind("ru"))
    stores = school_stores(settings, shared.catalog.bind("ru"))
    await store.open()
    try:
        registry = DistrictRegistry(records=store, clock=the_clock)
        schools = await registry.schools()
        # Open now: a school's App opens its store on the shared pool at its start (the multi-bot
        # root starts each school itself), and a store on an unopened pool cannot connect.
        await stores.open()
    except BaseException:
        await store.close()
        raise
    apps: dict[str, App] = {}
    for school in schools:
        apps[school.key] = create_app(
            school_settings(settings, school), clock=the_clock,
            scheduler=scheduler() if scheduler is not None else APScheduler(),
            school=school.config, shared=shared, database=stores.database(school.key),
        )
    service = DistrictService(
        records=store,
        schools={s.key: school_figures(apps[s.key], s) for s in schools},
    )
    return District(
        settings=settings, store=store, stores=stores, registry=registry, service=service, shared=shared,
        clock=the_clock, choices=SchoolChoices(records=store, clock=the_clock), schools=apps,
        info={s.key: s for s in schools},
    )


class DistrictContext(BaseMiddleware):
    """`t` (the catalog in the user's language) and `channel` for the district role's handlers: on the
    district's bot the user is no school's roster person, so nothing is looked up in a school's store."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        bot = data.get("bot")
        data["channel"] = channel_of(bot) if bot is not None else None
        data["t"] = self.catalog.bind(pick_lang(user.language_code if user else None))
        data.setdefault("person", None)
        return await handler(event, data)


def install_district_role(dp: Dispatcher, district: District) -> None:
    """The district role on a dispatcher (the district's bot): its router, the context and the
    dependencies its handlers ask for, checked at build as every dispatcher's are."""
    dp.update.outer_middleware(DistrictContext(district.catalog))
    dp.include_router(district_handlers.build_router())
    data = district.dispatcher_data()
    install_dependencies(dp, data)
    check_handler_dependencies(dp, data)


def build_district_dispatcher(district: District) -> Dispatcher:
    """A dispatcher serving the district role alone (tests; the multi-bot root adds the role to the
    district bot's own dispatcher with `install_district_role`)."""
    dp = Dispatcher()
    install_district_role(dp, district)
    return dp
