"""Invitation codes as values (#27): a code as recorded, a new one from an import, a nudge
candidate, a class's funnel counts. Plain values, no I/O: storage reads and writes them (and is the
only place that touches the codes table), services reason on them. A code is a secret, so its repr
never shows the value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

RoleGroup = Literal["staff", "parent", "student"]
ROLE_GROUPS: tuple[RoleGroup, ...] = ("staff", "parent", "student")


@dataclass(frozen=True)
class Code:
    id: int
    person_id: int
    role: str
    class_label: str | None
    code: str
    status: str
    source: str
    created_at: datetime
    ended_at: datetime | None
    activated_at: datetime | None
    activated_via: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def __repr__(self) -> str:
        # Never let the secret reach a log line or an assertion dump by accident.
        return f"Code(id={self.id}, person_id={self.person_id}, role={self.role!r}, status={self.status!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class NewCode:
    """One row of a codes import, matched to a roster person."""

    person_id: int
    role: str
    class_label: str | None
    code: str

    def __repr__(self) -> str:
        return f"NewCode(person_id={self.person_id}, role={self.role!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class NudgeCandidate:
    """An active, not activated code whose card reached `recipient_id`: how many activation nudges
    followed, and `since`, the newest nudge (the card's first send before any)."""

    code_id: int
    recipient_id: int
    nudges: int
    since: datetime


@dataclass(frozen=True)
class FunnelCounts:
    class_label: str | None
    role: str
    imported: int
    delivered: int
    activated: int
