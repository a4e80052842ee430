"""Journal and database backups as recorded (#27): plain values storage returns and the status,
report and backup services read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# A database copy's file suffix: SQLite's own file format, or pg_dump's custom format (#27 item 5).
SQLITE_SUFFIX = ".sqlite3"
DUMP_SUFFIX = ".pgdump"
# The UTC time in a copy's name, and in the name a restore keeps the previous database under.
COPY_STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A copy cannot be taken, read or restored; the message is meant for the operator. Defined here
    (not in bot/services/backup.py, which re-exports it) so storage's restore (the Restorer port's
    implementations) raises the very error the restore service and the commands catch."""


@dataclass(frozen=True)
class ReceiptInfo:
    """A consent receipt as a restore compares the live ledger with a copy's."""

    receipt_id: str
    decision: str
    version: int
    created_at: str


@dataclass
class CarrySet:
    """What re-appending some receipts to another database needs: the ledger rows (in their order)
    and the people and document versions they name, as raw column -> value rows."""

    ledger: list[dict[str, object]] = field(default_factory=list)
    persons: list[dict[str, object]] = field(default_factory=list)
    roles: list[tuple[int, str]] = field(default_factory=list)
    guardians: list[tuple[int, int]] = field(default_factory=list)
    versions: list[dict[str, object]] = field(default_factory=list)


class CarryOverError(Exception):
    """A receipt cannot be re-appended: `what` is "version" or "person" or "duplicate"."""

    def __init__(self, what: str, key: object, name: str = "") -> None:
        super().__init__(f"cannot carry over: {what} {key} {name}".strip())
        self.what = what
        self.key = key
        self.name = name


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
