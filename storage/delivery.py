"""Outbox queries of the sender: claim due rows under a lease, record the outcome of a send,
dead letters, broadcasts and their progress counts.

Leases (#27: N worker processes, on one host or several, share one database). A row stays
'pending' while it is being sent; the worker that claimed it writes its owner id (storage/workers.py:
host, pid and a random part, never reused) and an expiry into lease_owner and lease_until. A lease
is about a process being alive, not about school time: its times come from the sender's lease clock
(real time; tests pass a ManualClock), never from the app clock, which the sandbox and the tests
move by hours at a time. Whether a row is *due* stays on the app clock. The rules:

- Claiming is atomic: one conditional UPDATE takes only rows that are pending, due and not under
  another owner's live lease, and returns the ids it took. On SQLite the write transaction (BEGIN
  IMMEDIATE, one writer at a time across every process on the file) serialises two claims; on
  PostgreSQL the rows are first locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` in the same
  statement, so two claims never wait on each other and never take the same row.
- A worker renews the leases it holds while it works through a long batch (bot/tg/sender.py); an
  expired lease is taken over by any worker. A lease of a process of this host that is gone is freed
  at once (`release_orphans`, by its pid); another host's only by its expiry.
- Before a send starts, its worker makes sure its lease still has at least the send's longest
  duration to run (renewing it, conditionally on still being its owner), and checks it again once
  the rate limiter lets the request go. A send whose lease was lost is never started.
- Every outcome (sent, retry, dead, unreachable) is written in one transaction that checks the lease
  is still ours (lease_owner = us, the row still pending); a worker whose lease was taken over
  records nothing.

What this guarantees: at most one worker holds a live lease on a row when it starts a send, and a
worker whose lease lapsed starts no send of it. What remains, the honest limit: the send happens
between the claim and the record, on the messenger's side. A worker killed (or cut off from the
database for longer than its lease) after the messenger accepted a message and before its record
committed leaves the row pending; the row is sent again once the lease is freed, so that message
goes twice. Telegram and MAX take no idempotency key for a send, so nothing on our side can close
this window; it is one duplicate per message in flight at the moment of death (at most the
sender's concurrency), never a loss. Lease expiry compares the claimer's clock with the other
worker's: hosts must keep their clocks in step (NTP) to well within the margins below.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.broadcast import Progress as Progress  # the domain's value, re-exported
from bot.reach import Via
from bot.unit_of_work import Transaction, UnitOfWork
from storage import workers
from storage.accounts import AccountRepo
from storage.db import database_of, dialect_of, raw
from storage.dialect import returning_id
from storage.timefmt import to_db

# How long a claim or a renewal holds a row (app clock). A worker renews well before this runs out.
LEASE = timedelta(seconds=120)


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


def _marks(ids: Sized) -> str:
    return ",".join("?" * len(ids))


# A row another worker may not be sending now: nobody's, ours, or its lease ran out.
_FREE = "(lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)"
# A row no other worker holds, expired or not (a cancel leaves a lapsed lease to whoever claims it).
_UNHELD = "(lease_owner IS NULL OR lease_owner = ?)"


class DeliveryRepo:
    """``owner`` names the worker that claims (a fresh id by default; tests give another host's)."""

    def __init__(self, db: UnitOfWork, *, owner: str | None = None) -> None:
        self.db = database_of(db)
        self.owner = owner or workers.new_owner()

    async def release_orphans(self) -> int:
        """Free the leases of owners known to be gone: processes of this host that no longer run,
        and owners of this process no longer in use (storage/workers.py). Called when a sender starts
        and every few seconds while it runs, so a dead neighbour's rows go out without waiting for
        their leases to expire. Another host's leases are left to expire."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT lease_owner FROM outbox WHERE status = 'pending' AND lease_owner IS NOT NULL"
        )
        dead = [str(r[0]) for r in rows if str(r[0]) != self.owner and workers.known_dead(str(r[0]))]
        if not dead:
            return 0
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending'"
                f" AND lease_owner IN ({_marks(dead)})",
                dead,
            )
            return cur.rowcount

    async def due(self, now: datetime, lease_now: datetime, limit: int, exclude: set[int]) -> list[OutboxRow]:
        """The first row due at `now` of each person whose first row no other worker is sending at
        `lease_now` (a person's backlog must not starve the others, and a person gets their messages
        in order, whichever worker sends them), most urgent first."""
        rows = await self.db.fetchall(
            "SELECT id, person_id, kind, payload, attempts, broadcast_id, gone, data_class, dedupe_key FROM ("
            " SELECT o.*, row_number() OVER (PARTITION BY coalesce(person_id, -id) ORDER BY priority, id) AS rn,"
            # Gone: no account of the person takes messages any more.
            " NOT EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = o.person_id AND a.unreachable_at IS NULL)"
            " AS gone"
            " FROM outbox o"
            " WHERE status = 'pending' AND next_attempt_at <= ?"
            # The lease is judged on the person's first row, after numbering: while another worker
            # sends it, the person's next row waits rather than overtaking it on another worker.
            f") AS heads WHERE rn = 1 AND {_FREE} ORDER BY priority, id LIMIT ?",
            (to_db(now), self.owner, to_db(lease_now), limit + len(exclude)),
        )
        found = [
            OutboxRow(r["id"], r["person_id"], r["kind"], r["payload"], r["attempts"], r["broadcast_id"],
                      bool(r["gone"]), r["data_class"], str(r["dedupe_key"] or "").split(":", 1)[0])
            for r in rows
            if r["id"] not in exclude
        ]
        return found[:limit]

    async def claim(self, ids: list[int], now: datetime, lease_now: datetime) -> dict[int, datetime]:
        """Lease `ids` (due at `now`) to this worker until `lease_now` + LEASE, atomically; returns
        the rows actually claimed with their lease's end (another worker may have taken, sent or
        rescheduled some since they were read)."""
        if not ids:
            return {}
        workers.hold(self.owner)
        until = lease_now + LEASE
        conditions = f"id IN ({_marks(ids)}) AND status = 'pending' AND next_attempt_at <= ? AND {_FREE}"
        params: list[Any] = [*ids, to_db(now), self.owner, to_db(lease_now)]
        async with self.db.transaction() as conn:
            if dialect_of(conn) == "postgres":
                # Rows another claim has locked are skipped, not waited for; the condition is checked
                # again on the locked rows, so a row taken meanwhile is not taken twice.
                sql = (
                    f"UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id IN"
                    f" (SELECT id FROM outbox WHERE {conditions} FOR UPDATE SKIP LOCKED) RETURNING id"
                )
            else:
                # The single writer (BEGIN IMMEDIATE) serialises claims across processes.
                sql = f"UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE {conditions} RETURNING id"
            cur = await conn.execute(sql, (self.owner, to_db(until), *params))
            rows = await cur.fetchall()
            await cur.close()
        return {int(r[0]): until for r in rows}

    async def renew(self, ids: list[int], lease_now: datetime) -> dict[int, datetime]:
        """Extend the leases this worker still holds among `ids` to `lease_now` + LEASE; returns those
        renewed. A row missing from the answer was taken over (or finished): its send must not start."""
        if not ids:
            return {}
        until = lease_now + LEASE
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE outbox SET lease_until = ? WHERE id IN ({_marks(ids)}) AND status = 'pending'"
                " AND lease_owner = ? RETURNING id",
                (to_db(until), *ids, self.owner),
            )
            rows = await cur.fetchall()
            await cur.close()
        return {int(r[0]): until for r in rows}

    async def release(self, ids: list[int]) -> None:
        if not ids:
            return
        async with self.db.transaction() as conn:
            await conn.execute(
                f"UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE id IN ({_marks(ids)})"
                " AND lease_owner = ?",
                (*ids, self.owner),
            )

    async def release_own(self) -> None:
        """Hand back every lease of this worker (a sender stopping); the owner id is retired."""
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending'"
                    " AND lease_owner = ?",
                    (self.owner,),
                )
        finally:
            workers.drop(self.owner)

    # Every outcome below is written only while the row is still ours: pending and leased to this
    # worker (its lease may have run out, as long as nobody took it over). Each returns whether it was.

    async def mark_sent(
        self, row_id: int, tg_message_id: int, now: datetime, *, account_id: int,
    ) -> bool:
        """Sent to ``account_id`` (the send log has the send already: bot/tg/policy.py logs every
        request)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE outbox SET status = 'sent', tg_message_id = ?, sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL, lease_owner = NULL, lease_until = NULL, account_id = ?"
                " WHERE id = ? AND status = 'pending' AND lease_owner = ?",
                (tg_message_id, to_db(now), account_id, row_id, self.owner),
            )
            return cur.rowcount == 1

    async def mark_retry(
        self, row_id: int, error: str, next_attempt_at: datetime, *, count: bool = True
    ) -> bool:
        """Back to pending at `next_attempt_at`; `count` False for a rate limit (not a failure)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE outbox SET attempts = attempts + ?, last_error = ?, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'pending' AND lease_owner = ?",
                (1 if count else 0, error[:500], to_db(next_attempt_at), row_id, self.owner),
            )
            return cur.rowcount == 1

    async def mark_dead(self, row_id: int, error: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'pending' AND lease_owner = ?",
                (error[:500], row_id, self.owner),
            )
            return cur.rowcount == 1

    async def mark_unreachable(
        self, row_id: int, person_id: int | None, account_id: int, reason: str, now: datetime
    ) -> int:
        """The account refuses messages and the person has no other account to take them: mark it
        and cancel everything pending for the person (this row included) in one transaction.
        Returns the rows cancelled. A row another worker holds is left to that worker."""
        async with self.db.transaction() as conn:
            await AccountRepo.mark_unreachable(conn, account_id, reason, now)
            cur = await conn.execute(
                "UPDATE outbox SET status = 'cancelled', last_error = ?, lease_owner = NULL, lease_until = NULL"
                f" WHERE status = 'pending' AND (person_id = ? OR id = ?) AND {_UNHELD}",
                (reason[:500], person_id, row_id, self.owner),
            )
            return cur.rowcount

    async def reroute(self, row_id: int, account_id: int, via: Via, reason: str, now: datetime) -> bool:
        """``via`` refuses delivery to the account, which the school's other bot on that messenger
        reaches: ``via`` no longer counts as reaching it, and the row is due again now (not a failed
        attempt), to go by the other bot; in one transaction."""
        async with self.db.transaction() as conn:
            await AccountRepo.refused_through(conn, account_id, via)
            cur = await conn.execute(
                "UPDATE outbox SET last_error = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND status = 'pending' AND lease_owner = ?",
                (reason[:500], to_db(now), row_id, self.owner),
            )
            return cur.rowcount == 1

    async def mark_account_unreachable(self, account_id: int, reason: str, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await AccountRepo.mark_unreachable(conn, account_id, reason, now)

    async def cancel(self, ids: list[int], reason: str) -> int:
        """Cancel pending rows that no other worker holds (read as due, not claimed)."""
        if not ids:
            return 0
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE outbox SET status = 'cancelled', last_error = ?, lease_owner = NULL, lease_until = NULL"
                f" WHERE status = 'pending' AND id IN ({_marks(ids)}) AND {_UNHELD}",
                (reason, *ids, self.owner),
            )
            return cur.rowcount

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
        return await returning_id(
            conn,
            "INSERT INTO broadcasts(created_by, audience, text, total, reachable, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (created_by, audience, text, total, reachable, to_db(now)),
        )

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
