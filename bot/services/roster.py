"""Roster import: all-or-nothing, with every bad row named by its line."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.access import STAFF_ROLES
from bot.domain.people import RosterRecord
from bot.domain.year import RosterPerson
from bot.services.people_text import (
    clean_name,
    name_key,
    normalize_class,
    normalize_phone,
    parse_role,
    split_list,
)
from bot.services.repos import People, YearRecords
from bot.services.tabular import Limits, TableError, read_table
from bot.unit_of_work import UnitOfWork

ALIASES: dict[str, list[str]] = {
    "full_name": ["ФИО", "Ф.И.О.", "Фамилия Имя Отчество", "Name", "Full name"],
    "roles": ["Роль", "Роли", "Role", "Roles"],
    "class_label": ["Класс", "Class"],
    "phone": ["Телефон", "Тел.", "Мобильный", "Phone"],
    "children": ["Дети", "Ребёнок", "Ребенок", "Ученики", "Обучающиеся", "Children", "Child"],
    # Optional: where a pupil was before, to tell apart two pupils with the same name (or "новый").
    "previous_class": ["Прежний класс", "Был в классе", "Бывший класс", "Previous class"],
}
NEW_PUPIL_WORDS = frozenset({"новый", "новая", "новенький", "new"})
# More than this share of the active people leaving at once asks for an explicit confirmation.
MASS_DEACTIVATION_SHARE = 0.2
REQUIRED = ("full_name", "roles")
_CHILD_CLASS = re.compile(r"^(.*?)\s*\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class RowError:
    """A bad row: `code` is a key of the `import_errors` catalog, `params` fill its placeholders."""

    line: int
    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Move:
    """A pupil found in another class: the same person (id), so everything of theirs stays."""

    name: str
    from_class: str | None
    to_class: str | None


@dataclass(frozen=True)
class Ambiguity:
    """An incoming pupil several existing pupils could be; asked, never guessed."""

    line: int
    roster_key: str  # the incoming record's key
    name: str
    class_label: str | None
    candidates: tuple[tuple[str, str], ...]  # (roster key, class) of each existing pupil it could be


@dataclass(frozen=True)
class RowExtra:
    line: int
    previous_class: str | None  # a class, "new" for a new pupil, or None when not given


@dataclass
class RosterReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    unchanged: int = 0
    deactivated: list[str] = field(default_factory=list)
    # Staff among `deactivated`, and IT officers the import keeps although the file omits them.
    deactivated_staff: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # The deactivations need an explicit confirmation (--confirm-deactivations, or the bot's button).
    needs_confirmation: bool = False
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _record_key(roles: frozenset[str], key: str, class_label: str | None) -> str:
    if "student" in roles:
        return f"student:{key}:{class_label}"
    return f"adult:{key}"


def parse_roster(
    data: bytes, filename: str, limits: Limits | None = None
) -> tuple[list[RosterRecord], list[RowError]]:
    records, _, errors = parse_roster_rows(data, filename, limits)
    return records, errors


def parse_roster_rows(
    data: bytes, filename: str, limits: Limits | None = None
) -> tuple[list[RosterRecord], dict[str, RowExtra], list[RowError]]:
    """Records, each record's line and previous class (by roster key), and every error of every row.
    Pure CPU work on the file: `import_roster` runs it in a worker thread."""
    try:
        rows = read_table(data, filename, ALIASES, REQUIRED, limits)
    except TableError as exc:
        return [], {}, [RowError(exc.line, exc.catalog_code, exc.params)]
    errors: list[RowError] = []
    extras: dict[str, RowExtra] = {}
    parsed: list[tuple[int, RosterRecord, list[str], bool]] = []
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
        previous: str | None = None
        raw_previous = v.get("previous_class", "").strip()
        if raw_previous:
            if raw_previous.lower() in NEW_PUPIL_WORDS:
                previous = "new"
            else:
                previous = normalize_class(raw_previous)
                if previous is None:
                    problems.append(("previous_class", {"value": raw_previous}))
        frozen_roles = frozenset(roles)
        key = _record_key(frozen_roles, name_key(name), class_label)
        if not problems and key in seen:
            problems.append(("duplicate", {"name": name, "other": str(seen[key])}))
        errors.extend(RowError(row.line, code, params) for code, params in problems)
        if not problems:
            seen[key] = row.line
            extras[key] = RowExtra(row.line, previous)
        record = RosterRecord(
            roster_key=key,
            full_name=name,
            class_label=class_label,
            phone=phone,
            roles=frozen_roles,
            children=frozenset(),
        )
        parsed.append((row.line, record, children, bool(problems)))

    # Resolve children to pupils listed in the same file (also for bad rows: every error is named).
    pupils: dict[str, list[RosterRecord]] = {}
    for _, rec, _, bad in parsed:
        if "student" in rec.roles and not bad:
            pupils.setdefault(name_key(rec.full_name), []).append(rec)
    records: list[RosterRecord] = []
    for line, rec, children, bad in parsed:
        keys: set[str] = set()
        for child in children:
            match = _CHILD_CLASS.match(child)
            child_name, child_class = (match.group(1), normalize_class(match.group(2))) if match else (child, None)
            named = pupils.get(name_key(child_name), [])
            candidates = named
            if child_class is not None:
                candidates = [c for c in named if c.class_label == child_class]
                if not candidates:
                    # "Дети" may still name the class the pupil moved from: follow the move.
                    candidates = [c for c in named if extras[c.roster_key].previous_class == child_class]
                if not candidates and len(named) == 1:
                    candidates = named
            if len(candidates) == 1:
                keys.add(candidates[0].roster_key)
            elif not candidates:
                errors.append(RowError(line, "unknown_child", {"value": child}))
            else:
                errors.append(RowError(line, "ambiguous_child", {"value": child}))
        if bad:
            continue
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
    return records, extras, errors


def _class_of(key: str) -> str | None:
    parts = key.split(":")
    return parts[2] if len(parts) >= 3 and parts[0] == "student" and parts[2] != "None" else None


def _plan(
    report: RosterReport,
    records: list[RosterRecord],
    extras: Mapping[str, RowExtra],
    current: Mapping[str, RosterRecord],
    people: Mapping[str, RosterPerson],
    resolutions: Mapping[str, str],
    actor_id: int | None,
) -> tuple[dict[str, str], list[RosterPerson]]:
    """The whole comparison of the file with the roster, filling `report`; returns the moves
    (existing key -> incoming key) and who would be deactivated. Pure Python over every row, so it
    runs in a worker thread: on a 20,000-row file it is the one long step of an import."""
    incoming = {r.roster_key for r in records}
    # Existing pupils the file does not list under their key: the ones a moved pupil can be.
    free: dict[str, list[str]] = {}
    for key, rec in current.items():
        if key not in incoming and "student" in rec.roles:
            free.setdefault(name_key(rec.full_name), []).append(key)
    renames: dict[str, str] = {}  # existing key -> incoming key (a move)
    for rec in records:
        if rec.roster_key in current or "student" not in rec.roles:
            continue
        candidates = [k for k in free.get(name_key(rec.full_name), []) if k not in renames]
        extra = extras[rec.roster_key]
        chosen = resolutions.get(rec.roster_key)
        if chosen is None and extra.previous_class is not None:
            chosen = "new" if extra.previous_class == "new" else next(
                (k for k in candidates if _class_of(k) == extra.previous_class), None
            )
            if chosen is None:
                report.errors.append(
                    RowError(extra.line, "previous_class_unknown", {"value": extra.previous_class})
                )
                continue
        if chosen is None and len(candidates) > 1:
            report.ambiguous.append(
                Ambiguity(
                    line=extra.line,
                    roster_key=rec.roster_key,
                    name=rec.full_name,
                    class_label=rec.class_label,
                    candidates=tuple((k, _class_of(k) or "—") for k in sorted(candidates)),
                )
            )
            classes = ", ".join(_class_of(k) or "—" for k in sorted(candidates))
            params = {"name": rec.full_name, "classes": classes}
            report.errors.append(RowError(extra.line, "ambiguous_pupil", params))
            continue
        if chosen is None and len(candidates) == 1:
            chosen = candidates[0]
        if chosen is not None and chosen != "new":
            if chosen not in candidates:
                stale = {"value": _class_of(chosen) or "—"}
                report.errors.append(RowError(extra.line, "previous_class_unknown", stale))
                continue
            renames[chosen] = rec.roster_key
    if report.errors:
        report.errors.sort(key=lambda e: e.line)
        return renames, []

    moved_to = {new: old for old, new in renames.items()}
    for rec in records:
        old_key = moved_to.get(rec.roster_key, rec.roster_key)
        old = current.get(old_key)
        if old is None:
            report.added.append(rec.full_name)
        elif old_key != rec.roster_key:
            report.moved.append(Move(rec.full_name, old.class_label, rec.class_label))
            if old.phone != rec.phone or old.roles != rec.roles or old.children != rec.children:
                report.updated.append(rec.full_name)
        elif replace(old, children=frozenset(renames.get(k, k) for k in old.children)) != rec:
            # (A parent's children are compared by who they are: a moved child is the same child.)
            report.updated.append(rec.full_name)
        else:
            report.unchanged += 1

    leaving = [p for key, p in people.items() if key not in incoming and key not in renames
               and not key.startswith("admin:")]
    # Never lock the school out of its bot: the importing IT officer and the last one stay.
    officers_staying = any("it_officer" in r.roles for r in records) or any(
        "it_officer" in p.roles for key, p in people.items() if key.startswith("admin:")
    )
    kept = [p for p in leaving if "it_officer" in p.roles and (p.id == actor_id or not officers_staying)]
    leaving = [p for p in leaving if p not in kept]
    report.kept = sorted(p.full_name for p in kept)
    report.deactivated = sorted(p.full_name for p in leaving)
    report.deactivated_staff = sorted(p.full_name for p in leaving if p.roles & STAFF_ROLES)
    mass = len(leaving) > MASS_DEACTIVATION_SHARE * len(people)
    report.needs_confirmation = bool(leaving) and (mass or bool(report.deactivated_staff))
    return renames, leaving


async def import_roster(
    db: UnitOfWork,
    people_repo: People,
    year_repo: YearRecords,
    data: bytes,
    filename: str,
    *,
    now: datetime,
    dry_run: bool = False,
    actor_id: int | None = None,
    confirm_deactivations: bool = False,
    resolutions: Mapping[str, str] | None = None,
    limits: Limits | None = None,
) -> RosterReport:
    """All-or-nothing roster import.

    A pupil's identity does not depend on their class: a pupil not found under their key (name and
    class) is matched by name among the existing pupils the file no longer lists, and moved (same
    person id: Telegram link, family, consents, codes and ledger rows stay theirs). Two or more such
    pupils with that name are an ambiguity: reported, never guessed; the "Прежний класс" column or
    `resolutions` (incoming key -> existing key, or "new") settle it.

    Guards: the importing IT officer and the last IT officer are never deactivated; deactivating any
    staff member or more than a fifth of the active people needs `confirm_deactivations`.

    Every read and write is on the import's own transaction, through the ports it is handed
    (bot.services.imports.RosterImport holds them).
    """
    records, extras, errors = await asyncio.to_thread(parse_roster_rows, data, filename, limits)
    report = RosterReport(errors=errors)
    if errors:
        return report
    resolutions = resolutions or {}
    async with db.transaction() as conn:
        current = await people_repo.snapshot(conn)
        people = await year_repo.active_people(conn)
        renames, leaving = await asyncio.to_thread(
            _plan, report, records, extras, current, people, resolutions, actor_id
        )
        if report.errors or dry_run or (report.needs_confirmation and not confirm_deactivations):
            return report
        # Moves first, in two passes, so that a key one pupil frees can be taken by another.
        for old_key in renames:
            await year_repo.rekey_person(conn, people[old_key].id, f"moving:{people[old_key].id}")
        for old_key, new_key in renames.items():
            await year_repo.rekey_holder(conn, new_key)
            await year_repo.rekey_person(conn, people[old_key].id, new_key)
            await year_repo.log_import_move(
                conn, people[old_key].id, current[old_key].class_label, _class_of(new_key), now
            )
        if report.added or report.updated or report.moved or leaving or renames:
            await people_repo.apply_roster(conn, records, deactivate_missing=False, now=now)
            for person in leaving:
                await year_repo.deactivate(conn, person.id, now)
        report.applied = True
    return report
