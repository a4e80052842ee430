"""Journal and database backups as recorded (#27): plain values storage returns and the status,
report and backup services read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# A database copy's file suffix: SQLite's own file format, or pg_dump's custom format (#27 item 5).
SQLITE_SUFFIX = ".sqlite3"
DUMP_SUFFIX = ".pgdump"


@dataclass(frozen=True)
class JournalBackup:
    id: int
    school_year: int
    quarter: int
    medium_label: str
    photo_file_id: str | None
    logged_by: int | None
    logged_by_name: str | None
    logged_at: datetime


@dataclass(frozen=True)
class DbBackup:
    id: int
    path: str
    size_bytes: int
    ok: bool
    detail: str | None
    local_day: str
    taken_at: datetime


@dataclass(frozen=True)
class Attendance:
    """A training session (not cancelled): who was invited, said yes, came."""

    title: str
    starts_at: datetime
    invited: int
    yes: int
    attended: int


@dataclass(frozen=True)
class PersonRow:
    id: int
    full_name: str
    class_label: str | None
    roles: frozenset[str]
    linked: bool
    unreachable_reason: str | None
    channels: frozenset[str] = frozenset()  # the messengers (Channel values) the person has an account on
