"""Roster import: all-or-nothing, with every bad row named by its line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.services.people_text import (
    clean_name,
    name_key,
    normalize_class,
    normalize_phone,
    parse_role,
    split_list,
)
from bot.services.tabular import TableError, read_table
from storage.db import Database
from storage.people import PersonRepo, RosterRecord

ALIASES: dict[str, list[str]] = {
    "full_name": ["ФИО", "Ф.И.О.", "Фамилия Имя Отчество", "Name", "Full name"],
    "roles": ["Роль", "Роли", "Role", "Roles"],
    "class_label": ["Класс", "Class"],
    "phone": ["Телефон", "Тел.", "Мобильный", "Phone"],
    "children": ["Дети", "Ребёнок", "Ребенок", "Ученики", "Обучающиеся", "Children", "Child"],
}
REQUIRED = ("full_name", "roles")
_CHILD_CLASS = re.compile(r"^(.*?)\s*\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class RowError:
    """A bad row: `code` is a key of the `import_errors` catalog, `params` fill its placeholders."""

    line: int
    code: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class RosterReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    deactivated: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _record_key(roles: frozenset[str], key: str, class_label: str | None) -> str:
    if "student" in roles:
        return f"student:{key}:{class_label}"
    return f"adult:{key}"


def parse_roster(data: bytes, filename: str) -> tuple[list[RosterRecord], list[RowError]]:
    try:
        rows = read_table(data, filename, ALIASES, REQUIRED)
    except TableError as exc:
        return [], [RowError(1, "table", {"detail": str(exc)})]
    errors: list[RowError] = []
    parsed: list[tuple[int, RosterRecord, list[str]]] = []
    seen: dict[str, int] = {}
    for row in rows:
        v = row.values
        name = clean_name(v.get("full_name", ""))
        problems: list[tuple[str, dict[str, str]]] = []
        if row.overflow:
            problems.append(("overflow", {}))
        if len(name.split()) < 2:
            problems.append(("name", {}))
        roles: set[str] = set()
        for raw_role in split_list(v.get("roles", "")):
            role = parse_role(raw_role)
            if role is None:
                problems.append(("role", {"value": raw_role}))
            else:
                roles.add(role)
        if not roles and not any(code == "role" for code, _ in problems):
            problems.append(("no_role", {}))
        class_label: str | None = None
        raw_class = v.get("class_label", "")
        if raw_class:
            class_label = normalize_class(raw_class)
            if class_label is None:
                problems.append(("class", {"value": raw_class}))
        elif roles & {"student", "class_teacher"}:
            problems.append(("class_required", {}))
        phone: str | None = None
        raw_phone = v.get("phone", "")
        if raw_phone:
            phone = normalize_phone(raw_phone)
            if phone is None:
                problems.append(("phone", {"value": raw_phone}))
        children = split_list(v.get("children", "")) if v.get("children") else []
        if children and "parent" not in roles:
            problems.append(("children_not_parent", {}))
        if "parent" in roles and not children:
            problems.append(("parent_no_children", {}))
        if problems:
            errors.extend(RowError(row.line, code, params) for code, params in problems)
            continue
        frozen_roles = frozenset(roles)
        key = _record_key(frozen_roles, name_key(name), class_label)
        if key in seen:
            errors.append(RowError(row.line, "duplicate", {"name": name, "other": str(seen[key])}))
            continue
        seen[key] = row.line
        record = RosterRecord(
            roster_key=key,
            full_name=name,
            class_label=class_label,
            phone=phone,
            roles=frozen_roles,
            children=frozenset(),
        )
        parsed.append((row.line, record, children))

    # Resolve children to pupils listed in the same file.
    pupils: dict[str, list[RosterRecord]] = {}
    for _, rec, _ in parsed:
        if "student" in rec.roles:
            pupils.setdefault(name_key(rec.full_name), []).append(rec)
    records: list[RosterRecord] = []
    for line, rec, children in parsed:
        keys: set[str] = set()
        for child in children:
            match = _CHILD_CLASS.match(child)
            child_name, child_class = (match.group(1), normalize_class(match.group(2))) if match else (child, None)
            candidates = pupils.get(name_key(child_name), [])
            if child_class is not None:
                candidates = [c for c in candidates if c.class_label == child_class]
            if len(candidates) == 1:
                keys.add(candidates[0].roster_key)
            elif not candidates:
                errors.append(RowError(line, "unknown_child", {"value": child}))
            else:
                errors.append(RowError(line, "ambiguous_child", {"value": child}))
        records.append(
            RosterRecord(
                roster_key=rec.roster_key,
                full_name=rec.full_name,
                class_label=rec.class_label,
                phone=rec.phone,
                roles=rec.roles,
                children=frozenset(keys),
            )
        )
    errors.sort(key=lambda e: e.line)
    return records, errors


async def import_roster(
    db: Database, data: bytes, filename: str, *, now: datetime, dry_run: bool = False
) -> RosterReport:
    records, errors = parse_roster(data, filename)
    report = RosterReport(errors=errors)
    if errors:
        return report
    async with db.transaction() as conn:
        current = await PersonRepo.snapshot(conn)
        incoming = {r.roster_key for r in records}
        for rec in records:
            old = current.get(rec.roster_key)
            if old is None:
                report.added.append(rec.full_name)
            elif old != rec:
                report.updated.append(rec.full_name)
            else:
                report.unchanged += 1
        report.deactivated = sorted(
            r.full_name for key, r in current.items() if key not in incoming and not key.startswith("admin:")
        )
        if not dry_run and (report.added or report.updated or report.deactivated):
            await PersonRepo.apply_roster(conn, records, deactivate_missing=True, now=now)
        report.applied = not dry_run
    return report
