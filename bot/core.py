"""What every command of the bot shares, built without the messenger: settings, the school, the
database, the clock, the catalog, the roster and every capability's service with its importers and
listeners. `schoolbot backup`, `purge`, `consent destroyed` and the other commands that send
nothing run on a `Core` alone and never import aiogram or the handlers (bot/cli_app.py); the
running bot's `App` (bot/app.py) is a `Core` with the messenger, the scheduler and the sender
added. Both are built by `build_core`, so a command and the bot see the same services wired the
same way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bot import capabilities
from bot.clock import Clock, SystemClock
from bot.config import SchoolConfig, Settings, apply_year_override, load_school_config
from bot.i18n import Catalog
from bot.modpath import resolve
from bot.paths import CONTENT_DIR
from bot.services.faq import FaqLibrary
from bot.services.imports import Importer
from bot.services.ports import Buttons, ConsentGivenListener, PersonLinkedListener
from bot.services.repos import Backups, Repositories
from bot.services.restore import RestoreService
from bot.wiring import Services, build_services
from storage.access_log import AccessLogRepo
from storage.accounts import AccountRepo
from storage.acks import AckRepo
from storage.analysis import AnalysisRepo
from storage.backend import make_database
from storage.codes import CodeRepo
from storage.consent import ConsentRepo
from storage.consent_destruction import DestructionRepo
from storage.consent_form import ConsentFormRepo
from storage.delivery import DeliveryRepo
from storage.help import HelpRepo
from storage.messengers import MessengerRepo
from storage.ops import OpsRepo
from storage.outbox import OutboxRepo
from storage.people import PersonRepo
from storage.pg_backup import PgCopies, PgRestorer
from storage.retention import RetentionRepo
from storage.snapshot import SqliteCopies, SqliteRestorer
from storage.sql import SqlDatabase
from storage.subject import SubjectRepo
from storage.surveys import SurveyRepo
from storage.tasks import TaskRepo
from storage.tokens import TokenRepo
from storage.year import YearRepo

TELEGRAM_BUTTONS = "bot.tg.buttons:TelegramButtons"


class LazyButtons:
    """The messenger's keyboards, loaded the first time a service builds one: a command whose
    services enqueue a message with buttons loads aiogram then, one that never does never loads
    it."""

    def __init__(self, path: str = TELEGRAM_BUTTONS) -> None:
        self._path = path
        self._real: Buttons | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._real is None:
            self._real = cast(Buttons, resolve(self._path)())
        return getattr(self._real, name)


@dataclass(kw_only=True)
class Core:
    """The shared part of the application. Only entry points and the composition root hold it; a
    command of a capability gets its one service (bot/cli_app.py)."""

    settings: Settings
    school: SchoolConfig
    db: SqlDatabase
    clock: Clock
    catalog: Catalog
    people: PersonRepo
    buttons: Buttons
    services: Services
    importers: dict[str, Importer]
    # Set after a commit that enqueued a message: the running bot's sender drains the outbox at once.
    outbox_wakeup: asyncio.Event

    def wake_sender(self) -> None:
        self.outbox_wakeup.set()

    async def open(self) -> None:
        if not self.db.is_open:
            await self.db.open()
            # A school year moved on by `schoolbot new-year` lives in the database (see migration 010).
            record = await YearRepo(self.db).latest_year()
            if record is not None:
                apply_year_override(self.school, record.year, record.quarters, record.holidays)

    async def close(self) -> None:
        await self.db.close()


@dataclass(frozen=True)
class SharedContent:
    """What the schools of a district share instead of loading once each (#27): the catalog and the
    FAQ library come from the install's content/ folder, hold no school's data and are not changed
    per school (the FAQ's reload swaps the one snapshot every school reads, from the same files).
    Nothing with a school's data is shared: each school's store, settings and services are its own."""

    catalog: Catalog
    faq_library: FaqLibrary

    @classmethod
    def load(cls) -> SharedContent:
        return cls(catalog=Catalog.load(), faq_library=FaqLibrary.load(CONTENT_DIR / "faq"))


def database_copies(settings: Settings, db: SqlDatabase) -> Backups:
    """How this school's database is backed up: pg_dump of its schema when DATABASE_URL names
    PostgreSQL (the backend make_database chose), else SQLite's copy of its file."""
    if settings.database_url is not None:
        return PgCopies(settings.database_url.get_secret_value(), settings.database_schema)
    return SqliteCopies(db.path)


def database_restore(settings: Settings) -> RestoreService:
    """How `schoolbot restore` puts a backup in place of this school's database (the bot stopped):
    pg_restore of the dump into its schema when DATABASE_URL names PostgreSQL (the backend
    make_database chooses), else the SQLite file swapped. A DATABASE_URL the tools cannot use raises
    storage.pg_backup.PgToolError."""
    if settings.database_url is not None:
        return _restore_service(PgRestorer(
            settings.database_url.get_secret_value(), settings.database_schema, Path(settings.backup_dir)
        ))
    return file_restore(Path(settings.database_path))


def file_restore(path: Path) -> RestoreService:
    """A restore of the SQLite database file at `path`."""
    return _restore_service(SqliteRestorer(path))


def _restore_service(restorer: SqliteRestorer | PgRestorer) -> RestoreService:
    # The carry-over and the access-log row are written in the restored database (the restorer's
    # store): the ledger's and the access log's repositories, as the services get them.
    return RestoreService(restorer=restorer, ledger=ConsentRepo(), access_log=AccessLogRepo(restorer.store))


def core_parts(
    settings: Settings,
    *,
    clock: Clock | None = None,
    school: SchoolConfig | None = None,
    buttons: Buttons | None = None,
    shared: SharedContent | None = None,
    database: SqlDatabase | None = None,
) -> dict[str, Any]:
    """The fields of a `Core`, for `Core(**...)` or the `App` that extends it. `shared`: the content a
    district's schools share (one school loads its own); `database`: the school's store when a district
    made it (a schema on the district's shared PostgreSQL pool), else the settings' own."""
    # Set in the environment or .env (not the default): the file must be there.
    school_config = school or load_school_config(
        settings.school_config, required="school_config" in settings.model_fields_set
    )
    db = database if database is not None else make_database(settings)
    the_clock = clock or SystemClock()
    catalog = shared.catalog if shared is not None else Catalog.load()
    people = PersonRepo(db)
    help_repo = HelpRepo(db)  # questions and training sessions share the help tables
    the_buttons = buttons if buttons is not None else cast(Buttons, LazyButtons())
    wakeup = asyncio.Event()
    consent_listeners: list[ConsentGivenListener] = []
    link_listeners: list[PersonLinkedListener] = []
    services = build_services(
        settings=settings, school=school_config, db=db, clock=the_clock, catalog=catalog,
        repos=Repositories(
            people=people, codes=CodeRepo(db), surveys=SurveyRepo(db), ops=OpsRepo(db), plan=TaskRepo(db),
            acks=AckRepo(db), outbox=DeliveryRepo(db), messengers=MessengerRepo(db), analysis=AnalysisRepo(db),
            retention=RetentionRepo(db), year=YearRepo(db), subject=SubjectRepo(db),
            access_log=AccessLogRepo(db), tickets=help_repo, training=help_repo,
            consent_forms=ConsentFormRepo(), consent_ledger=ConsentRepo(), destructions=DestructionRepo(),
            accounts=AccountRepo(), link_tokens=TokenRepo(), outbox_queue=OutboxRepo(),
            backups=database_copies(settings, db),
        ),
        buttons=the_buttons,
        faq_library=shared.faq_library if shared is not None else FaqLibrary.load(CONTENT_DIR / "faq"),
        wake_sender=wakeup.set,
        consent_listeners=consent_listeners, link_listeners=link_listeners,
    )
    # A listener is a method of a service built after the one that calls it: the lists are filled now.
    consent_listeners.extend(capabilities.consent_listeners(services))
    link_listeners.extend(capabilities.link_listeners(services))
    for capability in capabilities.CAPABILITIES:
        for setup in capability.setup:
            setup()
    return {
        "settings": settings, "school": school_config, "db": db, "clock": the_clock, "catalog": catalog,
        "people": people, "buttons": the_buttons, "services": services,
        "importers": capabilities.importers(services), "outbox_wakeup": wakeup,
    }


def build_core(
    settings: Settings, *, clock: Clock | None = None, school: SchoolConfig | None = None,
    shared: SharedContent | None = None, database: SqlDatabase | None = None,
) -> Core:
    return Core(**core_parts(settings, clock=clock, school=school, shared=shared, database=database))
