"""The district's values (#27): a school's key rule, a registry row (school, operator) and a family as
the coverage table counts it. Plain values, no I/O; storage.district reads and writes them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# A school's key: lower-case Latin letters, digits and hyphens, 2-32 long, starting with a letter or a
# digit. It names the school's folder and file (SQLite) or schema (PostgreSQL), so it is plain ASCII.
SCHOOL_KEY = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")


@dataclass(frozen=True)
class SchoolRecord:
    key: str
    title: str
    settings_toml: str
    created_at: datetime
    telegram_token: str | None = field(default=None, repr=False)
    max_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OperatorRecord:
    id: int
    full_name: str
    accounts: tuple[tuple[str, int], ...]  # (channel value, user id)
    created_at: datetime


@dataclass(frozen=True)
class FamilyReach:
    """A pupil's family as the district counts it: the pupil's id (never shown; it only joins the
    consent figures of the same store) and whether the family is reached: the pupil or one of their
    representatives has a linked messenger account or was delivered an invitation code."""

    child_id: int
    reached: bool
