"""A new school year: promote every class, retire the leaving grade, move the calendar and the plan's
recurring items, carry consents by the consent document's term.

`SchoolYearService.new_year(2027, dry_run=True)` computes the whole change and lists it by name; with
`dry_run=False` it applies the same list in one write transaction and records it in
`school_years`, so a second run for the same year does nothing. The calendar override lives in the
database, never in school.toml (see `bot.config.apply_year_override`).
"""

from __future__ import annotations

import argparse
import asyncio
import calendar as _calendar
import re
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import QuarterSpec, SchoolYear, apply_year_override
from bot.domain.calendar import Quarter, occurrences
from bot.domain.year import PersonClass
from bot.i18n import Translator
from bot.russian import Named
from bot.services.people_text import name_key, normalize_class
from bot.services.repos import ConsentLedger, PlanRecords, YearRecords
from bot.unit_of_work import Connection

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.services.tasks_import import TasksImport
    from bot.unit_of_work import UnitOfWork

LEAVING_GRADE = 11
# A mapping-file value that retires a class instead of renaming it.
RETIRE_WORDS = frozenset({"выпуск", "выпускники", "retire", "graduate", "-"})
_GRADE = re.compile(r"^(\d+)(.*)$")
SCHOOL_WIDE = frozenset(
    {"class_retired", "class_mapped", "quarter", "holidays", "plan_item", "consent_carry", "consent_renew"}
)


class YearError(Exception):
    """Bad input for new-year; `code` is a key of the `year.error` catalog table."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Mapping:
    """From a mapping file: classes renamed or merged (old -> new, None = retire), and optionally
    the new year's calendar."""

    classes: dict[str, str | None] = field(default_factory=dict)
    quarters: list[tuple[date, date]] | None = None
    holidays: list[date] | None = None


@dataclass(frozen=True)
class Change:
    """One line of the report: `code` is a key of the `year.change` catalog table."""

    code: str
    params: dict[str, str | int]


@dataclass
class NewYearReport:
    year: int
    from_year: int
    changes: list[Change] = field(default_factory=list)
    already: bool = False
    applied: bool = False

    def count(self, code: str) -> int:
        return sum(1 for c in self.changes if c.code == code)


def parse_mapping(text: str, year: int) -> Mapping:
    """The mapping file (TOML):

        [classes]
        "5В" = "6Б"      # 5В merges into 6Б
        "9А" = "выпуск"  # 9А leaves the school
        [school_year]    # optional: the new year's quarters and holidays
        quarters = [{ start = 2027-09-01, end = 2027-10-25 }, ...]
        holidays = [2027-11-04, ...]
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise YearError("mapping_toml", detail=str(exc)) from None
    unknown = set(data) - {"classes", "school_year"}
    if unknown:
        raise YearError("mapping_section", value=", ".join(sorted(unknown)))
    classes: dict[str, str | None] = {}
    raw_classes = data.get("classes", {})
    if not isinstance(raw_classes, dict):
        raise YearError("mapping_section", value="classes")
    for raw_old, raw_new in raw_classes.items():
        old = normalize_class(str(raw_old))
        if old is None:
            raise YearError("mapping_class", value=str(raw_old))
        if not isinstance(raw_new, str):
            raise YearError("mapping_class", value=f"{raw_old} = {raw_new!r}")
        if raw_new.strip().lower() in RETIRE_WORDS:
            classes[old] = None
            continue
        new = normalize_class(raw_new)
        if new is None:
            raise YearError("mapping_class", value=raw_new)
        classes[old] = new
    quarters: list[tuple[date, date]] | None = None
    holidays: list[date] | None = None
    raw_year = data.get("school_year")
    if raw_year is not None:
        if not isinstance(raw_year, dict) or set(raw_year) - {"quarters", "holidays"}:
            raise YearError("mapping_section", value="school_year")
        try:
            if "quarters" in raw_year:
                spec = SchoolYear(year=year, quarters=[QuarterSpec.model_validate(q) for q in raw_year["quarters"]])
                quarters = [(q.start, q.end) for q in spec.quarters]
            if "holidays" in raw_year:
                holidays = [date.fromisoformat(str(d)) for d in raw_year["holidays"]]
        except (ValueError, TypeError) as exc:
            raise YearError("mapping_calendar", detail=str(exc).splitlines()[0]) from None
        if quarters is not None and quarters[0][0].year != year:
            raise YearError("mapping_calendar", detail=f"the first quarter must start in {year}")
    return Mapping(classes=classes, quarters=quarters, holidays=holidays)


def _shift(day: date, years: int) -> date:
    target = day.year + years
    last = _calendar.monthrange(target, day.month)[1]
    return date(target, day.month, min(day.day, last))


def promote_class(label: str, mapping: Mapping, leaving_grade: int = LEAVING_GRADE) -> str | None:
    """The class a class moves to in the new year; None when it leaves the school."""
    if label in mapping.classes:
        return mapping.classes[label]
    match = _GRADE.match(label)
    if match is None:
        return None
    grade = int(match.group(1))
    if grade >= leaving_grade:
        return None
    return f"{grade + 1}{match.group(2)}"


def _ru_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def student_key(full_name: str, class_label: str | None) -> str:
    return f"student:{name_key(full_name)}:{class_label}"


def _class_order(label: str) -> tuple[int, str]:
    match = _GRADE.match(label)
    return (int(match.group(1)) if match else 0, label)


async def _parents_leaving(
    year_repo: YearRecords, conn: Connection, graduate_ids: set[int]
) -> list[tuple[int, str]]:
    """Parents (not staff) whose every active child graduates: they leave with them."""
    if not graduate_ids:
        return []
    return await year_repo.parents_only_of(conn, graduate_ids)


def render_report(report: NewYearReport, t: Translator, *, limit: int | None = None, html: bool = False) -> str:
    """The report, one change a line; `html` escapes the names for a Telegram HTML message."""
    if report.already:
        return t("year.already", year=report.year, label=f"{report.year}/{report.year + 1}")
    title = "year.applied_title" if report.applied else "year.preview_title"
    lines = [t(title, label=f"{report.year}/{report.year + 1}")]
    summary = {code: report.count(code) for code in ("promoted", "graduated", "teacher_follows", "parent_leaves")}
    lines.append(t("year.summary", **{k: str(v) for k, v in summary.items()}))
    # School-wide changes first (classes, calendar, plan, consents), then every person by name: a
    # bot message cut at `limit` still shows all of the former.
    ordered = sorted(report.changes, key=lambda c: c.code not in SCHOOL_WIDE)
    shown = ordered if limit is None else ordered[:limit]
    for c in shown:
        # A person's name renders through Named, so the words around it agree with them.
        params = {
            k: Named(v, escape=html) if k == "name" and isinstance(v, str) else escape(v) if html and isinstance(v, str)
            else v for k, v in c.params.items()
        }
        lines.append(f"• {t(f'year.change.{c.code}', **params)}")
    if limit is not None and len(report.changes) > limit:
        lines.append(t("year.more", n=len(report.changes) - limit))
    if not report.applied:
        lines.append(t("year.nothing_written"))
    return "\n".join(lines)


@dataclass(kw_only=True, eq=False)
class SchoolYearService:
    """Moving to a new school year: promotions, plan dates, carried-over consents."""

    clock: Clock
    consent_ledger: ConsentLedger
    db: UnitOfWork
    plan_repo: PlanRecords
    school: SchoolConfig
    tasks_import: TasksImport
    year_repo: YearRecords


    async def new_year(
        self, year: int, *, mapping: Mapping | None = None, dry_run: bool = True, by: int | None = None
    ) -> NewYearReport:
        """Compute (and unless `dry_run`, apply) the move to school year `year`.

        Raises YearError when `year` is not the one after the running school year."""
        mapping = mapping or Mapping()
        await self.tasks_import.ensure_plan()  # outside the transaction: it may load the shipped plan
        current = self.school.school_year
        report = NewYearReport(year=year, from_year=current.year)
        async with self.db.transaction() as conn:
            if year <= current.year or await self.year_repo.year_record(conn, year) is not None:
                report.already = True
                return report
            if year != current.year + 1:
                raise YearError("year_gap", year=str(year), current=str(current.year), next=str(current.year + 1))

            # Classes and people.
            people = await self.year_repo.active_people_with_class(conn)
            pupils = [p for p in people if "student" in p.roles]
            known_classes = {p.class_label for p in pupils if p.class_label}
            for old in mapping.classes:
                if old not in known_classes and not any(p.class_label == old for p in people):
                    raise YearError("mapping_unknown_class", value=old)
            moves: list[tuple[PersonClass, str | None]] = []
            for cls in sorted(known_classes, key=_class_order):
                target = promote_class(cls, mapping)
                if target is None:
                    report.changes.append(Change("class_retired", {"cls": cls}))
                elif cls in mapping.classes:
                    report.changes.append(Change("class_mapped", {"cls": cls, "to": target}))
            for person in pupils:
                assert person.class_label is not None
                target = promote_class(person.class_label, mapping)
                moves.append((person, target))
                if target is None:
                    report.changes.append(Change("graduated", {"name": person.full_name, "cls": person.class_label}))
                else:
                    report.changes.append(
                        Change("promoted", {"name": person.full_name, "cls": person.class_label, "to": target})
                    )
            teachers = [p for p in people if "student" not in p.roles and "class_teacher" in p.roles]
            for person in teachers:
                assert person.class_label is not None
                target = promote_class(person.class_label, mapping)
                moves.append((person, target))
                code = "teacher_follows" if target is not None else "teacher_released"
                report.changes.append(
                    Change(code, {"name": person.full_name, "cls": person.class_label, "to": target or ""})
                )
            graduate_ids = {p.id for p, target in moves if target is None and "student" in p.roles}
            parents_leaving = await _parents_leaving(self.year_repo, conn, graduate_ids)
            for _, parent_name in parents_leaving:
                report.changes.append(Change("parent_leaves", {"name": parent_name}))

            # Calendar.
            quarters = mapping.quarters or [(_shift(q.start, 1), _shift(q.end, 1)) for q in current.quarters]
            holidays = mapping.holidays
            if holidays is None:
                holidays = [_shift(d, 1) for d in self.school.hours.holidays]
            for number, (start, end) in enumerate(quarters, start=1):
                report.changes.append(
                    Change("quarter", {"number": str(number), "start": _ru_date(start), "end": _ru_date(end)})
                )
            report.changes.append(Change("holidays", {"n": str(len(holidays))}))

            # The plan's recurring items.
            old_qs = [Quarter(i, q.start, q.end) for i, q in enumerate(current.quarters, start=1)]
            new_qs = [Quarter(i, a, b) for i, (a, b) in enumerate(quarters, start=1)]
            plan = self.plan_repo.on(conn)  # the plan as this transaction sees it
            plan_year = await plan.plan_year()
            for item in await plan.items():
                if item.deadline.kind not in ("each_quarter", "yearly_month"):
                    continue
                before = occurrences(item.deadline, school_year=plan_year or current.year, quarters=old_qs)
                after = occurrences(item.deadline, school_year=year, quarters=new_qs)
                for old_occ, new_occ in zip(before, after, strict=False):
                    if old_occ.due is None or new_occ.due is None:
                        continue
                    dues = {"old": _ru_date(old_occ.due), "new": _ru_date(new_occ.due)}
                    report.changes.append(Change("plan_item", {"item": item.number, **dues}))

            # Consents, by the document's term.
            version = await self.consent_ledger.current_version(conn)
            graduates = sorted(p.full_name for p, target in moves if target is None and "student" in p.roles)
            if version is not None:
                if self.school.consent.term == "school_year":
                    report.changes.append(Change("consent_renew", {"version": str(version.number + 1)}))
                else:
                    staying = len([p for p, target in moves if target is not None and "student" in p.roles])
                    report.changes.append(Change("consent_carry", {"n": staying}))
                    for name in graduates:
                        report.changes.append(Change("consent_ends", {"name": name}))

            if dry_run:
                return report

            now = self.clock.now()
            # Two passes over the keys: a promoted 5А pupil takes the key a promoted 6А pupil frees.
            for person, target in moves:
                if "student" in person.roles and target is not None:
                    await self.year_repo.rekey_person(conn, person.id, f"moving:{person.id}")
            # Highest grade first: the codes of a family whose two children are in 5А and 6А move once each.
            for person, target in sorted(moves, key=lambda m: _class_order(m[0].class_label or ""), reverse=True):
                new_key: str | None = None
                if "student" in person.roles and target is not None:
                    new_key = student_key(person.full_name, target)
                    if await self.year_repo.key_taken(conn, new_key, person.id):
                        # Only an inactive (left) person can hold it: they keep a key of their own.
                        await self.year_repo.rekey_holder(conn, new_key)
                is_graduate = target is None and "student" in person.roles
                await self.year_repo.move_person(
                    conn,
                    person_id=person.id,
                    from_class=person.class_label,
                    to_class=person.class_label if is_graduate else target,
                    reason="graduation" if is_graduate else "promotion",
                    school_year=year,
                    now=now,
                    new_key=new_key,
                    deactivate=is_graduate,
                )
            for parent_id, _ in parents_leaving:
                await self.year_repo.deactivate(conn, parent_id, now)
            await self.year_repo.set_plan_year(conn, year)
            if version is not None and self.school.consent.term == "school_year":
                await self.consent_ledger.insert_version(
                    conn, sha256=version.sha256, text=version.text, text_en=version.text_en, now=now, by=by
                )
            await self.year_repo.record_year(
                conn,
                year=year,
                quarters=quarters,
                holidays=holidays,
                report={"from_year": current.year, "changes": [asdict(c) for c in report.changes]},
                applied_by=by,
                now=now,
            )
        apply_year_override(self.school, year, quarters, holidays)
        report.applied = True
        return report

    # --- the command line ------------------------------------------------------------------------------
    async def cmd_new_year(self, args: argparse.Namespace, t: Translator) -> int:
        mapping: Mapping | None = None
        try:
            if args.mapping:
                path = Path(args.mapping)
                try:
                    text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
                except OSError as exc:
                    print(t("cli.cannot_read", path=path, reason=t.os_error(exc)), file=sys.stderr)
                    return 2
                except UnicodeDecodeError:
                    print(t("cli.not_utf8", path=path), file=sys.stderr)
                    return 2
                mapping = parse_mapping(text, args.year)
            report = await self.new_year(args.year, mapping=mapping, dry_run=not args.apply)
        except YearError as exc:
            print(t(f"year.error.{exc.code}", **exc.params), file=sys.stderr)
            return 1
        print(render_report(report, t))
        return 0
