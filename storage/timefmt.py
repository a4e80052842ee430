from __future__ import annotations

from datetime import UTC, datetime


def to_db(moment: datetime) -> str:
    """Aware datetime -> fixed-width UTC text that sorts chronologically."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime reached storage")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def opt_from_db(value: str | None) -> datetime | None:
    return None if value is None else from_db(value)
