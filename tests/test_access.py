"""Table-driven: every staff/admin command, menu button and callback, sent by a parent and by an
unknown user, is refused, with no effect on the database."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import AnswerCallbackQuery, SendMessage

import handlers
from bot.i18n import Catalog
from bot.tg.menu import MENU
from storage import dialect
from tests.harness import PARENT_TWO, Harness, roster_csv

UNKNOWN = 777000

STAFF_COMMANDS = sorted(e.id for e in MENU if e.roles is not None and "parent" not in e.roles)


def _handler_modules() -> list[Any]:
    mods = []
    for info in pkgutil.iter_modules(handlers.__path__):
        mods.append(importlib.import_module(f"handlers.{info.name}"))
    return mods


def _sample(cls: type[CallbackData]) -> str:
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for name, field in cls.model_fields.items():
        if not field.is_required():
            continue
        hint = hints.get(name, str)
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        base = args[0] if origin is typing.Union and args else hint
        if base is int:
            values[name] = 1
        elif base is bool:
            values[name] = True
        elif inspect.isclass(base) and hasattr(base, "__members__"):
            values[name] = next(iter(base.__members__.values()))  # type: ignore[attr-defined]
        else:
            values[name] = "x"
    return cls(**values).pack()


def _staff_callbacks() -> list[str]:
    """Callbacks of routers that are filtered to staff roles (their module says STAFF_ONLY = True)."""
    found: list[str] = []
    for module in _handler_modules():
        if not getattr(module, "STAFF_ONLY", False):
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, CallbackData) and obj is not CallbackData:
                found.append(_sample(obj))
    # Real values too: a generic sample may not reach the handler a real button would.
    found += ["adm:link", "adm:cancel", "imp:roster:1"]
    return sorted(set(found))


async def _counts(h: Harness) -> dict[str, int]:
    # The refusal itself is a send, and every send is logged (send_log): nothing else may change.
    tables = sorted(await dialect.tables(h.app.db.conn) - {"processed_updates", "fsm", "send_log"})
    return {t: int(await h.app.db.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}


@pytest.fixture
async def school(harness: Harness) -> Harness:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    return harness


def test_the_tables_are_not_empty() -> None:
    assert {"status", "report", "broadcast", "admin", "tasks"} <= set(STAFF_COMMANDS)
    assert "adm:link" in _staff_callbacks()


@pytest.mark.parametrize("command", STAFF_COMMANDS)
@pytest.mark.parametrize("who", [PARENT_TWO, UNKNOWN])
async def test_staff_commands_are_refused(school: Harness, command: str, who: int) -> None:
    before = await _counts(school)
    catalog = Catalog.load()
    for text in (f"/{command}", catalog.text("ru", f"menu.{command}")):
        calls = await school.text(who, text)
        assert len(calls) == 1 and isinstance(calls[0], SendMessage), calls
        keys = (
            ("fallback.unknown_user",) if who == UNKNOWN else ("fallback.unknown_command", "fallback.not_understood")
        )
        contact = school.app.school.school.it_officer_contact
        assert calls[0].text in {catalog.text("ru", k, contact=contact) for k in keys}
    assert await _counts(school) == before


@pytest.mark.parametrize("callback", _staff_callbacks())
@pytest.mark.parametrize("who", [PARENT_TWO, UNKNOWN])
async def test_staff_callbacks_are_refused(school: Harness, callback: str, who: int) -> None:
    before = await _counts(school)
    calls = await school.press(who, callback)
    assert len(calls) == 1 and isinstance(calls[0], AnswerCallbackQuery), calls
    assert calls[0].text == Catalog.load().text("ru", "fallback.button_unavailable")
    assert await _counts(school) == before
