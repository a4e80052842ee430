"""Messenger accounts (migration 017): one row per (channel, user id), linked to at most one person.

Every lookup of a person by a messenger user, every link, move, unlink and "the messenger refused
delivery" mark goes through these rows; no code reads a per-messenger column. A new messenger is a
``bot.channels.Channel`` value: nothing here names one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from datetime import datetime

from bot.channels import Channel
from bot.domain.people import Account
from bot.reach import Via
from bot.unit_of_work import Connection, Transaction
from storage.db import fetchone_in, raw
from storage.sql import Row
from storage.timefmt import from_db, to_db

_ORDER = {channel.value: index for index, channel in enumerate(Channel)}
# The column that records an account's writing through each of a school's bots (migration 040).
_VIA_COLUMN = {Via.OWN: "via_own_at", Via.DISTRICT: "via_district_at"}

CURRENT_VIA: contextvars.ContextVar[Via | None] = contextvars.ContextVar("current_via", default=None)
"""The school's bot the update being handled came through, in a district (bot/tg/reached.py): an
account linked while it is handled is recorded as reached through that bot by the link itself, in
the link's transaction, so what the link enqueues (a code card) goes by a bot that reaches it."""

# A person's accounts come as rows joined to theirs (storage.people, storage.messengers) and are
# grouped there: each engine aggregates rows into one value its own way.


def account_of(row: Row, id_column: str = "id") -> Account:
    """The account in a row of `accounts` columns (its id under `id_column`)."""
    reason = row["unreachable_reason"]
    if row["unreachable_at"] is not None and reason is None:
        reason = "refused"
    linked = from_db(row["linked_at"]) if row["linked_at"] else None
    return Account(
        int(row[id_column]), str(row["channel"]), int(row["user_id"]), row["username"], reason, linked,
        via_own=row["via_own_at"] is not None, via_district=row["via_district_at"] is not None,
    )


def in_channel_order(accounts: Iterable[Account]) -> tuple[Account, ...]:
    return tuple(sorted(accounts, key=lambda a: (_ORDER.get(a.channel, len(_ORDER)), a.channel)))


class AccountRepo:
    """Writes take the caller's write-transaction connection."""

    @staticmethod
    async def find(conn: Connection, channel: Channel, user_id: int) -> int | None:
        """The id of the account (channel, user_id), None when the bot has never seen it."""
        conn = raw(conn)
        row = await fetchone_in(
            conn, "SELECT id FROM accounts WHERE channel = ? AND user_id = ?", (channel.value, user_id)
        )
        return None if row is None else int(row[0])

    @staticmethod
    async def ensure(conn: Transaction, channel: Channel, user_id: int, now: datetime) -> int:
        """The id of the account (channel, user_id), created linked to nobody when it is new."""
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO accounts(channel, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (channel.value, user_id, to_db(now)),
        )
        found = await AccountRepo.find(conn, channel, user_id)
        assert found is not None
        return found

    @staticmethod
    async def link(
        conn: Transaction, person_id: int, channel: Channel, user_id: int, username: str | None,
        now: datetime,
    ) -> int:
        """Link the account to ``person_id``: an account linked to someone else before moves (one
        account is one person); the person's earlier account on the same messenger is let go (one
        account per messenger per person). Linking again clears a refusal. Returns the account id."""
        conn = raw(conn)
        account_id = await AccountRepo.ensure(conn, channel, user_id, now)
        stamp = to_db(now)
        await conn.execute(
            "UPDATE accounts SET person_id = NULL, linked_at = NULL WHERE person_id = ? AND channel = ? AND id != ?",
            (person_id, channel.value, account_id),
        )
        await conn.execute(
            "UPDATE accounts SET person_id = ?, username = ?, linked_at = ?, unreachable_at = NULL,"
            " unreachable_reason = NULL WHERE id = ?",
            (person_id, username, stamp, account_id),
        )
        via = CURRENT_VIA.get()
        if via is not None:
            await AccountRepo.reached_through(conn, account_id, via, now)
        await conn.execute("UPDATE persons SET updated_at = ? WHERE id = ?", (stamp, person_id))
        return account_id

    @staticmethod
    async def unlink(conn: Transaction, account_id: int) -> None:
        """The account belongs to nobody any more (the row stays: ledger rows and tokens name it)."""
        conn = raw(conn)
        await conn.execute("UPDATE accounts SET person_id = NULL, linked_at = NULL WHERE id = ?", (account_id,))

    @staticmethod
    async def mark_unreachable(conn: Transaction, account_id: int, reason: str, now: datetime) -> None:
        """The messenger refuses delivery to this account (blocked, stopped, chat gone)."""
        conn = raw(conn)
        await conn.execute(
            "UPDATE accounts SET unreachable_at = ?, unreachable_reason = ? WHERE id = ?",
            (to_db(now), reason[:200], account_id),
        )

    @staticmethod
    async def reached_through(conn: Transaction, account_id: int, via: Via, now: datetime) -> None:
        """The account wrote to the school through ``via``: that bot reaches it. Writing to a bot also
        undoes a refusal (a user who blocked a bot must unblock it to write), so the mark goes too."""
        conn = raw(conn)
        column = _VIA_COLUMN[via]
        await conn.execute(
            f"UPDATE accounts SET {column} = coalesce({column}, ?), unreachable_at = NULL, unreachable_reason = NULL"
            " WHERE id = ?",
            (to_db(now), account_id),
        )

    @staticmethod
    async def refused_through(conn: Transaction, account_id: int, via: Via) -> None:
        """``via`` was refused delivery to the account: it no longer counts as reaching it (its other
        bot, if it wrote through that one, takes its messages)."""
        conn = raw(conn)
        await conn.execute(f"UPDATE accounts SET {_VIA_COLUMN[via]} = NULL WHERE id = ?", (account_id,))
