"""The consent ledger's values (#27): a document version, a ledger row as recorded, a decision to
append. Plain values: storage reads and writes them, services and the domain rule reason on them,
neither through the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.domain.consent import Decision

# The messenger a decision came through (a bot.channels.Channel value) or "paper".
Channel = str


@dataclass(frozen=True)
class Version:
    number: int
    sha256: str
    text: str
    text_en: str | None
    published_at: datetime


@dataclass(frozen=True)
class LedgerRow:
    id: int
    receipt_id: str
    parent_id: int | None
    child_id: int
    decision: Decision
    version: int
    sha256: str
    channel: Channel
    # The account the decision came through, with `channel` (None for paper): the messenger's own
    # user id. Rows written before migration 019 hold it in tg_user_id / max_user_id, which are
    # read here as the same thing and never written again (see the migration).
    user_id: int | None
    tg_update_id: int | None
    tg_callback_id: str | None
    recorded_by: int | None
    paper_date: date | None
    created_at: datetime


@dataclass(frozen=True)
class NewDecision:
    receipt_id: str
    parent_id: int | None
    child_id: int
    decision: Decision
    version: int
    sha256: str
    channel: Channel
    created_at: datetime
    user_id: int | None = None  # the account's id on `channel` (a messenger decision)
    tg_update_id: int | None = None  # the update and press ids as the messenger delivered them
    tg_callback_id: str | None = None
    recorded_by: int | None = None
    paper_date: date | None = None


@dataclass(frozen=True)
class Read:
    parent_id: int
    child_id: int
    version: int
    sha256: str
    read_at: datetime


@dataclass(frozen=True)
class Original:
    child_id: int
    version: int
    received_on: date
    recorded_by: int
    recorded_at: datetime
