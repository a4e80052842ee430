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
from bot.services.toml_place import entry_line, syntax_place, top_line

__all__ = [
    "DEADLINE_KINDS",
    "PLAN_PATH",
    "ROLE_CODES",
    "Deadline",
    "Plan",
    "PlanError",
    "PlanItem",
    "load_plan",
    "read_plan",
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
    """The plan file is malformed. `code` is a key of the `import_errors.plan` catalog table and
    `params` fill its placeholders (the item's number among them), so the school reads the problem
    in its own language; `entry` (the [[items]] table counted from 1, 0 for the top of the file) and
    `field` say where it is, and :func:`read_plan` turns them into `line` (0: the file as a whole)."""

    def __init__(self, code: str, *, entry: int = 0, field: str = "", line: int = 0, **params: str | int) -> None:
        super().__init__(code, params)
        self.code = code
        self.entry = entry
        self.field = field
        self.line = line
        self.params = params

    @property
    def catalog_code(self) -> str:
        """The RowError code (a key under `import_errors`) that reports this problem."""
        return f"plan.{self.code}"


def load_plan(path: Path | str = PLAN_PATH) -> Plan:
    """Read and validate a plan TOML file. Raises PlanError on any problem, naming where it is."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError("unreadable") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PlanError("encoding", line=line, byte=f"0x{data[exc.start]:02X}") from exc
    return read_plan(text)


def read_plan(text: str) -> Plan:
    """Parse and validate the text of a plan file; a PlanError carries the line of the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's English wording is dropped; its place is kept.
        line, column = syntax_place(exc, text)
        if column:
            raise PlanError("toml", line=line, column=column) from None
        raise PlanError("toml_end", line=line) from None
    try:
        return parse_plan(raw)
    except PlanError as exc:
        lines = text.splitlines()
        if not exc.line:
            exc.line = _line_of(lines, exc.entry, exc.field)
        if "other_entry" in exc.params:
            other = exc.params.pop("other_entry")
            assert isinstance(other, int)
            exc.params["other"] = _line_of(lines, other, "number")
        raise


def _line_of(lines: list[str], entry: int, field: str) -> int:
    """The line a problem is on: the field's own line when it is written, else the item's number
    line (or the line that opens its [[items]] table); 0 for a missing top-level field (the file
    as a whole)."""
    if entry == 0:
        return top_line(lines, field) if field else 0
    return entry_line(lines, "items", entry, field, fallback="number")


def parse_plan(raw: Mapping[str, Any]) -> Plan:
    """Validate an already-decoded plan mapping (the TOML document) and build a Plan."""
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise PlanError("top_unknown", field=unknown[0], fields=", ".join(unknown))
    title = raw.get("title")
    if not isinstance(title, str):
        raise PlanError("title_missing", field="title")
    if not title.strip():
        raise PlanError("title_empty", field="title")
    order = raw.get("order", "")
    if not isinstance(order, str):
        raise PlanError("order", field="order")
    year = raw.get("source_school_year")
    if not _is_int(year) or not 1900 <= year <= 2999:
        raise PlanError("source_school_year", field="source_school_year")
    items_raw = raw.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        raise PlanError("items", field="items")

    items: list[PlanItem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(items_raw, start=1):
        item = _parse_item(entry, index)
        if item.number in seen:
            raise PlanError("duplicate", entry=index, field="number", item=item.number, other_entry=seen[item.number])
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


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A value from the file as the school wrote it (TOML spelling), for quoting back."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _quoted(codes: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"«{code}»" for code in codes)


def _text_field(entry: Mapping[str, Any], key: str, index: int, number: str, *, allow_empty: bool = False) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise PlanError(f"{key}_missing", entry=index, field=key, item=number)
    if not allow_empty and not value.strip():
        raise PlanError(f"{key}_empty", entry=index, field=key, item=number)
    return value


def _parse_item(entry: object, index: int) -> PlanItem:
    if not isinstance(entry, dict):
        raise PlanError("item_not_table", entry=index, n=index)
    raw_number = entry.get("number")
    if not isinstance(raw_number, str) or not _NUMBER_RE.match(raw_number):
        raise PlanError("number", entry=index, field="number", n=index)
    number = raw_number
    unknown = sorted(set(entry) - _ITEM_KEYS)
    if unknown:
        raise PlanError("item_unknown", entry=index, field=unknown[0], item=number, fields=", ".join(unknown))

    text = _text_field(entry, "text", index, number)
    responsible_text = _text_field(entry, "responsible_text", index, number)
    proof = _text_field(entry, "proof", index, number, allow_empty=True)

    roles = entry.get("responsible")
    if not isinstance(roles, list) or not roles:
        raise PlanError("responsible", entry=index, field="responsible", item=number, known=_quoted(ROLE_CODES))
    for role in roles:
        if role not in ROLE_CODES:
            raise PlanError(
                "role_unknown", entry=index, field="responsible", item=number, value=_shown(role),
                known=_quoted(ROLE_CODES),
            )
    if len(set(roles)) != len(roles):
        twice = next(role for role in roles if roles.count(role) > 1)
        raise PlanError("role_twice", entry=index, field="responsible", item=number, value=twice)

    deadline = _parse_deadline(entry.get("deadline"), index, number)
    return PlanItem(
        number=number,
        text=text,
        deadline=deadline,
        responsible=tuple(roles),
        responsible_text=responsible_text,
        proof=proof,
    )


def _parse_deadline(raw: object, index: int, number: str) -> Deadline:
    where: dict[str, Any] = {"entry": index, "item": number}
    if not isinstance(raw, dict):
        raise PlanError("deadline_missing", field="deadline", **where)
    unknown = sorted(set(raw) - _DEADLINE_KEYS)
    if unknown:
        raise PlanError("deadline_unknown", field=f"deadline.{unknown[0]}", fields=", ".join(unknown), **where)
    kind = raw.get("kind")
    if kind not in _KIND_FIELDS:
        raise PlanError(
            "kind", field="deadline.kind", value=_shown(kind) if kind is not None else "",
            known=_quoted(DEADLINE_KINDS), **where,
        )
    assert isinstance(kind, str)
    source = raw.get("source")
    if not isinstance(source, str):
        raise PlanError("source_missing", field="deadline.source", **where)

    needed = _KIND_FIELDS[kind]
    for field in ("date", "year", "month"):
        if field in needed and field not in raw:
            raise PlanError(f"{field}_required", field=f"deadline.{field}", kind=kind, **where)
        if field not in needed and field in raw:
            raise PlanError("not_allowed", field=f"deadline.{field}", kind=kind, name=field, **where)

    day: date | None = None
    if "date" in raw:
        day = _parse_date(raw["date"], where)
    year: int | None = None
    if "year" in raw:
        year = raw["year"]
        if not _is_int(year) or not 1900 <= year <= 2999:
            raise PlanError("year", field="deadline.year", value=_shown(raw["year"]), **where)
    month: int | None = None
    if "month" in raw:
        month = raw["month"]
        if not _is_int(month) or not 1 <= month <= 12:
            raise PlanError("month", field="deadline.month", value=_shown(raw["month"]), **where)
    return Deadline(kind=kind, date=day, year=year, month=month, source=source)


def _parse_date(value: object, where: dict[str, Any]) -> date:
    # datetime is a subclass of date: a time of day on a deadline is a data error, not a date.
    if isinstance(value, datetime):
        raise PlanError("date_time", field="deadline.date", value=value.isoformat(sep=" "), **where)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PlanError("date", field="deadline.date", value=_shown(value), **where)
