"""Questions to the IT officer and training sessions as values (#27): a ticket, a session, an
invitee, and the dedupe key of a ticket's notice. Plain values: storage reads and writes them,
services reason on them, neither through the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TicketStatus = Literal["open", "answered", "closed"]
SessionAudience = Literal["teachers", "pupils", "parents", "everyone"]
ReminderKind = Literal["evening", "hour"]


# Dedupe keys of the outbox messages that carry a new ticket to an IT officer start with this;
# a reply to such a message is matched back to its ticket through the outbox row.
TICKET_NOTICE_PREFIX = "ticket:"
TICKET_NOTICE_MARK = ":new:"


def ticket_notice_key(ticket_id: int, officer_id: int) -> str:
    return f"{TICKET_NOTICE_PREFIX}{ticket_id}{TICKET_NOTICE_MARK}{officer_id}"


@dataclass(frozen=True)
class Ticket:
    id: int
    asker_id: int
    text: str
    context: str | None
    status: TicketStatus
    answer: str | None
    answers: int
    answered_by: int | None
    answered_at: datetime | None
    closed_at: datetime | None
    faq_extra_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Session:
    id: int
    title: str
    audience: SessionAudience
    class_label: str | None
    starts_at: datetime
    place: str
    created_by: int | None
    evening_at: datetime | None
    evening_done_at: datetime | None
    hour_at: datetime | None
    hour_done_at: datetime | None
    cancelled_at: datetime | None
    # The author confirmed the title and place name no one (migration 033): public, else personal.
    public_text: bool = False


@dataclass(frozen=True)
class Invitee:
    session_id: int
    person_id: int
    rsvp: Literal["yes", "no"] | None
    attended: bool | None


@dataclass(frozen=True)
class FaqExtra:
    id: int
    ticket_id: int | None
    audience: tuple[str, ...]
    question: str
    answer: str
    checked: bool  # an IT officer stated it carries no personal data (migration 032)
