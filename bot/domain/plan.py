"""The implementation plan's types: items, their deadlines and the plan itself (plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

DEADLINE_KINDS: tuple[str, ...] = (
    "date",
    "month",
    "whole_period",
    "from_date",
    "each_quarter",
    "yearly_month",
    "per_event",
    "unset",
)


@dataclass(frozen=True)
class Deadline:
    kind: str
    date: date | None
    year: int | None
    month: int | None
    source: str


@dataclass(frozen=True)
class PlanItem:
    number: str
    text: str
    deadline: Deadline
    responsible: tuple[str, ...]
    responsible_text: str
    proof: str


@dataclass(frozen=True)
class Plan:
    title: str
    source_school_year: int
    items: tuple[PlanItem, ...]
    order: str = ""

    def item(self, number: str) -> PlanItem:
        """The item with this number; KeyError if there is none."""
        for item in self.items:
            if item.number == number:
                return item
        raise KeyError(number)


@dataclass(frozen=True)
class Proof:
    id: int
    item_number: str
    occurrence_key: str
    person_id: int
    kind: str
    body: str | None
    file_id: str | None
    file_unique_id: str | None
    file_name: str | None
    status: str
    created_at: datetime
    reviewed_by: int | None
    reviewed_at: datetime | None
    review_comment: str | None
