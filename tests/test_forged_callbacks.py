"""Forged, stale and foreign callback data: every press is answered with a refusal (or a harmless
answer), never an exception. Drives every CallbackData class of the bot with values a hostile
client can send: ids that do not exist or belong to someone else, zero and negative numbers, enum
values out of place, malformed packs, for an IT officer, a parent and an unknown user.

The error handler would answer a press that raised, so the test also fails on any ERROR it logs:
the point is that nothing raised at all.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
import typing
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import AnswerCallbackQuery

import bot.services
import handlers
from tests.harness import IT_OFFICER, PARENT_TWO, Harness, roster_csv

UNKNOWN = 777000


def _callback_classes() -> list[type[CallbackData]]:
    found: dict[str, type[CallbackData]] = {}
    for package in (handlers, bot.services):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, CallbackData) and obj is not CallbackData:
                    found[obj.__prefix__] = obj  # type: ignore[attr-defined]
    return [found[k] for k in sorted(found)]


def _literals(cls: type[CallbackData], field: str) -> list[str]:
    """String values the code itself compares a field with or builds it from: real actions, so
    the forged packs reach the handlers a real button would."""
    source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    found = set(re.findall(rf'\b{field}\s*(?:==|=)\s*"([^"]+)"', source))
    for group in re.findall(rf'\b{field}\s*in\s*[({{\[]([^)}}\]]*)', source):
        found |= set(re.findall(r'"([^"]+)"', group))
    for group in re.findall(rf'\b{field}:\s*str\s*#([^\n]*)', source):
        found |= {w.strip() for w in group.split("|") if w.strip().isidentifier()}
    return sorted(found)


def _values(hint: Any) -> list[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union and args:
        return [*_values(args[0]), None]
    if hint is int:
        return [0, 1, -1, 999_999]
    if hint is bool:
        return [True, False]
    if inspect.isclass(hint) and hasattr(hint, "__members__"):
        return list(hint.__members__.values())
    return ["x", "all", "0"]


def _forged(cls: type[CallbackData]) -> list[str]:
    hints = typing.get_type_hints(cls)
    fields = list(cls.model_fields)
    base: dict[str, Any] = {name: _values(hints.get(name, str))[0] for name in fields}
    packs: set[str] = set()
    # Every real action with every forged id: the pairs a hostile client would try.
    str_fields = [n for n in fields if hints.get(n, str) is str]
    for name in str_fields:
        for literal in _literals(cls, name):
            for other in fields:
                if other == name:
                    continue
                for value in _values(hints.get(other, str)):
                    try:
                        packs.add(cls(**{**base, name: literal, other: value}).pack())
                    except (ValueError, TypeError):
                        continue
    for name in fields:
        extra = _literals(cls, name) if hints.get(name, str) is str else []
        for value in [*_values(hints.get(name, str)), *extra]:
            try:
                packs.add(cls(**{**base, name: value}).pack())
            except (ValueError, TypeError):
                continue
    prefix = cls.__prefix__  # type: ignore[attr-defined]
    # Malformed: too few parts, too many parts, wrong types where numbers are expected.
    packs |= {prefix, f"{prefix}:", f"{prefix}:{':'.join('z' for _ in fields)}", f"{prefix}:1:2:3:4:5:6:7"}
    return sorted(p for p in packs if 0 < len(p.encode()) <= 64)


CASES = [(cls.__prefix__, data) for cls in _callback_classes() for data in _forged(cls)]  # type: ignore[attr-defined]


@pytest.fixture
async def school(harness: Harness) -> Harness:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await harness.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    return harness


def test_every_callback_class_is_covered() -> None:
    prefixes = {prefix for prefix, _ in CASES}
    assert {"cns", "cst", "tsk", "cds", "adm", "tk", "trr", "lang"} <= prefixes


@pytest.mark.parametrize("user", [IT_OFFICER, PARENT_TWO, UNKNOWN], ids=["it_officer", "parent", "unknown"])
async def test_forged_callbacks_are_answered_without_an_exception(
    school: Harness, user: int, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[str] = []
    for _prefix, data in CASES:
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            calls = await school.press(user, data)
        answers = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        if errors or len(answers) != 1:
            failures.append(f"{data!r}: {len(answers)} answers, errors: {[r.getMessage() for r in errors]}")
    assert not failures, "\n".join(failures)
