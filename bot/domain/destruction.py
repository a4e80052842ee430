"""The destruction task a withdrawal of consent opens, and its confirmation, as values (#27)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Confirmation:
    by: int | None          # persons.id; None from the command line
    channel: str            # telegram, max or cli
    at: datetime


@dataclass(frozen=True)
class Destruction:
    id: int
    child_id: int
    receipt_id: str
    opened_at: datetime
    due_on: date
    reminders: int                       # how many reminders went out
    last_reminder_at: datetime | None
    confirmed: Confirmation | None
    subject_name: str | None = None        # as the act prints them, kept past the purge
    subject_class: str | None = None
    representatives: str | None = None

    @property
    def open(self) -> bool:
        return self.confirmed is None
