"""Journal and database backups as recorded (#27): plain values storage returns and the status,
report and backup services read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
