"""Outbox queries of the sender: claim due rows under a lease, record the outcome of a send,
dead letters, broadcasts and their progress counts.

Leases: a row stays 'pending' while it is being sent; the sender that claimed it writes its
process id and a real-time expiry into lease_owner/lease_until. Another sender skips leased rows.
A row whose owner process is gone (kill -9) is released at the next sender start, so a send that
was in flight at a crash is retried: it may be duplicated at most once, and never lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.unit_of_work import Transaction, UnitOfWork
from storage.accounts import AccountRepo
from storage.db import database_of, fetchall_in, raw
from storage.timefmt import to_db

LEASE_SECONDS = 120.0


@dataclass(frozen=True)
class OutboxRow:
    id: int
    person_id: int | None  # whom the row addresses (the account is chosen when it is sent)
    kind: str
    payload: str
    attempts: int
    broadcast_id: int | None
    unreachable: bool = False  # every account of the person refused delivery (or none is left)
    data_class: str = "personal"
    # The notice kind, the dedupe key's first part ("task", "codes", "bc"): the send log's purpose.
    purpose: str = ""


@dataclass(frozen=True)
class UnderWay:
    """A broadcast still being sent whose progress message is kept up to date."""

    broadcast_id: int
    chat_id: int
    message_id: int
    lang: str | None  # the author's


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    failed: int  # dead or cancelled (unreachable)
    left: int  # pending

    @property
    def done(self) -> bool:
        return self.left == 0


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DeliveryRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)
        self.owner = os.getpid()

    async def release_orphans(self) -> int:
        """Free leases held by processes that no longer exist (and our own, from a previous sender
        object in this process). Called when a sender starts."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT lease_owner FROM outbox WHERE status = 'pending' AND lease_owner IS NOT NULL"
        )
        dead = [int(r[0]) for r in rows if int(r[0]) == self.owner or not _pid_alive(int(r[0]))]
        if not dead:
            return 0
        marks = ",".join("?" * len(dead))
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending'"
                f" AND lease_owner IN ({marks})",
                dead,
            )
            return cur.rowcount

    async def due(self, now: datetime, wall: float, limit: int, exclude: set[int]) -> list[OutboxRow]:
        """The first due, unleased row of each person (a person's backlog must not starve the others,
        and a person gets their messages in order), most urgent first."""
        rows = await self.db.fetchall(
            "SELECT id, person_id, kind, payload, attempts, broadcast_id, gone, data_class, dedupe_key FROM ("
            " SELECT *, row_number() OVER (PARTITION BY coalesce(person_id, -id) ORDER BY priority, id) AS rn,"
            # Gone: no account of the person takes messages any more.
            " NOT EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = o.person_id AND a.unreachable_at IS NULL)"
            " AS gone"
            " FROM outbox o"
            " WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
            ") WHERE rn = 1 ORDER BY priority, id LIMIT ?",
            (to_db(now), wall, limit + len(exclude)),
        )
        found = [
            OutboxRow(r["id"], r["person_id"], r["kind"], r["payload"], r["attempts"], r["broadcast_id"],
                      bool(r["gone"]), r["data_class"], str(r["dedupe_key"] or "").split(":", 1)[0])
            for r in rows
            if r["id"] not in exclude
        ]
        return found[:limit]

    async def claim(self, ids: list[int], wall: float) -> set[int]:
        """Lease `ids` to this process; returns the ids actually claimed (another sender may have
        taken some between the read and this write)."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id IN ({marks}) AND status = 'pending'"
                " AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)",
                (self.owner, wall + LEASE_SECONDS, *ids, wall, self.owner),
            )
            rows = await fetchall_in(
                conn, f"SELECT id FROM outbox WHERE id IN ({marks}) AND lease_owner = ?", (*ids, self.owner)
            )
        return {int(r[0]) for r in rows}

    async def release(self, ids: list[int]) -> None:
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE id IN ({marks}) AND lease_owner = ?",
                (*ids, self.owner),
            )

    async def release_own(self) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending' AND lease_owner = ?",
                (self.owner,),
            )

    async def mark_sent(
        self, row_id: int, tg_message_id: int, now: datetime, *, account_id: int,
    ) -> None:
        """Sent to ``account_id`` (the send log has the send already: bot/tg/policy.py logs every
        request)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'sent', tg_message_id = ?, sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL, lease_owner = NULL, lease_until = NULL, account_id = ? WHERE id = ?",
                (tg_message_id, to_db(now), account_id, row_id),
            )

    async def mark_retry(self, row_id: int, error: str, next_attempt_at: datetime, *, count: bool = True) -> None:
        """Back to pending at `next_attempt_at`; `count` False for a rate limit (not a failure)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + ?, last_error = ?, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (1 if count else 0, error[:500], to_db(next_attempt_at), row_id),
            )

    async def mark_dead(self, row_id: int, error: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (error[:500], row_id),
            )

    async def mark_unreachable(
        self, row_id: int, person_id: int | None, account_id: int, reason: str, now: datetime
    ) -> int:
        """The account refuses messages and the person has no other account to take them: mark it
        and cancel everything pending for the person (this row included) in one transaction.
        Returns the rows cancelled."""
        async with self.db.transaction() as conn:
            await AccountRepo.mark_unreachable(conn, account_id, reason, now)
            cur = await conn.execute(
                "UPDATE outbox SET status = 'cancelled', last_error = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE status = 'pending' AND (person_id = ? OR id = ?)",
                (reason[:500], person_id, row_id),
            )
            return cur.rowcount

    async def mark_account_unreachable(self, account_id: int, reason: str, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await AccountRepo.mark_unreachable(conn, account_id, reason, now)

    async def cancel(self, ids: list[int], reason: str) -> None:
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE outbox SET status = 'cancelled', last_error = ?, lease_owner = NULL, lease_until = NULL"
                f" WHERE status = 'pending' AND id IN ({marks})",
                (reason, *ids),
            )

    async def next_due_at(self) -> str | None:
        value = await self.db.fetchval("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'")
        return None if value is None else str(value)

    # --- dead letters ---------------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, count(*) FROM outbox GROUP BY status")
        result = {"pending": 0, "sent": 0, "dead": 0, "cancelled": 0}
        result.update({r[0]: int(r[1]) for r in rows})
        return result

    async def dead_by_error(self, limit: int = 5) -> list[tuple[str, int]]:
        rows = await self.db.fetchall(
            "SELECT coalesce(last_error, '?') AS e, count(*) FROM outbox WHERE status = 'dead'"
            " GROUP BY e ORDER BY count(*) DESC LIMIT ?",
            (limit,),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def requeue_dead(self, now: datetime) -> int:
        """Give every dead letter a fresh set of attempts, due now."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL,"
                " lease_until = NULL WHERE status = 'dead'",
                (to_db(now),),
            )
            return cur.rowcount

    # --- broadcasts -----------------------------------------------------------------------------

    @staticmethod
    async def create_broadcast(
        conn: Transaction, *, created_by: int | None, audience: str, text: str, total: int,
        reachable: int, now: datetime,
    ) -> int:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO broadcasts(created_by, audience, text, total, reachable, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (created_by, audience, text, total, reachable, to_db(now)),
        )
        return int(cur.lastrowid or 0)

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE broadcasts SET progress_chat_id = ?, progress_message_id = ? WHERE id = ?",
                (chat_id, message_id, broadcast_id),
            )

    async def finish_broadcast(self, broadcast_id: int, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE broadcasts SET finished_at = ? WHERE id = ? AND finished_at IS NULL",
                (to_db(now), broadcast_id),
            )

    async def unfinished_broadcasts(self) -> list[UnderWay]:
        """Broadcasts under way with a progress message."""
        rows = await self.db.fetchall(
            "SELECT b.id, b.progress_chat_id, b.progress_message_id, p.lang FROM broadcasts b"
            " LEFT JOIN persons p ON p.id = b.created_by"
            " WHERE b.finished_at IS NULL AND b.progress_message_id IS NOT NULL"
        )
        return [
            UnderWay(int(r["id"]), int(r["progress_chat_id"]), int(r["progress_message_id"]), r["lang"]) for r in rows
        ]

    async def broadcast(self, broadcast_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchone("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
        return None if row is None else dict(row)

    async def progress(self, broadcast_id: int) -> Progress:
        rows = await self.db.fetchall(
            "SELECT status, count(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", (broadcast_id,)
        )
        by = {r[0]: int(r[1]) for r in rows}
        total = sum(by.values())
        return Progress(
            total=total,
            sent=by.get("sent", 0),
            failed=by.get("dead", 0) + by.get("cancelled", 0),
            left=by.get("pending", 0),
        )
