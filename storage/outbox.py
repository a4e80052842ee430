"""The outbox: every message that is not a direct reply to a user's own action.

A message is enqueued inside the write transaction of the state change that causes it, keyed by
a dedupe key, so that the change and the message are committed together or not at all, and
enqueueing the same key twice is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.channels import DataClass
from bot.unit_of_work import Connection, Transaction
from storage.db import raw
from storage.timefmt import to_db

Kind = Literal["text", "photo", "document"]


@dataclass(frozen=True)
class Payload:
    """What to send. For photo/document, either `file_id` names a file Telegram already holds, or
    `renderer` names a function registered with the sender that produces the file bytes from `args`
    at send time (so secrets such as invitation codes are referenced by id, and rendering happens
    off the event loop)."""

    text: str | None = None                 # message text, or the caption of a photo/document
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = "HTML"
    protect_content: bool = False
    renderer: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None
    # A file Telegram already holds (e.g. a proof a staff member sent): re-sent by its file_id,
    # so it needs no renderer and nothing is downloaded.
    file_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "reply_markup": self.reply_markup,
                "parse_mode": self.parse_mode,
                "protect_content": self.protect_content,
                "renderer": self.renderer,
                "args": self.args,
                "filename": self.filename,
                "file_id": self.file_id,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> Payload:
        data = json.loads(raw)
        return cls(
            text=data.get("text"),
            reply_markup=data.get("reply_markup"),
            parse_mode=data.get("parse_mode"),
            protect_content=bool(data.get("protect_content")),
            renderer=data.get("renderer"),
            args=data.get("args") or {},
            filename=data.get("filename"),
            file_id=data.get("file_id"),
        )


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
