"""What the school keeps about one person, as the subject report (152-FZ art. 14) reads it (#27):
plain values storage returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Reference:
    table: str
    column: str
    rows: int


@dataclass(frozen=True)
class LedgerEntry:
    receipt_id: str
    child_id: int
    child_name: str
    decision: str
    version: int
    sha256: str
    channel: str
    created_at: datetime
    by_self: bool  # recorded for this person's own decision (or on paper in their name)


@dataclass(frozen=True)
class TicketEntry:
    created_at: datetime
    text: str
    status: str
    answer: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class SentEntry:
    created_at: datetime
    sent_at: datetime | None
    channel: str | None
    data_class: str
    kind: str
    status: str


@dataclass(frozen=True)
class CodeEntry:
    owner_id: int
    owner_name: str
    role: str
    code: str
    status: str
    activated_at: datetime | None
