"""The outbox: every message that is not a direct reply to a user's own action, and the direct replies
that report an effect (answers).

A message is enqueued inside the write transaction of the state change that causes it, keyed by
a dedupe key, so that the change and the message are committed together or not at all, and
enqueueing the same key twice is a no-op.

Answers (#27, crash-safe presses). An update's effects are committed once (storage/db.py: the first
write transaction records the update id; a redelivery finds it and is dropped). So whatever must
reach the user *because* the effect happened (a consent decision's receipt, the code card a press
asked for) cannot be sent only after the commit: a worker that dies, is cancelled or fails to send
between the commit and the send leaves the effect without its answer, and the redelivered press is
dropped as done (the district's end-to-end test: parents pressed again and were told "already
recorded", without a receipt). Such an answer is therefore queued with the effect
(`enqueue_answer`), in the same transaction, as an outbox row *held* for the handling process: a
lease owned by this process's answers owner (the claim rules of storage/delivery.py keep every
sender off it), so that the handler gives it itself at once, in the chat and order the user expects,
and records it sent (`answered`). Whatever the handler did not give is handed to the senders: by the
update guard when the handler ends, failed or cancelled (`release_answers`, bot/tg/middlewares.py);
by the other workers' senders when this process died (a lease of a dead process of this host is
freed at once, another host's when it expires: storage/delivery.py). So the answer goes out once
whatever happens after the commit; what remains is the outbox's own stated limit (a send the
messenger accepted and whose record never committed goes again).

Why not replay the redelivered update instead: a handler run again sees the state its first run
already changed (the decision is now "already recorded", the code card "asked for a minute ago"), so
it cannot give the first run's answer; recording the answer after sending it would cost a write per
update and still leave the window between the send and its record, the same window as here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.channels import Channel, DataClass
from bot.clock import SystemClock
from bot.domain.messages import Kind, Payload
from bot.unit_of_work import Connection, Transaction
from storage import workers
from storage.db import raw
from storage.sql import CURRENT_UPDATE, SqlDatabase
from storage.timefmt import to_db

# What to send is a domain value (bot/domain/messages.py): services build it without storage.
# Re-exported here for the callers that name it through the outbox.
__all__ = ["Kind", "OutboxRepo", "Payload"]

# How long an answer stays held for the handler that queued it (on real time, as every lease: see
# storage/delivery.py). Past it, any sender may send the answer: the handler's own send must have
# started long before (a handler sends its answers right after its commit).
ANSWER_HOLD = timedelta(seconds=120)
# Answers are queued first: the receipt of a decision goes out before the code cards it released.
ANSWER_PRIORITY = 0

_answers_owner: str | None = None


def answers_owner() -> str:
    """The lease owner of the answers this process holds for its handlers (storage/workers.py: one per
    process, in use until it ends; once it is gone, another worker of this host frees its answers at
    once)."""
    global _answers_owner
    if _answers_owner is None:
        _answers_owner = workers.new_owner()
    workers.hold(_answers_owner)
    return _answers_owner


class OutboxRepo:
    """The outbox tables, read and written on the caller's connection (every call may run inside
    its transaction)."""

    @staticmethod
    async def enqueue(
        conn: Transaction,
        *,
        dedupe_key: str,
        person_id: int,
        kind: Kind,
        payload: Payload,
        now: datetime,
        not_before: datetime | None = None,
        priority: int = 5,
        broadcast_id: int | None = None,
        data_class: DataClass = DataClass.PERSONAL,
    ) -> bool:
        """Call inside `Database.transaction()`. Returns False when the key was already enqueued.

        A row addresses a person, never a chat: the sender resolves their account at send time (the
        messenger they chose, under the channel policy, among those served) and records the account
        it went out on. ``data_class`` says what the message carries, for the channel policy
        (bot/channels.py)."""
        return await OutboxRepo._insert(
            conn, dedupe_key=dedupe_key, person_id=person_id, kind=kind, payload=payload, now=now,
            not_before=not_before, priority=priority, broadcast_id=broadcast_id, data_class=data_class,
        )

    @staticmethod
    async def _insert(
        conn: Transaction,
        *,
        dedupe_key: str,
        person_id: int,
        kind: Kind,
        payload: Payload,
        now: datetime,
        not_before: datetime | None,
        priority: int,
        broadcast_id: int | None,
        data_class: DataClass,
        held_by: str | None = None,
    ) -> bool:
        conn = raw(conn)
        if kind != "text" and payload.renderer is None and payload.file_id is None:
            raise ValueError("photo and document messages need a renderer or a file_id")
        held_until = to_db(SystemClock().now() + ANSWER_HOLD) if held_by is not None else None
        cur = await conn.execute(
            "INSERT INTO outbox(dedupe_key, person_id, kind, payload, priority, status,"
            " next_attempt_at, broadcast_id, created_at, data_class, lease_owner, lease_until)"
            " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (dedupe_key) DO NOTHING",
            (
                dedupe_key,
                person_id,
                kind,
                payload.to_json(),
                priority,
                to_db(not_before or now),
                broadcast_id,
                to_db(now),
                data_class.value,
                held_by,
                held_until,
            ),
        )
        return cur.rowcount == 1

    # --- answers (see the module's docstring) -----------------------------------------------------
    @staticmethod
    async def enqueue_answer(
        conn: Transaction,
        *,
        dedupe_key: str,
        person_id: int,
        kind: Kind,
        payload: Payload,
        now: datetime,
        data_class: DataClass = DataClass.PERSONAL,
    ) -> bool:
        """Queue the answer to the update being handled that reports this transaction's effect, held
        for the handler, which gives it itself after the commit and then calls `answered`. Outside
        an update (a command, a sweep) nobody would give it: it is an ordinary row for the senders.
        Returns False when the key was already queued."""
        mark = CURRENT_UPDATE.get()
        held_by = answers_owner() if mark is not None else None
        added = await OutboxRepo._insert(
            conn, dedupe_key=dedupe_key, person_id=person_id, kind=kind, payload=payload, now=now,
            not_before=None, priority=ANSWER_PRIORITY, broadcast_id=None, data_class=data_class, held_by=held_by,
        )
        if added and mark is not None:
            # Noted before the commit: a rolled-back row is simply not there to release.
            mark.owed.append(dedupe_key)
        return added

    @staticmethod
    async def answered(
        conn: Transaction, dedupe_key: str, *, message_id: int, channel: Channel, user_id: int, now: datetime
    ) -> bool:
        """The handler gave the held answer itself (message ``message_id`` in the chat of account
        ``channel``/``user_id``): recorded as sent, as the sender records its sends. False when it is no
        longer held by this process (its hold ran out and a sender took it over)."""
        mark = CURRENT_UPDATE.get()
        if mark is not None and dedupe_key in mark.owed:
            mark.owed.remove(dedupe_key)
        cur = await raw(conn).execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, tg_message_id = ?, attempts = attempts + 1,"
            " last_error = NULL, lease_owner = NULL, lease_until = NULL,"
            " account_id = (SELECT id FROM accounts WHERE channel = ? AND user_id = ?)"
            " WHERE dedupe_key = ? AND status = 'pending' AND lease_owner = ?",
            (to_db(now), message_id, channel.value, user_id, dedupe_key, answers_owner()),
        )
        return cur.rowcount == 1

    @staticmethod
    async def release_answers(db: SqlDatabase, keys: list[str]) -> int:
        """Hand the held answers named by ``keys`` that are still pending to the senders (the handler
        ended without giving them: it failed, was cancelled, or had no chat to give them in)."""
        if not keys:
            return 0
        async with db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE dedupe_key IN"
                f" ({','.join('?' * len(keys))}) AND status = 'pending' AND lease_owner = ?",
                (*keys, answers_owner()),
            )
            return cur.rowcount

    @staticmethod
    async def waiting_payload(conn: Connection, dedupe_key: str) -> Payload | None:
        """The payload of a message that is still waiting and that no sender has claimed (None once it
        is being sent, sent, cancelled or absent): only such a message may still be amended."""
        conn = raw(conn)
        cur = await conn.execute(
            "SELECT payload FROM outbox WHERE dedupe_key = ? AND status = 'pending' AND lease_owner IS NULL",
            (dedupe_key,),
        )
        row = await cur.fetchone()
        await cur.close()
        return Payload.from_json(row[0]) if row else None

    @staticmethod
    async def amend_waiting(conn: Transaction, dedupe_key: str, payload: Payload) -> bool:
        """Replace the payload of a waiting, unclaimed message (see `waiting_payload`), in the caller's
        transaction. Returns False when the message is no longer waiting."""
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE outbox SET payload = ? WHERE dedupe_key = ? AND status = 'pending' AND lease_owner IS NULL",
            (payload.to_json(), dedupe_key),
        )
        return cur.rowcount == 1
