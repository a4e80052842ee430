"""The implementation plan as data: loading, validating and moving it to the current school year.

The shipped plan (``content/plan.toml``) is the school's signed 2010/11 plan. Its dates belong to
``source_school_year``; :func:`shift_plan` moves them to the school year the bot runs in, keeping the
original wording in ``Deadline.source`` so the document can still be quoted as signed.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeGuard

from bot.domain.access import ALL_ROLES as ROLE_CODES
from bot.domain.plan import DEADLINE_KINDS, Deadline, Plan, PlanItem
from bot.paths import CONTENT_DIR

__all__ = [
    "DEADLINE_KINDS",
    "PLAN_PATH",
    "ROLE_CODES",
    "Deadline",
    "Plan",
    "PlanError",
    "PlanItem",
    "load_plan",
    "shift_plan",
]

PLAN_PATH = CONTENT_DIR / "plan.toml"


# Which optional deadline fields each kind requires; any other of them is rejected so that a typo
# in the data (a date on a "month" deadline) is caught instead of silently ignored.
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "date": frozenset({"date"}),
    "from_date": frozenset({"date"}),
    "month": frozenset({"year", "month"}),
    "yearly_month": frozenset({"month"}),
    "whole_period": frozenset(),
    "each_quarter": frozenset(),
    "per_event": frozenset(),
    "unset": frozenset(),
}

_ITEM_KEYS = frozenset({"number", "text", "deadline", "responsible", "responsible_text", "proof"})
_DEADLINE_KEYS = frozenset({"kind", "date", "year", "month", "source"})
_TOP_KEYS = frozenset({"title", "order", "source_school_year", "items"})
_NUMBER_RE = re.compile(r"^\d+(\.\d+)*$")


class PlanError(ValueError):
    """The plan file is malformed; the message names the item and the field."""


def load_plan(path: Path | str = PLAN_PATH) -> Plan:
    """Read and validate a plan TOML file. Raises PlanError on any problem, naming where it is."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8: {exc.reason}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: invalid TOML: {exc}") from exc
    return parse_plan(raw)


def parse_plan(raw: Mapping[str, Any]) -> Plan:
    """Validate an already-decoded plan mapping (the TOML document) and build a Plan."""
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise PlanError(f"plan: unknown field(s) {', '.join(unknown)}")
    title = _require_str(raw, "title", "plan")
    order = raw.get("order", "")
    if not isinstance(order, str):
        raise PlanError("plan: order: must be a string")
    year = raw.get("source_school_year")
    if not _is_int(year) or not 1900 <= year <= 2999:
        raise PlanError("plan: source_school_year: must be a year such as 2010")
    items_raw = raw.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        raise PlanError("plan: items: must be a non-empty array of tables ([[items]])")

    items: list[PlanItem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(items_raw, start=1):
        item = _parse_item(entry, index)
        if item.number in seen:
            raise PlanError(f"{_where(index, item.number)}: number: duplicate of entry {seen[item.number]}")
        seen[item.number] = index
        items.append(item)
    return Plan(title=title, source_school_year=year, items=tuple(items), order=order)


def shift_plan(plan: Plan, school_year: int) -> Plan:
    """Move every dated deadline by (school_year - plan.source_school_year) years.

    Calendar months stay the same (October 2010 -> October 2026 for school year 2026); 29 February
    becomes 28 February in a common year. Recurring kinds carry no year and are kept as they are.
    """
    delta = school_year - plan.source_school_year
    if delta == 0:
        return plan
    items = tuple(replace(item, deadline=_shift_deadline(item.deadline, delta)) for item in plan.items)
    return replace(plan, source_school_year=school_year, items=items)


def _shift_deadline(deadline: Deadline, delta: int) -> Deadline:
    if deadline.date is not None:
        return replace(deadline, date=_add_years(deadline.date, delta))
    if deadline.kind == "month" and deadline.year is not None:
        return replace(deadline, year=deadline.year + delta)
    return deadline


def _add_years(day: date, years: int) -> date:
    year = day.year + years
    last = calendar.monthrange(year, day.month)[1]
    return date(year, day.month, min(day.day, last))


def _where(index: int, number: str | None) -> str:
    return f"item {number} (entry {index})" if number else f"entry {index}"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_str(table: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise PlanError(f"{where}: {key}: missing or not a string")
    if not allow_empty and not value.strip():
        raise PlanError(f"{where}: {key}: must not be empty")
    return value


def _parse_item(entry: object, index: int) -> PlanItem:
    if not isinstance(entry, dict):
        raise PlanError(f"{_where(index, None)}: must be a table")
    raw_number = entry.get("number")
    if not isinstance(raw_number, str) or not _NUMBER_RE.match(raw_number):
        raise PlanError(f'{_where(index, None)}: number: must be a string such as "8" or "1.2"')
    number = raw_number
    where = _where(index, number)
    unknown = sorted(set(entry) - _ITEM_KEYS)
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {', '.join(unknown)}")

    text = _require_str(entry, "text", where)
    responsible_text = _require_str(entry, "responsible_text", where)
    proof = _require_str(entry, "proof", where, allow_empty=True)

    roles = entry.get("responsible")
    if not isinstance(roles, list) or not roles:
        raise PlanError(f"{where}: responsible: must be a non-empty list of role codes")
    for role in roles:
        if role not in ROLE_CODES:
            raise PlanError(f"{where}: responsible: unknown role {role!r} (known: {', '.join(ROLE_CODES)})")
    if len(set(roles)) != len(roles):
        raise PlanError(f"{where}: responsible: a role is listed twice")

    deadline = _parse_deadline(entry.get("deadline"), where)
    return PlanItem(
        number=number,
        text=text,
        deadline=deadline,
        responsible=tuple(roles),
        responsible_text=responsible_text,
        proof=proof,
    )


def _parse_deadline(raw: object, where: str) -> Deadline:
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: deadline: missing or not a table")
    unknown = sorted(set(raw) - _DEADLINE_KEYS)
    if unknown:
        raise PlanError(f"{where}: deadline: unknown field(s) {', '.join(unknown)}")
    kind = raw.get("kind")
    if kind not in _KIND_FIELDS:
        raise PlanError(f"{where}: deadline.kind: unknown kind {kind!r} (known: {', '.join(DEADLINE_KINDS)})")
    assert isinstance(kind, str)
    source = raw.get("source")
    if not isinstance(source, str):
        raise PlanError(f"{where}: deadline.source: missing or not a string")

    needed = _KIND_FIELDS[kind]
    for field in ("date", "year", "month"):
        if field in needed and field not in raw:
            raise PlanError(f"{where}: deadline.{field}: required for kind {kind!r}")
        if field not in needed and field in raw:
            raise PlanError(f"{where}: deadline.{field}: not allowed for kind {kind!r}")

    day: date | None = None
    if "date" in raw:
        day = _parse_date(raw["date"], where)
    year: int | None = None
    if "year" in raw:
        year = raw["year"]
        if not _is_int(year) or not 1900 <= year <= 2999:
            raise PlanError(f"{where}: deadline.year: must be a year such as 2011, got {raw['year']!r}")
    month: int | None = None
    if "month" in raw:
        month = raw["month"]
        if not _is_int(month) or not 1 <= month <= 12:
            raise PlanError(f"{where}: deadline.month: must be 1..12, got {raw['month']!r}")
    return Deadline(kind=kind, date=day, year=year, month=month, source=source)


def _parse_date(value: object, where: str) -> date:
    # datetime is a subclass of date: a time of day on a deadline is a data error, not a date.
    if isinstance(value, datetime):
        raise PlanError(f"{where}: deadline.date: must be a date without time, got {value.isoformat()}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PlanError(f"{where}: deadline.date: must be a date such as 2011-05-31, got {value!r}")
