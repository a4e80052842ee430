"""Acknowledgement campaigns: the text or document, who is asked, who confirmed which hash and when."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

# These values are the domain's (bot/domain/acks.py), re-exported for storage's callers.
from bot.domain.acks import Campaign as Campaign
from bot.domain.acks import Confirmation as Confirmation
from bot.domain.acks import Target as Target
from bot.unit_of_work import Transaction, UnitOfWork
from storage.db import database_of, raw
from storage.dialect import returning_id
from storage.sql import Row
from storage.timefmt import from_db, to_db

_COLUMNS = "id, title, body, file_name, sha256, plan_item, audience, author_id, created_at, public_title"


def _campaign(r: Row) -> Campaign:
    return Campaign(r["id"], r["title"], r["body"], r["file_name"], r["sha256"], r["plan_item"], r["audience"],
                    r["author_id"], from_db(r["created_at"]), bool(r["public_title"]))


class AckRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM ack_campaigns WHERE id = ?", (campaign_id,))
        return None if row is None else _campaign(row)

    async def all(self) -> list[Campaign]:
        return [_campaign(r) for r in await self.db.fetchall(f"SELECT {_COLUMNS} FROM ack_campaigns ORDER BY id")]

    async def document(self, campaign_id: int) -> tuple[bytes, str] | None:
        row = await self.db.fetchone("SELECT document, file_name FROM ack_campaigns WHERE id = ?", (campaign_id,))
        if row is None or row[0] is None:
            return None
        return bytes(row[0]), str(row[1] or "document")

    async def targets(self, campaign_id: int) -> list[Target]:
        rows = await self.db.fetchall(
            "SELECT person_id, role, class_label FROM ack_targets WHERE campaign_id = ? ORDER BY person_id",
            (campaign_id,),
        )
        return [Target(int(r[0]), r[1], r[2]) for r in rows]

    async def target(self, campaign_id: int, person_id: int) -> Target | None:
        row = await self.db.fetchone(
            "SELECT person_id, role, class_label FROM ack_targets WHERE campaign_id = ? AND person_id = ?",
            (campaign_id, person_id),
        )
        return None if row is None else Target(int(row[0]), row[1], row[2])

    async def confirmations(self, campaign_id: int) -> dict[int, Confirmation]:
        rows = await self.db.fetchall(
            "SELECT person_id, sha256, confirmed_at, channel FROM ack_confirmations WHERE campaign_id = ?",
            (campaign_id,),
        )
        return {int(r[0]): Confirmation(int(r[0]), r[1], from_db(r[2]), r[3]) for r in rows}

    async def reminded(self, campaign_id: int, class_label: str, day: date) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM ack_reminders WHERE campaign_id = ? AND class_label = ? AND day = ?",
            (campaign_id, class_label, day.isoformat()),
        )
        return row is not None

    # --- writes ----------------------------------------------------------------------------------

    @staticmethod
    async def insert(
        conn: Transaction, *, title: str, body: str, document: bytes | None, file_name: str | None,
        sha256: str, plan_item: str | None, audience: str, author_id: int | None, now: datetime,
        public_title: bool = False,
    ) -> int:
        conn = raw(conn)
        return await returning_id(
            conn,
            "INSERT INTO ack_campaigns(title, body, document, file_name, sha256, plan_item, audience, author_id,"
            " created_at, public_title) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (title, body, document, file_name, sha256, plan_item, audience, author_id, to_db(now), int(public_title)),
        )

    @staticmethod
    async def add_targets(conn: Transaction, campaign_id: int, rows: Iterable[Target]) -> None:
        conn = raw(conn)
        await conn.executemany(
            "INSERT INTO ack_targets(campaign_id, person_id, role, class_label) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(campaign_id, r.person_id, r.role, r.class_label) for r in rows],
        )

    @staticmethod
    async def confirm(
        conn: Transaction, campaign_id: int, person_id: int, sha256: str, channel: str, now: datetime
    ) -> bool:
        """The first confirmation stands (a second press changes nothing): True when it is new."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO ack_confirmations(campaign_id, person_id, sha256, confirmed_at, channel)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", (campaign_id, person_id, sha256, to_db(now), channel),
        )
        if cur.rowcount == 1:
            # Reminders still waiting for this person are dropped.
            await conn.execute(
                "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND dedupe_key LIKE ?",
                (f"ack:{campaign_id}:remind:{person_id}:%",),
            )
        return cur.rowcount == 1

    @staticmethod
    async def record_reminder(
        conn: Transaction, campaign_id: int, class_label: str, day: date, by_id: int | None,
        recipients: int, now: datetime,
    ) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO ack_reminders(campaign_id, class_label, day, by_id, recipients, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (campaign_id, class_label, day.isoformat(), by_id, recipients, to_db(now)),
        )
        return cur.rowcount == 1
