"""Retention's values (#27): why a person's data is due (they left, a withdrawal), what a purge
removes, and the record a destruction leaves. Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

LEFT = "left"
WITHDRAWAL = "withdrawal"
BACKUP = "backup"

# What a purge removes, in the order the dry run names it (the service has a word for each).
KINDS = (
    "phone", "accounts", "codes", "tickets", "conversation", "messages", "links", "surveys", "family", "name",
)


@dataclass(frozen=True)
class Candidate:
    person_id: int
    reason: str  # LEFT or WITHDRAWAL
    since: datetime  # when the person left, or the withdrawal's time
    withdrawal_row: int | None = None


@dataclass(frozen=True)
class DestructionRecord:
    id: int
    at: datetime
    reason: str
    person_id: int | None
    withdrawal_row: int | None
    what: dict[str, object]
    actor: int | None
    channel: str
