"""Help desk storage: tickets (questions to the IT officer), FAQ entries made from them, and
training sessions with invitees, RSVPs and attendance."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

# Tickets' and sessions' values are the domain's (bot/domain/help.py), re-exported for storage's callers.
from bot.domain.help import TICKET_NOTICE_MARK as TICKET_NOTICE_MARK
from bot.domain.help import TICKET_NOTICE_PREFIX as TICKET_NOTICE_PREFIX
from bot.domain.help import FaqExtra as FaqExtra
from bot.domain.help import Invitee as Invitee
from bot.domain.help import ReminderKind as ReminderKind
from bot.domain.help import Session as Session
from bot.domain.help import SessionAudience as SessionAudience
from bot.domain.help import Ticket as Ticket
from bot.domain.help import TicketStatus as TicketStatus
from bot.domain.help import ticket_notice_key as ticket_notice_key
from bot.unit_of_work import Connection, Transaction, UnitOfWork
from storage.db import database_of, fetchone_in, raw
from storage.dialect import returning_id
from storage.sql import Row
from storage.timefmt import from_db, opt_from_db, to_db


def _ticket(row: Row) -> Ticket:
    return Ticket(
        id=row["id"],
        asker_id=row["asker_id"],
        text=row["text"],
        context=row["context"],
        status=row["status"],
        answer=row["answer"],
        answers=row["answers"],
        answered_by=row["answered_by"],
        answered_at=opt_from_db(row["answered_at"]),
        closed_at=opt_from_db(row["closed_at"]),
        faq_extra_id=row["faq_extra_id"],
        created_at=from_db(row["created_at"]),
    )


def _faq_extra(row: Row) -> FaqExtra:
    return FaqExtra(
        id=row["id"],
        ticket_id=row["ticket_id"],
        audience=tuple(a for a in str(row["audience"]).split(",") if a),
        question=row["question"],
        answer=row["answer"],
        checked=row["checked_at"] is not None,
    )


def _session(row: Row) -> Session:
    return Session(
        id=row["id"],
        title=row["title"],
        audience=row["audience"],
        class_label=row["class_label"],
        starts_at=from_db(row["starts_at"]),
        place=row["place"],
        created_by=row["created_by"],
        evening_at=opt_from_db(row["evening_at"]),
        evening_done_at=opt_from_db(row["evening_done_at"]),
        hour_at=opt_from_db(row["hour_at"]),
        hour_done_at=opt_from_db(row["hour_done_at"]),
        cancelled_at=opt_from_db(row["cancelled_at"]),
        public_text=bool(row["public_text"]),
    )


def _invitee(row: Row) -> Invitee:
    attended = row["attended"]
    return Invitee(
        session_id=row["session_id"],
        person_id=row["person_id"],
        rsvp=row["rsvp"],
        attended=None if attended is None else bool(attended),
    )


class HelpRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    # --- tickets: reads ---------------------------------------------------------------------

    async def ticket(self, ticket_id: int) -> Ticket | None:
        row = await self.db.fetchone("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return None if row is None else _ticket(row)

    async def unclosed_tickets(self, limit: int = 50) -> list[Ticket]:
        rows = await self.db.fetchall(
            "SELECT * FROM tickets WHERE status != 'closed' ORDER BY created_at, id LIMIT ?", (limit,)
        )
        return [_ticket(r) for r in rows]

    async def unchecked_faq_tickets(self, limit: int = 20) -> list[Ticket]:
        """Tickets whose FAQ entry no IT officer has checked for personal data (made before migration 032)."""
        rows = await self.db.fetchall(
            "SELECT t.* FROM tickets t JOIN faq_extra f ON f.id = t.faq_extra_id"
            " WHERE f.checked_at IS NULL AND f.removed_at IS NULL ORDER BY t.id LIMIT ?",
            (limit,),
        )
        return [_ticket(r) for r in rows]

    async def count_unclosed(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM tickets WHERE status != 'closed'") or 0)

    async def ticket_for_notice(self, channel: str, user_id: int, message_id: int) -> int | None:
        """The ticket whose notice the outbox delivered as this message to this messenger account
        (``channel``, ``user_id``: whoever replies to it), if any."""
        row = await self.db.fetchone(
            "SELECT o.dedupe_key FROM outbox o JOIN accounts a ON a.id = o.account_id"
            " WHERE a.channel = ? AND a.user_id = ? AND o.tg_message_id = ? AND o.dedupe_key LIKE ?",
            (channel, user_id, message_id, f"{TICKET_NOTICE_PREFIX}%{TICKET_NOTICE_MARK}%"),
        )
        if row is None:
            return None
        key = str(row["dedupe_key"])
        head = key[len(TICKET_NOTICE_PREFIX) :].split(TICKET_NOTICE_MARK, 1)[0]
        return int(head) if head.isdigit() else None

    async def faq_extras(self) -> list[FaqExtra]:
        rows = await self.db.fetchall(
            "SELECT id, ticket_id, audience, question, answer, checked_at FROM faq_extra WHERE removed_at IS NULL"
            " ORDER BY id"
        )
        return [_faq_extra(r) for r in rows]

    async def faq_extra(self, extra_id: int) -> FaqExtra | None:
        row = await self.db.fetchone(
            "SELECT id, ticket_id, audience, question, answer, checked_at FROM faq_extra WHERE id = ?"
            " AND removed_at IS NULL",
            (extra_id,),
        )
        return None if row is None else _faq_extra(row)

    # --- tickets: writes (inside Database.transaction()) --------------------------------------

    @staticmethod
    async def insert_ticket(
        conn: Transaction, *, asker_id: int, text: str, context: str | None, now: datetime
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO tickets(asker_id, text, context, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            (asker_id, text, context, to_db(now)),
        )

    @staticmethod
    async def ticket_in(conn: Connection, ticket_id: int) -> Ticket | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return None if row is None else _ticket(row)

    @staticmethod
    async def record_answer(conn: Transaction, ticket_id: int, *, answer: str, by: int, now: datetime) -> int:
        """Stores the answer; returns its ordinal (1 for the first answer)."""
        conn = raw(conn)
        await conn.execute(
            "UPDATE tickets SET answer = ?, answers = answers + 1, answered_by = ?, answered_at = ?,"
            " status = CASE WHEN status = 'closed' THEN status ELSE 'answered' END WHERE id = ?",
            (answer, by, to_db(now), ticket_id),
        )
        row = await fetchone_in(conn, "SELECT answers FROM tickets WHERE id = ?", (ticket_id,))
        return int(row["answers"]) if row else 0

    @staticmethod
    async def close_ticket(conn: Transaction, ticket_id: int, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE tickets SET status = 'closed', closed_at = ? WHERE id = ? AND status != 'closed'",
            (to_db(now), ticket_id),
        )
        return cur.rowcount == 1

    @staticmethod
    async def insert_faq_extra(
        conn: Transaction,
        *,
        ticket_id: int | None,
        audience: Iterable[str],
        question: str,
        answer: str,
        created_by: int | None,
        now: datetime,
        checked: bool = False,
    ) -> int:
        """``checked``: ``created_by`` stated it carries no personal data (recorded as who and when)."""
        conn = raw(conn)
        extra_id = await returning_id(
            conn,
            "INSERT INTO faq_extra(ticket_id, audience, question, answer, created_by, created_at, checked_by,"
            " checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (ticket_id, ",".join(sorted(set(audience))), question, answer, created_by, to_db(now),
             created_by if checked else None, to_db(now) if checked else None),
        )
        if ticket_id is not None:
            await conn.execute("UPDATE tickets SET faq_extra_id = ? WHERE id = ?", (extra_id, ticket_id))
        return extra_id

    @staticmethod
    async def check_faq_extra(
        conn: Transaction, extra_id: int, *, question: str, answer: str, by: int, now: datetime
    ) -> bool:
        """An entry not yet checked gets the (rewritten) texts and who checked it; False if it was."""
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE faq_extra SET question = ?, answer = ?, checked_by = ?, checked_at = ?"
            " WHERE id = ? AND checked_at IS NULL AND removed_at IS NULL",
            (question, answer, by, to_db(now), extra_id),
        )
        return cur.rowcount == 1

    # --- training sessions: reads -------------------------------------------------------------

    async def session(self, session_id: int) -> Session | None:
        row = await self.db.fetchone("SELECT * FROM training_sessions WHERE id = ?", (session_id,))
        return None if row is None else _session(row)

    async def sessions_after(self, moment: datetime, limit: int = 20) -> list[Session]:
        rows = await self.db.fetchall(
            "SELECT * FROM training_sessions WHERE cancelled_at IS NULL AND starts_at >= ?"
            " ORDER BY starts_at, id LIMIT ?",
            (to_db(moment), limit),
        )
        return [_session(r) for r in rows]

    async def recent_sessions(self, moment: datetime, limit: int = 10) -> list[Session]:
        """Sessions that already started, newest first (to mark attendance afterwards)."""
        rows = await self.db.fetchall(
            "SELECT * FROM training_sessions WHERE cancelled_at IS NULL AND starts_at < ?"
            " ORDER BY starts_at DESC, id DESC LIMIT ?",
            (to_db(moment), limit),
        )
        return [_session(r) for r in rows]

    async def invitee(self, session_id: int, person_id: int) -> Invitee | None:
        row = await self.db.fetchone(
            "SELECT * FROM training_invitees WHERE session_id = ? AND person_id = ?", (session_id, person_id)
        )
        return None if row is None else _invitee(row)

    async def invitees(self, session_id: int) -> list[Invitee]:
        rows = await self.db.fetchall(
            "SELECT i.* FROM training_invitees i JOIN persons p ON p.id = i.person_id WHERE i.session_id = ?"
            " ORDER BY CASE i.rsvp WHEN 'yes' THEN 0 WHEN 'no' THEN 2 ELSE 1 END, p.full_name",
            (session_id,),
        )
        return [_invitee(r) for r in rows]

    async def due_reminders(self, now: datetime) -> list[tuple[Session, ReminderKind]]:
        stamp = to_db(now)
        rows = await self.db.fetchall(
            "SELECT * FROM training_sessions WHERE cancelled_at IS NULL AND ("
            " (evening_at IS NOT NULL AND evening_done_at IS NULL AND evening_at <= ?)"
            " OR (hour_at IS NOT NULL AND hour_done_at IS NULL AND hour_at <= ?)) ORDER BY starts_at",
            (stamp, stamp),
        )
        due: list[tuple[Session, ReminderKind]] = []
        for row in rows:
            s = _session(row)
            if s.evening_at is not None and s.evening_done_at is None and s.evening_at <= now:
                due.append((s, "evening"))
            if s.hour_at is not None and s.hour_done_at is None and s.hour_at <= now:
                due.append((s, "hour"))
        return due

    # --- training sessions: writes ------------------------------------------------------------

    @staticmethod
    async def insert_session(
        conn: Transaction,
        *,
        title: str,
        audience: SessionAudience,
        class_label: str | None,
        starts_at: datetime,
        place: str,
        created_by: int | None,
        evening_at: datetime | None,
        hour_at: datetime | None,
        now: datetime,
        public_text: bool = False,
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO training_sessions(title, audience, class_label, starts_at, place, created_by, created_at,"
            " evening_at, hour_at, public_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                title,
                audience,
                class_label,
                to_db(starts_at),
                place,
                created_by,
                to_db(now),
                None if evening_at is None else to_db(evening_at),
                None if hour_at is None else to_db(hour_at),
                int(public_text),
            ),
        )

    @staticmethod
    async def add_invitees(conn: Transaction, session_id: int, person_ids: Iterable[int]) -> None:
        conn = raw(conn)
        await conn.executemany(
            "INSERT INTO training_invitees(session_id, person_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(session_id, pid) for pid in sorted(set(person_ids))],
        )

    @staticmethod
    async def set_rsvp(
        conn: Transaction, session_id: int, person_id: int, rsvp: Literal["yes", "no"], now: datetime
    ) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE training_invitees SET rsvp = ?, rsvp_at = ? WHERE session_id = ? AND person_id = ?",
            (rsvp, to_db(now), session_id, person_id),
        )
        return cur.rowcount == 1

    @staticmethod
    async def set_attended(conn: Transaction, session_id: int, person_id: int, attended: bool | None) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE training_invitees SET attended = ? WHERE session_id = ? AND person_id = ?",
            (None if attended is None else int(attended), session_id, person_id),
        )
        return cur.rowcount == 1

    @staticmethod
    async def mark_reminder_done(
        conn: Transaction, session_id: int, kind: ReminderKind, now: datetime
    ) -> None:
        conn = raw(conn)
        column = "evening_done_at" if kind == "evening" else "hour_done_at"
        await conn.execute(
            f"UPDATE training_sessions SET {column} = ? WHERE id = ? AND {column} IS NULL", (to_db(now), session_id)
        )
