"""One-time link tokens for `/start <token>`. Only their sha256 is stored."""

from __future__ import annotations

import hashlib
from datetime import datetime

# These values are the domain's (bot/domain/tokens.py), re-exported for storage's callers.
from bot.domain.tokens import LinkToken as LinkToken
from bot.unit_of_work import Connection, Transaction
from storage.db import fetchone_in, raw
from storage.timefmt import from_db, to_db


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenRepo:
    @staticmethod
    async def create(
        conn: Transaction,
        *,
        token: str,
        purpose: str,
        person_id: int | None,
        created_by: int | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO link_tokens(token_hash, purpose, person_id, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash(token), purpose, person_id, created_by, to_db(now), to_db(expires_at)),
        )

    @staticmethod
    async def get(conn: Connection, token: str) -> LinkToken | None:
        conn = raw(conn)
        row = await fetchone_in(
            conn,
            "SELECT purpose, person_id, expires_at, used_at FROM link_tokens WHERE token_hash = ?",
            (token_hash(token),),
        )
        if row is None:
            return None
        return LinkToken(
            purpose=row["purpose"],
            person_id=row["person_id"],
            expires_at=from_db(row["expires_at"]),
            used=row["used_at"] is not None,
        )

    @staticmethod
    async def use(conn: Transaction, token: str, account_id: int, now: datetime) -> bool:
        """Spend the token by the messenger account ``account_id`` (storage.accounts); False when it
        was already spent (by a concurrent /start)."""
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE link_tokens SET used_at = ?, used_by_account = ? WHERE token_hash = ? AND used_at IS NULL",
            (to_db(now), account_id, token_hash(token)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def admin_grant_for(conn: Connection, account_id: int, since: datetime) -> bool:
        """Whether this account spent an admin token at or after `since`: it may then choose which
        roster IT officer it is."""
        conn = raw(conn)
        row = await fetchone_in(
            conn,
            "SELECT 1 FROM link_tokens WHERE purpose = 'admin' AND used_by_account = ? AND used_at >= ? LIMIT 1",
            (account_id, to_db(since)),
        )
        return row is not None
