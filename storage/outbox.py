"""The outbox: every message that is not a direct reply to a user's own action.

A message is enqueued inside the write transaction of the state change that causes it, keyed by
a dedupe key, so that the change and the message are committed together or not at all, and
enqueueing the same key twice is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from bot.channels import DataClass
from bot.domain.messages import Kind, Payload
from bot.unit_of_work import Connection, Transaction
from storage.db import raw
from storage.timefmt import to_db

# What to send is a domain value (bot/domain/messages.py): services build it without storage.
# Re-exported here for the callers that name it through the outbox.
__all__ = ["Kind", "OutboxRepo", "Payload"]


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
        conn = raw(conn)
        if kind != "text" and payload.renderer is None and payload.file_id is None:
            raise ValueError("photo and document messages need a renderer or a file_id")
        cur = await conn.execute(
            "INSERT INTO outbox(dedupe_key, person_id, kind, payload, priority, status,"
            " next_attempt_at, broadcast_id, created_at, data_class) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)"
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
            ),
        )
        return cur.rowcount == 1

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
