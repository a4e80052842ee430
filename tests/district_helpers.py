"""Shared setup for the district tests: a district folder with schools added as `schoolbot district
add-school` adds them, built as the multi-bot process builds them (bot/district/runtime.py)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot import core
from bot.clock import ManualClock
from bot.config import Settings
from bot.district.runtime import District, build_district
from bot.district.schools import add_school, registry_store
from bot.i18n import Catalog
from bot.services.district import DistrictRegistry
from scheduler.base import ManualScheduler
from tests.harness import DEFAULT_START, make_settings, private_school_config

# Two schools' names as their school.toml write them; the rest is the example school (private).
SCHOOLS = {"alpha": "Школа № 1 «Альфа»", "beta": "Школа № 2 «Бета»"}


def school_toml(tmp_path: Path, name: str) -> str:
    text = private_school_config(tmp_path).read_text(encoding="utf-8")
    original = 'name = "МБОУ «Средняя общеобразовательная школа № 1»"'
    assert original in text
    return text.replace(original, f'name = "{name}"')


def district_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(tmp_path, district_dir=tmp_path / "district", **overrides)


async def add_schools(settings: Settings, tmp_path: Path, schools: dict[str, str] = SCHOOLS) -> None:
    t = Catalog.load().bind("ru")
    store = registry_store(settings, t)
    await store.open()
    try:
        registry = DistrictRegistry(records=store, clock=ManualClock(DEFAULT_START))
        for key, name in schools.items():
            new = await registry.check_new_school(key, name, school_toml(tmp_path, name), f"{key}.toml", t)
            await add_school(settings, registry, new, t)
    finally:
        await store.close()


@asynccontextmanager
async def built_district(settings: Settings, *, separate_reader: bool = True) -> AsyncIterator[District]:
    """The district as the multi-bot process builds it, every school's reads (by default) on a second
    connection that sees only what is committed (as tests/harness.py pooled_app does for one school)."""
    with pytest.MonkeyPatch.context() as patch:
        if separate_reader:
            patch.setattr(core, "make_database", functools.partial(core.make_database, separate_reader=True))
        district = await build_district(settings, clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler)
    try:
        await district.open()
        yield district
    finally:
        await district.close()
