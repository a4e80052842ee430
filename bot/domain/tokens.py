"""A one-time sign-in link (`/start <token>`) as recorded (#27): a plain value storage returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LinkToken:
    purpose: str
    person_id: int | None
    expires_at: datetime
    used: bool
