"""Importing invitation codes and activations from the platform's exports (CSV/XLSX)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.domain.codes import Code, NewCode
from bot.domain.people import Person
from bot.services.codes import _NO, _YES, BASE_ALIASES, normalize_code, parse_group
from bot.services.imports import Importer, ImportOptions, ImportOutcome, table_error
from bot.services.people_text import clean_name, name_key, normalize_class
from bot.services.repos import InvitationCodes, People
from bot.services.roster import RowError
from bot.services.tabular import Limits, TableError, load_table

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.services.codes import CodesService
    from bot.unit_of_work import UnitOfWork


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    person: Person
    child_classes: frozenset[str]


class _Matcher:
    def __init__(self, people: list[Person], child_classes: dict[int, frozenset[str]]) -> None:
        self.by_name: dict[str, list[_Candidate]] = {}
        for p in people:
            self.by_name.setdefault(name_key(p.full_name), []).append(
                _Candidate(p, child_classes.get(p.id, frozenset()))
            )

    def match(self, name: str, group: str, class_label: str | None) -> list[Person]:
        candidates = [c for c in self.by_name.get(name_key(name), []) if role_group_has(c.person, group)]
        if group == "student":
            if class_label is not None:
                candidates = [c for c in candidates if c.person.class_label == class_label]
        elif group == "parent":
            if class_label is not None:
                candidates = [c for c in candidates if class_label in c.child_classes]
        elif class_label is not None and len(candidates) > 1:
            # Staff rarely carry a class in the roster: use it only to tell namesakes apart.
            candidates = [c for c in candidates if c.person.class_label == class_label]
        return [c.person for c in candidates]


def role_group_has(person: Person, group: str) -> bool:
    if group == "staff":
        return person.is_staff
    return group in person.roles


@dataclass(frozen=True)
class _Row:
    line: int
    person: Person
    group: str
    class_label: str | None
    code: str | None
    status: bool | None = None


_NOBODY = Person(id=0, roster_key="", full_name="", class_label=None, phone=None, lang=None, active=False,
                 roles=frozenset())




@dataclass(kw_only=True, eq=False)
class CodesImport:
    """The codes and activations files the IT officer imports (all-or-nothing)."""

    clock: Clock
    code_repo: InvitationCodes
    codes: CodesService
    db: UnitOfWork
    people: People
    school: SchoolConfig
    codes_importer: Importer = field(init=False)
    activations_importer: Importer = field(init=False)

    def __post_init__(self) -> None:
        self.codes_importer = Importer(kind="codes", label_key="codes.import_codes", run=self.import_codes)
        self.activations_importer = Importer(
        kind="activations", label_key="codes.import_activations", run=self.import_activations
        )


    async def _matcher(self) -> _Matcher:
        return _Matcher(await self.people.active(), await self.people.children_classes())

    def _aliases(self) -> dict[str, list[str]]:
        merged = {k: list(v) for k, v in BASE_ALIASES.items()}
        for fieldname, extra in self.school.codes.column_aliases.items():
            merged.setdefault(fieldname, []).extend(extra)
        return merged

    async def _parse(
        self, data: bytes, filename: str, *, activations: bool, limits: Limits
    ) -> tuple[list[_Row], list[RowError]]:
        aliases = self._aliases()
        required = ("status",) if activations else ("full_name", "role", "code")
        try:
            rows = await load_table(data, filename, aliases, required, limits)
        except TableError as exc:
            return [], [table_error(exc)]
        matcher = await self._matcher()
        errors: list[RowError] = []
        parsed: list[_Row] = []
        for row in rows:
            v = row.values
            if row.overflow:
                errors.append(RowError(row.line, "overflow"))
                continue
            status: bool | None = None
            if activations:
                raw_status = " ".join(v.get("status", "").replace("ё", "е").lower().split())
                if raw_status in _YES:
                    status = True
                elif raw_status in _NO:
                    status = False
                else:
                    errors.append(RowError(row.line, "codes_status", {"value": v.get("status", "")}))
                    continue
            raw_code = v.get("code", "")
            code = normalize_code(raw_code) if raw_code else None
            if raw_code and code is None:
                # The value itself is a secret: the report names the line, not the code.
                errors.append(RowError(row.line, "codes_code"))
                continue
            if activations and code is not None:
                parsed.append(_Row(row.line, _NOBODY, "", None, code, status))
                continue
            if not activations and code is None:
                errors.append(RowError(row.line, "codes_code"))
                continue
            name = clean_name(v.get("full_name", ""))
            if len(name.split()) < 2:
                errors.append(RowError(row.line, "name"))
                continue
            group = parse_group(v.get("role", ""))
            if group is None:
                errors.append(RowError(row.line, "codes_role", {"value": v.get("role", "")}))
                continue
            class_label: str | None = None
            if v.get("class_label"):
                class_label = normalize_class(v["class_label"])
                if class_label is None:
                    errors.append(RowError(row.line, "class", {"value": v["class_label"]}))
                    continue
            found = matcher.match(name, group, class_label)
            if not found:
                errors.append(RowError(row.line, "codes_unmatched", {"name": name, "cls": class_label or "—"}))
                continue
            if len(found) > 1:
                errors.append(RowError(row.line, "codes_ambiguous", {"name": name, "n": len(found)}))
                continue
            person = found[0]
            if class_label is None and group != "parent":
                class_label = person.class_label
            parsed.append(_Row(row.line, person, group, class_label, code, status))
        return parsed, errors

    async def import_codes(self, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
        rows, errors = await self._parse(data, filename, activations=False, limits=options.limits)
        seen_person: dict[tuple[int, str], int] = {}
        seen_code: dict[str, int] = {}
        for row in rows:
            assert row.code is not None
            key = (row.person.id, row.group)
            if key in seen_person:
                errors.append(RowError(row.line, "codes_duplicate_person",
                                       {"name": row.person.full_name, "other": str(seen_person[key])}))
            seen_person.setdefault(key, row.line)
            if row.code in seen_code:
                errors.append(RowError(row.line, "codes_duplicate_code", {"other": str(seen_code[row.code])}))
            seen_code.setdefault(row.code, row.line)
        if errors:
            errors.sort(key=lambda e: e.line)
            return ImportOutcome(errors=errors)
        now = self.clock.now()
        added = replaced = unchanged = 0
        async with self.db.transaction() as conn:
            current = {(c.person_id, c.role): c for c in await self.code_repo.active_in(conn)}
            owners = await self.code_repo.code_owners(conn, seen_code)
            incoming = {row.person.id for row in rows}
            for row in rows:
                assert row.code is not None
                owner = owners.get(row.code)
                # A code another person holds now, and who is not getting a new one in this file.
                if owner is not None and owner != row.person.id and owner not in incoming:
                    errors.append(RowError(row.line, "codes_taken"))
            if errors:
                return ImportOutcome(errors=errors)
            for row in rows:
                assert row.code is not None
                old = current.get((row.person.id, row.group))
                if old is not None and old.code == row.code:
                    unchanged += 1
                    if old.class_label != row.class_label and not options.dry_run:
                        await self.code_repo.update_class(conn, old.id, row.class_label)
                    continue
                if old is None:
                    added += 1
                else:
                    replaced += 1
                if not options.dry_run:
                    await self.code_repo.insert(
                        conn, NewCode(row.person.id, row.group, row.class_label, row.code), source="import", now=now
                    )
            if not options.dry_run:
                await self.codes.deliver(conn, reason="import", now=now, not_before=self.codes.allowed_time(now))
        return ImportOutcome(
            counts={"added": added, "updated": replaced, "unchanged": unchanged}, applied=not options.dry_run
        )

    async def import_activations(self, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
        rows, errors = await self._parse(data, filename, activations=True, limits=options.limits)
        if errors:
            return ImportOutcome(errors=errors)
        now = self.clock.now()
        newly = unchanged = 0
        async with self.db.transaction() as conn:
            active = await self.code_repo.active_in(conn)
            by_code = {c.code: c for c in active}
            by_person = {(c.person_id, c.role): c for c in active}
            targets: list[tuple[int, Code, bool]] = []
            for row in rows:
                code = by_code.get(row.code) if row.code else by_person.get((row.person.id, row.group))
                if code is None:
                    errors.append(RowError(row.line, "codes_no_code"))
                    continue
                targets.append((row.line, code, bool(row.status)))
            if errors:
                return ImportOutcome(errors=errors)
            for _, code, status in targets:
                if status and code.activated_at is None:
                    newly += 1
                    if not options.dry_run:
                        await self.code_repo.mark_activated(conn, code.id, "import", now)
                else:
                    unchanged += 1
        return ImportOutcome(counts={"updated": newly, "unchanged": unchanged}, applied=not options.dry_run)
