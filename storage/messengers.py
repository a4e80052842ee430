"""Which messengers a person is reachable on, which they prefer, and the send log (migration 015).

A person links a Telegram account (``persons.tg_user_id``), a MAX account (``persons.max_user_id``) or
both; the two ids are separate spaces and live in separate columns. ``send_log`` records every send
decision by channel and data class only, so it can be exported for an inspector as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.channels import Channel, DataClass
from storage.db import CURRENT_UPDATE, Database, fetchone_in
from storage.timefmt import from_db, to_db

OUTCOMES = ("sent", "pointer", "paper", "failed")


@dataclass(frozen=True)
class Reach:
    """A person's accounts per messenger and the channel they prefer."""

    person_id: int
    tg_user_id: int | None
    tg_reachable: bool
    max_user_id: int | None
    max_reachable: bool
    chosen: Channel | None

    @property
    def reachable(self) -> list[Channel]:
        found = []
        if self.tg_user_id is not None and self.tg_reachable:
            found.append(Channel.TELEGRAM)
        if self.max_user_id is not None and self.max_reachable:
            found.append(Channel.MAX)
        return found

    @property
    def preferred(self) -> Channel:
        """The chosen channel; unchosen: Telegram when linked there, else MAX."""
        if self.chosen is not None:
            return self.chosen
        return Channel.TELEGRAM if self.tg_user_id is not None or self.max_user_id is None else Channel.MAX

    def user_id(self, channel: Channel) -> int | None:
        return self.tg_user_id if channel is Channel.TELEGRAM else self.max_user_id


@dataclass(frozen=True)
class SendRecord:
    at: datetime
    channel: str
    data_class: DataClass
    outcome: str
    purpose: str = ""


_REACH = "SELECT id, tg_user_id, unreachable_at, max_user_id, max_unreachable_at, preferred_channel FROM persons"


def _reach(row: aiosqlite.Row) -> Reach:
    return Reach(
        person_id=row["id"],
        tg_user_id=row["tg_user_id"],
        tg_reachable=row["unreachable_at"] is None,
        max_user_id=row["max_user_id"],
        max_reachable=row["max_unreachable_at"] is None,
        chosen=Channel(row["preferred_channel"]) if row["preferred_channel"] else None,
    )


class MessengerRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reach(self, person_id: int) -> Reach | None:
        row = await self.db.fetchone(_REACH + " WHERE id = ?", (person_id,))
        return None if row is None else _reach(row)

    async def person_by_max(self, max_user_id: int) -> int | None:
        """The active person linked to this MAX account."""
        value = await self.db.fetchval("SELECT id FROM persons WHERE max_user_id = ? AND active = 1", (max_user_id,))
        return None if value is None else int(value)

    @staticmethod
    async def link_max(
        conn: aiosqlite.Connection, person_id: int, max_user_id: int, username: str | None, now: datetime
    ) -> None:
        """Link a MAX account to a person inside the caller's write transaction; an account linked to
        someone else before is moved (one MAX account is one person)."""
        stamp = to_db(now)
        await conn.execute(
            "UPDATE persons SET max_user_id = NULL, updated_at = ? WHERE max_user_id = ? AND id != ?",
            (stamp, max_user_id, person_id),
        )
        await conn.execute(
            "UPDATE persons SET max_user_id = ?, max_username = ?, max_linked_at = ?, max_unreachable_at = NULL,"
            " updated_at = ? WHERE id = ?",
            (max_user_id, username, stamp, stamp, person_id),
        )

    @staticmethod
    async def set_preferred(conn: aiosqlite.Connection, person_id: int, channel: Channel, now: datetime) -> bool:
        """Choose the channel messages go to; refused (False) when the person is not linked there."""
        column = "tg_user_id" if channel is Channel.TELEGRAM else "max_user_id"
        row = await fetchone_in(conn, f"SELECT {column} FROM persons WHERE id = ?", (person_id,))
        if row is None or row[0] is None:
            return False
        await conn.execute(
            "UPDATE persons SET preferred_channel = ?, updated_at = ? WHERE id = ?",
            (channel.value, to_db(now), person_id),
        )
        return True

    @staticmethod
    async def mark_max_unreachable(conn: aiosqlite.Connection, person_id: int, now: datetime) -> None:
        await conn.execute(
            "UPDATE persons SET max_unreachable_at = ?, updated_at = ? WHERE id = ?",
            (to_db(now), to_db(now), person_id),
        )

    @staticmethod
    async def log_send(
        conn: aiosqlite.Connection, channel: Channel | str, data_class: DataClass, outcome: str, now: datetime,
        purpose: str = "",
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown send outcome {outcome!r}")
        await conn.execute(
            "INSERT INTO send_log(at, channel, data_class, outcome, purpose) VALUES (?, ?, ?, ?, ?)",
            (to_db(now), str(channel), data_class.value, outcome, purpose),
        )

    async def record_send(
        self, channel: Channel | str, data_class: DataClass, outcome: str, purpose: str, now: datetime
    ) -> None:
        """One send, in a write transaction of its own. It is not the update's effect: the update's
        processed mark is left to the handler's own first write (storage/db.py), so logging a reply
        never changes what a redelivered update does."""
        token = CURRENT_UPDATE.set(None)
        try:
            async with self.db.transaction() as conn:
                await self.log_send(conn, channel, data_class, outcome, now, purpose)
        finally:
            CURRENT_UPDATE.reset(token)

    async def send_log(self, since: datetime | None = None) -> list[SendRecord]:
        rows = await self.db.fetchall(
            "SELECT at, channel, data_class, outcome, purpose FROM send_log WHERE at >= ? ORDER BY id",
            (to_db(since) if since is not None else "",),
        )
        return [
            SendRecord(from_db(r["at"]), r["channel"], DataClass(r["data_class"]), r["outcome"], r["purpose"])
            for r in rows
        ]

    async def people_per_channel(self) -> Counter[str]:
        """Active people (not the bootstrap admin) by where they are linked: telegram, max, both, none."""
        rows = await self.db.fetchall(
            "SELECT CASE"
            " WHEN tg_user_id IS NOT NULL AND max_user_id IS NOT NULL THEN 'both'"
            " WHEN tg_user_id IS NOT NULL THEN 'telegram'"
            " WHEN max_user_id IS NOT NULL THEN 'max'"
            " ELSE 'none' END AS reach, COUNT(*) AS n"
            " FROM persons WHERE active = 1 AND roster_key NOT LIKE 'admin:%' GROUP BY reach"
        )
        return Counter({row["reach"]: int(row["n"]) for row in rows})
