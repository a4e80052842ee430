"""Which messengers a person is reachable on, which they prefer, and the send log (migration 015).

A person's messenger accounts are rows of ``accounts`` (migration 017, storage.accounts), one per
messenger at most; ``Reach`` is that view of a person for routing. ``send_log`` records every send
decision by channel and data class only, so it can be exported for an inspector as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from bot.channels import Channel, DataClass
from bot.domain.people import Account

# These values are the kernel's (bot/reach.py), re-exported for storage's callers.
from bot.reach import Reach as Reach
from bot.reach import SendRecord as SendRecord
from bot.unit_of_work import Transaction, UnitOfWork
from storage.accounts import account_of, in_channel_order
from storage.db import CURRENT_UPDATE, database_of, fetchone_in, raw
from storage.dialect import rows_for_ids
from storage.sql import Row
from storage.timefmt import from_db, to_db

OUTCOMES = ("sent", "pointer", "paper", "failed")


# A person with their accounts, one row per account (or one without), grouped in `_reaches`.
_REACH = (
    "SELECT p.id, p.preferred_channel, a.id AS account_id, a.channel, a.user_id, a.username,"
    " a.unreachable_reason, a.unreachable_at, a.linked_at,"
    " a.via_own_at, a.via_district_at FROM persons p LEFT JOIN accounts a ON a.person_id = p.id"
)


def _chosen(value: str | None) -> Channel | None:
    try:
        return Channel(value) if value else None
    except ValueError:  # a messenger this build no longer serves: as if unchosen
        return None


def _reaches(rows: Iterable[Row]) -> dict[int, Reach]:
    first: dict[int, Row] = {}
    accounts: dict[int, list[Account]] = {}
    for row in rows:
        pid = int(row["id"])
        first.setdefault(pid, row)
        if row["account_id"] is not None:
            accounts.setdefault(pid, []).append(account_of(row, "account_id"))
    return {
        pid: Reach(person_id=pid, accounts=in_channel_order(accounts.get(pid, ())),
                   chosen=_chosen(row["preferred_channel"]))
        for pid, row in first.items()
    }


class MessengerRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def reach(self, person_id: int) -> Reach | None:
        return _reaches(await self.db.fetchall(_REACH + " WHERE p.id = ?", (person_id,))).get(person_id)

    async def reaches(self, person_ids: Iterable[int]) -> dict[int, Reach]:
        """``reach`` for many people in one query (the sender routes a round of rows with it)."""
        ids = sorted(set(person_ids))
        if not ids:
            return {}
        return _reaches(await rows_for_ids(self.db.fetchall, _REACH + " WHERE p.id IN ({ids})", ids))

    @staticmethod
    async def set_preferred(conn: Transaction, person_id: int, channel: Channel, now: datetime) -> bool:
        """Choose the channel messages go to; refused (False) when the person is not linked there."""
        conn = raw(conn)
        row = await fetchone_in(
            conn, "SELECT 1 FROM accounts WHERE person_id = ? AND channel = ?", (person_id, channel.value)
        )
        if row is None:
            return False
        await conn.execute(
            "UPDATE persons SET preferred_channel = ?, updated_at = ? WHERE id = ?",
            (channel.value, to_db(now), person_id),
        )
        return True

    @staticmethod
    async def log_send(
        conn: Transaction, channel: Channel | str, data_class: DataClass, outcome: str, now: datetime,
        purpose: str = "",
    ) -> None:
        conn = raw(conn)
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
        """Active people (not the bootstrap admin) by where they are linked: a channel's value when
        on that messenger alone, 'both' (several), 'none'."""
        rows = await self.db.fetchall(
            "SELECT CASE count(a.id) WHEN 0 THEN 'none' WHEN 1 THEN min(a.channel) ELSE 'both' END AS reach"
            " FROM persons p LEFT JOIN accounts a ON a.person_id = p.id"
            " WHERE p.active = 1 AND p.roster_key NOT LIKE 'admin:%' GROUP BY p.id"
        )
        return Counter(str(row["reach"]) for row in rows)
