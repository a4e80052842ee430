"""Consent repository: document versions, the append-only decision ledger, nudges and class
reminders. Reads take a connection (`db.conn` outside a transaction, the transaction's own inside
one) so that a decision re-checks the current state inside the same write transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

# The ledger's values are the domain's (bot/domain/ledger.py), re-exported for storage's callers.
from bot.domain.ledger import Channel as Channel
from bot.domain.ledger import LedgerRow as LedgerRow
from bot.domain.ledger import NewDecision as NewDecision
from bot.domain.ledger import Version as Version
from bot.domain.ops import CarryOverError as CarryOverError  # re-exported: the restore's error
from bot.domain.ops import CarrySet
from bot.unit_of_work import Connection, Transaction
from storage import chain, dialect
from storage.db import INTEGRITY_ERRORS, StorageError, fetchall_in, fetchone_in, raw
from storage.sql import Row, SqlConn
from storage.timefmt import from_db, to_db

# A number lost to another worker's publication is taken again; each loss means one more version
# committed meanwhile, so a few attempts are plenty.
NUMBER_ATTEMPTS = 5

Decision = Literal["given", "declined", "withdrawn"]
DECISIONS: tuple[Decision, ...] = ("given", "declined", "withdrawn")


def _version(row: Row) -> Version:
    return Version(row["number"], row["sha256"], row["text"], row["text_en"], from_db(row["published_at"]))


def _ledger(row: Row) -> LedgerRow:
    return LedgerRow(
        id=row["id"],
        receipt_id=row["receipt_id"],
        parent_id=row["parent_id"],
        child_id=row["child_id"],
        decision=row["decision"],
        version=row["version"],
        sha256=row["sha256"],
        channel=row["channel"],
        user_id=next((row[c] for c in ("user_id", "tg_user_id", "max_user_id") if row[c] is not None), None),
        tg_update_id=row["tg_update_id"],
        tg_callback_id=row["tg_callback_id"],
        recorded_by=row["recorded_by"],
        paper_date=date.fromisoformat(row["paper_date"]) if row["paper_date"] else None,
        created_at=from_db(row["created_at"]),
    )


async def _append(conn: SqlConn, values: tuple[object, ...]) -> bool:
    # On PostgreSQL two transactions append at once: the head is read locked (FOR UPDATE), so the
    # second waits for the first to commit and chains onto its row instead of onto the same head (its
    # trigger would refuse that row). SQLite's write transactions are serial, and it has no FOR UPDATE.
    lock = " FOR UPDATE" if dialect.dialect(conn) == "postgres" else ""
    head = await fetchone_in(conn, f"SELECT last_hash FROM consent_ledger_head WHERE id = 1{lock}")
    prev = str(head[0]) if head else chain.GENESIS
    cur = await conn.execute(
        f"INSERT INTO consent_ledger({', '.join(chain.COLUMNS)}, prev_hash, row_hash)"
        f" VALUES ({', '.join('?' * (len(chain.COLUMNS) + 2))})"
        " ON CONFLICT(tg_callback_id, child_id) DO NOTHING",
        (*values, prev, chain.row_hash(prev, values)),
    )
    return cur.rowcount == 1


# --- carrying receipts over into a restored database ------------------------------------------


async def _insert_raw(conn: SqlConn, table: str, row: dict[str, object]) -> None:
    names = [c for c in await dialect.columns(conn, table) if c in row]
    await conn.execute(
        f"INSERT INTO {table}({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", [row[c] for c in names]
    )


class ConsentRepo:
    """The consent tables, read and written on the caller's connection (every call may run inside
    its transaction)."""

    # --- versions -----------------------------------------------------------------------------------
    @staticmethod
    async def current_version(conn: Connection) -> Version | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT * FROM consent_versions ORDER BY number DESC LIMIT 1")
        return _version(row) if row else None

    @staticmethod
    async def get_version(conn: Connection, number: int) -> Version | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT * FROM consent_versions WHERE number = ?", (number,))
        return _version(row) if row else None

    @staticmethod
    async def insert_version(
        conn: Transaction, *, sha256: str, text: str, text_en: str | None, now: datetime, by: int | None
    ) -> int:
        """Call inside a transaction; numbers the version one past the newest.

        The number is taken by the INSERT itself, not read before it: two workers publishing at once
        on PostgreSQL (transactions side by side) would both read the same newest number. The loser
        of the number waits for the winner's commit (the primary key), inserts nothing
        (ON CONFLICT DO NOTHING) and takes the next number in a new statement, which sees the winner's
        row: each publication gets its own version, as if they had run one after the other. (The
        `WHERE true` lets SQLite read ON CONFLICT as the upsert clause, not as a join's ON.)"""
        conn = raw(conn)
        for _ in range(NUMBER_ATTEMPTS):
            row = await fetchone_in(
                conn,
                "INSERT INTO consent_versions(number, sha256, text, text_en, published_at, published_by)"
                " SELECT coalesce(max(number), 0) + 1, ?, ?, ?, ?, ? FROM consent_versions WHERE true"
                " ON CONFLICT (number) DO NOTHING RETURNING number",
                (sha256, text, text_en, to_db(now), by),
            )
            if row is not None:
                return int(row[0])
        raise StorageError(f"consent_versions: no free number after {NUMBER_ATTEMPTS} attempts")

    @staticmethod
    async def insert_first_version(
        conn: Transaction, *, sha256: str, text: str, text_en: str | None, now: datetime, by: int | None
    ) -> bool:
        """Version 1 unless the school has one already (call inside a transaction). Several workers may
        need the document at once on a school that has none yet: one publishes it, the others find
        it (False), and the school never gets the shipped text twice as versions 1 and 2."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_versions(number, sha256, text, text_en, published_at, published_by)"
            " VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING",
            (sha256, text, text_en, to_db(now), by),
        )
        return cur.rowcount == 1

    # --- ledger -------------------------------------------------------------------------------------
    @staticmethod
    async def insert_decision(conn: Connection, d: NewDecision) -> bool:
        """Append one row, chained onto the ledger head (call inside a write transaction); False when
        this callback query already recorded a row for this child."""
        conn = raw(conn)
        values = (
            d.receipt_id, d.parent_id, d.child_id, d.decision, d.version, d.sha256, d.channel,
            # tg_user_id and max_user_id are history (migration 019): a new row names its account
            # in user_id, whatever the messenger.
            None, d.tg_update_id, d.tg_callback_id, d.recorded_by,
            d.paper_date.isoformat() if d.paper_date else None, to_db(d.created_at), None, d.user_id,
        )
        return await _append(conn, values)

    @staticmethod
    async def carry_over(conn: Transaction, carry: CarrySet) -> list[str]:
        """Re-append `carry.ledger` (rows from another copy of this database) at the end of this ledger,
        chained, with the document versions and people they name where this copy lacks them. Call inside
        a write transaction; raises CarryOverError (the caller rolls back) when this copy holds a
        different version or person under the same number. Returns the receipts appended."""
        conn = raw(conn)
        for v in carry.versions:
            row = await fetchone_in(conn, "SELECT sha256 FROM consent_versions WHERE number = ?", (v["number"],))
            if row is None:
                await _insert_raw(conn, "consent_versions", v)
            elif row[0] != v["sha256"]:
                raise CarryOverError("version", v["number"])
        for p in carry.persons:
            row = await fetchone_in(conn, "SELECT roster_key FROM persons WHERE id = ?", (p["id"],))
            if row is None:
                try:
                    await _insert_raw(conn, "persons", p)
                except INTEGRITY_ERRORS:
                    raise CarryOverError("person", p["id"], str(p["full_name"])) from None
            elif row[0] != p["roster_key"]:
                raise CarryOverError("person", p["id"], str(p["full_name"]))
        for person_id, role in carry.roles:
            await conn.execute(
                "INSERT INTO person_roles(person_id, role) VALUES (?, ?) ON CONFLICT DO NOTHING", (person_id, role)
            )
        for parent_id, child_id in carry.guardians:
            # A link whose two people are both here (checked first: PostgreSQL cannot tell the types of
            # bare parameters in an INSERT ... SELECT).
            both = await fetchone_in(
                conn,
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM persons WHERE id = ?)"
                " AND EXISTS (SELECT 1 FROM persons WHERE id = ?)",
                (parent_id, child_id),
            )
            if both is not None:
                await conn.execute(
                    "INSERT INTO guardians(parent_id, child_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (parent_id, child_id),
                )
        appended: list[str] = []
        for r in carry.ledger:
            # A backup made before migration 016 (019) has no max_user_id (user_id): its rows carry none.
            if not await _append(conn, tuple(r.get(c) for c in chain.COLUMNS)):
                raise CarryOverError("duplicate", r["receipt_id"])
            appended.append(str(r["receipt_id"]))
        return appended

    # --- the hash chain -----------------------------------------------------------------------------
    @staticmethod
    async def chain_rows(conn: Connection) -> list[chain.ChainRow]:
        conn = raw(conn)
        rows = await fetchall_in(
            conn, f"SELECT id, prev_hash, row_hash, {', '.join(chain.COLUMNS)} FROM consent_ledger ORDER BY id"
        )
        return [
            chain.ChainRow(
                id=int(r["id"]), receipt_id=str(r["receipt_id"]), prev_hash=r["prev_hash"], row_hash=r["row_hash"],
                values=tuple(r[c] for c in chain.COLUMNS),
            )
            for r in rows
        ]

    @staticmethod
    async def chain_head(conn: Connection) -> chain.ChainHead | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT rows, last_receipt, last_hash FROM consent_ledger_head WHERE id = 1")
        return chain.ChainHead(int(row[0]), row[1], str(row[2])) if row else None

    @staticmethod
    async def latest(
        conn: Connection, version: int, child_ids: Iterable[int] | None = None
    ) -> dict[int, LedgerRow]:
        """Each child's latest decision on `version` (children without one are absent)."""
        conn = raw(conn)
        sql = (
            "SELECT l.* FROM consent_ledger l WHERE l.version = ? AND l.id = ("
            " SELECT max(x.id) FROM consent_ledger x WHERE x.version = l.version AND x.child_id = l.child_id)"
        )
        params: list[object] = [version]
        if child_ids is not None:
            ids = list(child_ids)
            if not ids:
                return {}
            sql += f" AND l.child_id IN ({','.join('?' * len(ids))})"
            params += ids
        return {r.child_id: r for r in map(_ledger, await fetchall_in(conn, sql, params))}

    @staticmethod
    async def standing(
        conn: Connection, version: int, child_ids: Iterable[int] | None = None
    ) -> dict[int, list[LedgerRow]]:
        """child id -> each representative's latest decision on `version` (one row per parent; a
        paper row without a parent counts as one more): what bot.domain.consent's family rule reads.
        Children without a decision are absent."""
        conn = raw(conn)
        sql = (
            "SELECT l.* FROM consent_ledger l WHERE l.id IN ("
            " SELECT max(x.id) FROM consent_ledger x WHERE x.version = ?"
            " GROUP BY x.child_id, coalesce(x.parent_id, -1))"
        )
        params: list[object] = [version]
        if child_ids is not None:
            ids = list(child_ids)
            if not ids:
                return {}
            sql += f" AND l.child_id IN ({','.join('?' * len(ids))})"
            params += ids
        out: dict[int, list[LedgerRow]] = {}
        for row in map(_ledger, await fetchall_in(conn, sql + " ORDER BY l.id", params)):
            out.setdefault(row.child_id, []).append(row)
        return out

    @staticmethod
    async def ledger_rows(conn: Connection, child_id: int | None = None) -> list[LedgerRow]:
        conn = raw(conn)
        if child_id is None:
            rows = await fetchall_in(conn, "SELECT * FROM consent_ledger ORDER BY id")
        else:
            rows = await fetchall_in(conn, "SELECT * FROM consent_ledger WHERE child_id = ? ORDER BY id", (child_id,))
        return [_ledger(r) for r in rows]

    @staticmethod
    async def by_receipt(conn: Connection, receipt_id: str) -> LedgerRow | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT * FROM consent_ledger WHERE receipt_id = ?", (receipt_id,))
        return _ledger(row) if row else None

    @staticmethod
    async def rows_for_callback(conn: Connection, callback_id: str) -> list[LedgerRow]:
        conn = raw(conn)
        rows = await fetchall_in(
            conn, "SELECT * FROM consent_ledger WHERE tg_callback_id = ? ORDER BY id", (callback_id,)
        )
        return [_ledger(r) for r in rows]

    @staticmethod
    async def parents_who_declined(conn: Connection, version: int) -> set[int]:
        conn = raw(conn)
        rows = await fetchall_in(
            conn,
            "SELECT DISTINCT parent_id FROM consent_ledger WHERE version = ? AND decision = 'declined'"
            " AND parent_id IS NOT NULL",
            (version,),
        )
        return {int(r[0]) for r in rows}

    # --- side effects of a withdrawal -----------------------------------------------------------------
    @staticmethod
    async def cancel_pending_nudges(conn: Transaction, parent_id: int) -> None:
        """A parent who has decided must not get a reminder that was queued for later."""
        conn = raw(conn)
        await conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND person_id = ?"
            " AND (dedupe_key LIKE 'consent-nudge:%' OR dedupe_key LIKE 'consent-remind:%')",
            (parent_id,),
        )

    @staticmethod
    async def undecided_parent_ids(conn: Connection, version: int) -> set[int]:
        """Parents with an active child that has no decision on `version`, who have made no decision on
        it themselves (one query: the sweep runs every minute)."""
        conn = raw(conn)
        rows = await fetchall_in(
            conn,
            "SELECT DISTINCT g.parent_id FROM guardians g JOIN persons c ON c.id = g.child_id AND c.active = 1"
            " WHERE NOT EXISTS (SELECT 1 FROM consent_ledger l WHERE l.version = ? AND l.child_id = g.child_id)"
            " AND NOT EXISTS (SELECT 1 FROM consent_ledger l WHERE l.version = ? AND l.parent_id = g.parent_id)",
            (version, version),
        )
        return {int(r[0]) for r in rows}

    # --- nudges -------------------------------------------------------------------------------------
    @staticmethod
    async def nudges(conn: Connection, version: int) -> dict[int, dict[int, datetime]]:
        """parent id -> {n: due_at} of the reminders already scheduled for `version`."""
        conn = raw(conn)
        out: dict[int, dict[int, datetime]] = {}
        for row in await fetchall_in(
            conn, "SELECT parent_id, n, due_at FROM consent_nudges WHERE version = ?", (version,)
        ):
            out.setdefault(int(row["parent_id"]), {})[int(row["n"])] = from_db(row["due_at"])
        return out

    @staticmethod
    async def record_nudge(conn: Transaction, version: int, parent_id: int, n: int, due_at: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_nudges(version, parent_id, n, due_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (version, parent_id, n, to_db(due_at)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def class_reminder(conn: Connection, version: int, class_label: str) -> datetime | None:
        conn = raw(conn)
        row = await fetchone_in(
            conn,
            "SELECT sent_at FROM consent_class_reminders WHERE version = ? AND class_label = ?",
            (version, class_label),
        )
        return from_db(row[0]) if row else None

    @staticmethod
    async def record_class_reminder(
        conn: Transaction, version: int, class_label: str, sent_by: int, now: datetime
    ) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_class_reminders(version, class_label, sent_by, sent_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (version, class_label, sent_by, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def nudges_of(conn: Connection, version: int, parent_id: int) -> dict[int, datetime]:
        """{n: due_at} of the consent reminders scheduled for one parent and `version`."""
        conn = raw(conn)
        rows = await fetchall_in(
            conn, "SELECT n, due_at FROM consent_nudges WHERE version = ? AND parent_id = ?", (version, parent_id)
        )
        return {int(row["n"]): from_db(row["due_at"]) for row in rows}
