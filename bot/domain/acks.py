"""Acknowledgement («ознакомлен») campaigns, their targets and confirmations as values (#27): storage
returns them, the acks service and the item-18 findings read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Campaign:
    id: int
    title: str
    body: str
    file_name: str | None
    sha256: str
    plan_item: str | None
    audience: str
    author_id: int | None
    created_at: datetime
    # The author confirmed its title and text (or document) name no one (migration 033): public,
    # else personal.
    public_title: bool = False


@dataclass(frozen=True)
class Target:
    person_id: int
    role: str
    class_label: str | None  # "5А" or "5А,6Б" for a parent of children in two classes


@dataclass(frozen=True)
class Confirmation:
    person_id: int
    sha256: str
    confirmed_at: datetime
    channel: str
