"""The item-18 analysis's values (#27): the next year's tasks as staff edited them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EditedTasks:
    text: str
    updated_by: int | None
    updated_at: datetime
