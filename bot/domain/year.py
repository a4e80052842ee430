"""The school year's values (#27): a recorded year, a class move, a person as the new year and the
roster import see them, the May archive's steps and checks. Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

ARCHIVE_STEPS = ("printed", "laced", "sealed", "signed", "handed")


@dataclass(frozen=True)
class YearRecord:
    year: int
    quarters: list[tuple[date, date]]
    holidays: list[date]
    report: dict[str, Any]
    applied_at: datetime


@dataclass(frozen=True)
class PromotionMove:
    person_id: int
    from_class: str | None
    to_class: str | None
    reason: str


@dataclass(frozen=True)
class PersonClass:
    """What the new year needs of a person: id, name, class, roles, whether active."""

    id: int
    roster_key: str
    full_name: str
    class_label: str | None
    roles: frozenset[str]


@dataclass(frozen=True)
class ArchiveCheck:
    class_label: str
    step: str
    person_id: int
    person_name: str
    done_at: datetime


@dataclass(frozen=True)
class RosterPerson:
    id: int
    full_name: str
    roles: frozenset[str]
