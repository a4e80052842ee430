"""A row of the access log (#27): a plain value storage returns and its export reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class AccessRow:
    id: int
    at: datetime
    actor: int | None
    channel: str
    kind: str
    object_id: str | None
    due_on: date | None
