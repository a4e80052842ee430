"""Each school of a district as the rest of schoolbot knows a school: its own `Settings` (its store,
its tokens) and its `SchoolConfig`, so that `bot/core.py` and `bot/app.py` build a district's school
exactly as they build the one school of a plain install. Light on purpose: the `schoolbot district`
commands import it, and it loads no messenger (tests/test_cli_light.py).

Why a store per school and not a `school_id` column: see storage/district.py. The one decision
that keeps schools apart is here, in `school_settings`: a school's services are built on
`school_store_path(district_dir, key)` and nothing else, so no query of theirs can reach another
school's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.clock import Clock
from bot.config import Settings
from bot.core import Core, SharedContent, build_core
from bot.i18n import Translator
from bot.services.district import DistrictError, DistrictRegistry, NewSchool, School, SchoolFigures
from storage.consent import ConsentRepo
from storage.db import StorageError
from storage.district import (
    DistrictStore,
    SchoolFiguresRepo,
    SchoolStores,
    registry,
    schema_name,
    school_folder,
    school_store_path,
)


def district_dir(settings: Settings, t: Translator) -> Path:
    """The district's folder (DISTRICT_DIR), or a clear refusal when the install is a single school."""
    if settings.district_dir is None:
        raise DistrictError(t("district.not_configured"))
    return settings.district_dir


def registry_store(settings: Settings, t: Translator) -> DistrictStore:
    url = settings.database_url.get_secret_value() if settings.database_url is not None else None
    return registry(district_dir(settings, t), url)


def school_stores(settings: Settings, t: Translator) -> SchoolStores:
    """Where the schools' stores are: files under DISTRICT_DIR, or schemas in DATABASE_URL's database."""
    url = settings.database_url.get_secret_value() if settings.database_url is not None else None
    return SchoolStores(district_dir(settings, t), url)


def school_settings(settings: Settings, school: School) -> Settings:
    """The school's copy of the district's settings: its own store (its SQLite file, or its schema in
    the district's PostgreSQL database) and backups folder, its own bots' tokens (None: only the
    district's bot serves it). ADMIN_IDS stay the district's and are not handed down: a district
    operator is not a school's IT officer and must not see its codes or children; a school's IT
    officer comes from its roster or `schoolbot district admin-token`."""
    assert settings.district_dir is not None
    folder = school_folder(settings.district_dir, school.key)
    return settings.model_copy(update={
        "database_path": school_store_path(settings.district_dir, school.key),
        "database_schema": schema_name(school.key),
        "backup_dir": folder / "backups",
        "bot_token": school.telegram_token,
        "max_token": school.max_token,
        "admin_ids": [],
        "district_dir": None,
        # The school's own Redis keys (docs/redis.md): its conversations never meet another school's,
        # even where bot ids are alike (every MAX bot's is 0); its own bots' send budgets are its own.
        "redis_prefix": f"{settings.redis_prefix}.{school.key}",
    })


def school_core(
    settings: Settings, school: School, *, clock: Clock | None = None, shared: SharedContent | None = None,
    stores: SchoolStores | None = None,
) -> Core:
    """The school's `Core` (services without the messenger), on its own store (on the shared pool of
    `stores` when given)."""
    return build_core(
        school_settings(settings, school), clock=clock, school=school.config, shared=shared,
        database=stores.database(school.key) if stores is not None else None,
    )


def school_figures(core: Core, school: School) -> SchoolFigures:
    """What the district's coverage table reads of one school, on that school's store and services."""
    return SchoolFigures(
        key=school.key, title=school.title, db=core.db, tasks=core.services.tasks,
        figures=SchoolFiguresRepo(core.db), ledger=ConsentRepo(),
        consent_gate=core.services.consent_gate, school=core.school, clock=core.clock,
    )


@dataclass(frozen=True)
class Added:
    school: School
    store: str  # where its data are, as the operator reads it


async def add_school(settings: Settings, registry: DistrictRegistry, new: NewSchool, t: Translator) -> Added:
    """Create the school's store (every migration applied), then its registry row; nothing half
    written: a store that cannot be made leaves no row, a row that cannot be written removes the
    store just made, and a folder or schema already there (not this command's) is never touched."""
    stores = school_stores(settings, t)
    key = new.record.key
    if await stores.exists(key):
        raise DistrictError(t("district.leftover", path=stores.where(key), key=key))
    try:
        await stores.create(key)
        await registry.register(new)
    except (StorageError, OSError) as exc:
        await stores.remove(key)
        raise DistrictError(t("district.store_failed", key=key, detail=str(exc))) from None
    except BaseException:
        await stores.remove(key)
        raise
    return Added(School(key=key, title=new.record.title, config=new.config), stores.where(key))
