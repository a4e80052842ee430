"""Invitation codes, their deliveries, nudges and on-request rate limits.

Codes are secrets: this module is the only place that reads or writes `codes.code`, and nothing
here logs a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

# Codes' values are the domain's (bot/domain/codes.py), re-exported for storage's callers.
from bot.domain.codes import ROLE_GROUPS as ROLE_GROUPS
from bot.domain.codes import Code as Code
from bot.domain.codes import FunnelCounts as FunnelCounts
from bot.domain.codes import NewCode as NewCode
from bot.domain.codes import NudgeCandidate as NudgeCandidate
from bot.domain.codes import RoleGroup as RoleGroup
from bot.unit_of_work import Connection, Transaction, UnitOfWork
from storage.db import StorageError, database_of, fetchall_in, fetchone_in, raw
from storage.sql import Row
from storage.timefmt import from_db, opt_from_db, to_db

# Rounds of CodeRepo.insert: each lost round means another worker's code committed meanwhile.
REPLACE_ATTEMPTS = 5

_COLUMNS = (
    "id, person_id, role, class_label, code, status, source, created_at, ended_at, activated_at, activated_via"
)


def _code(row: Row) -> Code:
    return Code(
        id=row["id"],
        person_id=row["person_id"],
        role=row["role"],
        class_label=row["class_label"],
        code=row["code"],
        status=row["status"],
        source=row["source"],
        created_at=from_db(row["created_at"]),
        ended_at=opt_from_db(row["ended_at"]),
        activated_at=opt_from_db(row["activated_at"]),
        activated_via=row["activated_via"],
    )


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class CodeRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def get(self, code_id: int) -> Code | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM codes WHERE id = ?", (code_id,))
        return _code(row) if row else None

    async def active_for(self, person_ids: Iterable[int]) -> list[Code]:
        ids = list(person_ids)
        if not ids:
            return []
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM codes WHERE status = 'active' AND person_id IN ({_marks(ids)})"
            " ORDER BY person_id, role",
            ids,
        )
        return [_code(r) for r in rows]

    async def history(self, person_id: int) -> list[Code]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM codes WHERE person_id = ? ORDER BY id", (person_id,)
        )
        return [_code(r) for r in rows]

    async def for_print(
        self, class_label: str, *, role: RoleGroup, only_unlinked: bool
    ) -> list[tuple[Code, int]]:
        """Active codes for a class's print sheet, with the owner's id, by owner name: role
        "student" - the own codes of the pupils in the class now; role "parent" - the own codes of
        the parents of those pupils. `only_unlinked` keeps owners with no messenger account. Whether
        a code may be printed is not decided here (the consent gate does that)."""
        if role == "student":
            owners = "c.role = 'student' AND p.class_label = ?"
        else:
            owners = (
                "c.role = 'parent' AND c.person_id IN (SELECT g.parent_id FROM guardians g"
                " JOIN persons k ON k.id = g.child_id WHERE k.class_label = ? AND k.active = 1)"
            )
        rows = await self.db.fetchall(
            f"SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))} FROM codes c"
            " JOIN persons p ON p.id = c.person_id"
            f" WHERE c.status = 'active' AND p.active = 1 AND {owners}"
            " AND (? = 0 OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = p.id))"
            " ORDER BY p.full_name, p.id",
            (class_label, 1 if only_unlinked else 0),
        )
        return [(_code(r), r["person_id"]) for r in rows]

    async def holders(self) -> list[tuple[int, str, str | None]]:
        """(owner id, role, class) of every active code of an active person (no code values)."""
        rows = await self.db.fetchall(
            "SELECT c.person_id, c.role, c.class_label FROM codes c JOIN persons p ON p.id = c.person_id"
            " WHERE c.status = 'active' AND p.active = 1"
        )
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    async def deliveries(self, code_id: int, recipient_id: int) -> list[tuple[str | None, str | None]]:
        """(outbox key, outbox status) of the outbox deliveries of a code to a recipient, oldest first."""
        rows = await self.db.fetchall(
            "SELECT d.outbox_key, o.status FROM code_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.outbox_key"
            " WHERE d.code_id = ? AND d.recipient_id = ? AND d.outbox_key IS NOT NULL ORDER BY d.id",
            (code_id, recipient_id),
        )
        return [(r[0], r[1]) for r in rows]

    async def was_delivered_to(self, code_id: int, recipient_id: int) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM code_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.outbox_key"
            " WHERE d.code_id = ? AND d.recipient_id = ? AND (d.tg_message_id IS NOT NULL OR o.status = 'sent')",
            (code_id, recipient_id),
        )
        return row is not None

    async def nudge_candidates(self) -> list[NudgeCandidate]:
        """Active, not activated codes whose card reached a recipient, one per (code, recipient)."""
        rows = await self.db.fetchall(
            "SELECT d.code_id, d.recipient_id, min(o.sent_at) AS first_sent,"
            " (SELECT count(*) FROM code_nudges n WHERE n.code_id = d.code_id AND n.recipient_id = d.recipient_id)"
            "   AS nudges,"
            " (SELECT max(enqueued_at) FROM code_nudges n WHERE n.code_id = d.code_id"
            "   AND n.recipient_id = d.recipient_id) AS last_nudge"
            " FROM code_deliveries d JOIN outbox o ON o.dedupe_key = d.outbox_key"
            " JOIN codes c ON c.id = d.code_id"
            " WHERE o.status = 'sent' AND c.status = 'active' AND c.activated_at IS NULL"
            " GROUP BY d.code_id, d.recipient_id"
        )
        return [
            NudgeCandidate(int(r["code_id"]), int(r["recipient_id"]), int(r["nudges"]),
                           from_db(r["last_nudge"] or r["first_sent"]))
            for r in rows
        ]

    async def last_request(self, requester_id: int, target_id: int) -> datetime | None:
        value = await self.db.fetchval(
            "SELECT last_at FROM code_requests WHERE requester_id = ? AND target_id = ?", (requester_id, target_id)
        )
        return opt_from_db(value)

    async def funnel(self) -> list[FunnelCounts]:
        rows = await self.db.fetchall(
            "SELECT c.class_label, c.role, count(*) AS imported,"
            " sum(CASE WHEN EXISTS (SELECT 1 FROM code_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.outbox_key"
            "   WHERE d.code_id = c.id AND (d.tg_message_id IS NOT NULL OR o.status = 'sent')) THEN 1 ELSE 0 END)"
            "   AS delivered,"
            " sum(CASE WHEN c.activated_at IS NOT NULL THEN 1 ELSE 0 END) AS activated"
            " FROM codes c JOIN persons p ON p.id = c.person_id"
            " WHERE c.status = 'active' AND p.active = 1"
            " GROUP BY c.class_label, c.role"
        )
        return [
            FunnelCounts(r["class_label"], r["role"], int(r["imported"]), int(r["delivered"] or 0),
                         int(r["activated"] or 0))
            for r in rows
        ]

    # --- writes: call inside Database.transaction() with its connection -------------------------

    @staticmethod
    async def active_in(conn: Connection, person_ids: Iterable[int] | None = None) -> list[Code]:
        conn = raw(conn)
        if person_ids is None:
            rows = await fetchall_in(conn, f"SELECT {_COLUMNS} FROM codes WHERE status = 'active' ORDER BY id")
        else:
            ids = list(person_ids)
            if not ids:
                return []
            rows = await fetchall_in(
                conn,
                f"SELECT {_COLUMNS} FROM codes WHERE status = 'active' AND person_id IN ({_marks(ids)}) ORDER BY id",
                ids,
            )
        return [_code(r) for r in rows]

    @staticmethod
    async def get_in(conn: Connection, code_id: int) -> Code | None:
        conn = raw(conn)
        row = await fetchone_in(conn, f"SELECT {_COLUMNS} FROM codes WHERE id = ?", (code_id,))
        return _code(row) if row else None

    @staticmethod
    async def code_owners(conn: Connection, values: Iterable[str]) -> dict[str, int]:
        """Active code value -> owner id, for the values given."""
        conn = raw(conn)
        vals = list(values)
        if not vals:
            return {}
        rows = await fetchall_in(
            conn, f"SELECT code, person_id FROM codes WHERE status = 'active' AND code IN ({_marks(vals)})", vals
        )
        return {r[0]: r[1] for r in rows}

    @staticmethod
    async def insert(
        conn: Transaction, new: NewCode, *, source: str, now: datetime
    ) -> tuple[int, Code | None]:
        """Make `new` the person's active code for its role; the previous one, if any, is recorded
        as replaced. Returns (new id, the replaced code).

        Two workers giving one person a code at once (an import and a reissue; transactions side by
        side on PostgreSQL) both read the same active code, or none. Neither step trusts that read:
        the old code is retired only while it is still active, and the new one goes in only where no
        other is active (the partial unique index codes_one_active, ON CONFLICT DO NOTHING: the loser
        waits for the winner's commit and inserts nothing). Either miss means the other committed
        first, and the next round, in new statements that see its code, replaces that one: the
        outcome of the two run one after the other, never two active codes or a constraint error."""
        conn = raw(conn)
        for _ in range(REPLACE_ATTEMPTS):
            old_row = await fetchone_in(
                conn, f"SELECT {_COLUMNS} FROM codes WHERE person_id = ? AND role = ? AND status = 'active'",
                (new.person_id, new.role),
            )
            old = _code(old_row) if old_row else None
            if old is not None:
                cur = await conn.execute(
                    "UPDATE codes SET status = 'replaced', ended_at = ? WHERE id = ? AND status = 'active'",
                    (to_db(now), old.id),
                )
                if cur.rowcount != 1:
                    continue  # replaced meanwhile by another worker's code: that one is replaced next
            row = await fetchone_in(
                conn,
                "INSERT INTO codes(person_id, role, class_label, code, status, source, created_at)"
                " VALUES (?, ?, ?, ?, 'active', ?, ?)"
                " ON CONFLICT (person_id, role) WHERE status = 'active' DO NOTHING RETURNING id",
                (new.person_id, new.role, new.class_label, new.code, source, to_db(now)),
            )
            if row is None:
                continue  # another worker's code became active meanwhile: replace it
            new_id = int(row[0])
            if old is not None:
                await conn.execute("UPDATE codes SET replaced_by = ? WHERE id = ?", (new_id, old.id))
            return new_id, old
        raise StorageError(f"codes: person {new.person_id} ({new.role}) kept getting other codes")

    @staticmethod
    async def update_class(conn: Transaction, code_id: int, class_label: str | None) -> None:
        conn = raw(conn)
        await conn.execute("UPDATE codes SET class_label = ? WHERE id = ?", (class_label, code_id))

    @staticmethod
    async def revoke(conn: Transaction, code_id: int, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE codes SET status = 'revoked', ended_at = ? WHERE id = ? AND status = 'active'",
            (to_db(now), code_id),
        )
        if cur.rowcount != 1:
            return False
        # Cards of a revoked code that are still waiting must not go out.
        await CodeRepo.cancel_pending_deliveries(conn, [code_id])
        return True

    @staticmethod
    async def cancel_pending_deliveries(conn: Transaction, code_ids: Sequence[int]) -> int:
        """Cancel the outbox messages of these codes that have not gone out yet (cards, nudges)."""
        conn = raw(conn)
        ids = list(code_ids)
        if not ids:
            return 0
        cur = await conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND (dedupe_key IN"
            f" (SELECT outbox_key FROM code_deliveries WHERE code_id IN ({_marks(ids)}))"
            f" OR dedupe_key IN (SELECT 'code:' || code_id || ':' || recipient_id || ':nudge' || n FROM code_nudges"
            f"   WHERE code_id IN ({_marks(ids)})))",
            [*ids, *ids],
        )
        return cur.rowcount

    @staticmethod
    async def mark_activated(conn: Transaction, code_id: int, via: str, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "UPDATE codes SET activated_at = ?, activated_via = ? WHERE id = ? AND activated_at IS NULL",
            (to_db(now), via, code_id),
        )
        return cur.rowcount == 1

    @staticmethod
    async def delivery_keys(
        conn: Connection, code_id: int, recipient_id: int
    ) -> list[tuple[str, str | None]]:
        """(outbox key, status) of the cards the bot sent of its own accord (a card a person asked for
        is an answer to their press, queued under its own key: it does not stand for these)."""
        conn = raw(conn)
        rows = await fetchall_in(
            conn,
            "SELECT d.outbox_key, o.status FROM code_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.outbox_key"
            " WHERE d.code_id = ? AND d.recipient_id = ? AND d.outbox_key IS NOT NULL AND d.reason <> 'request'"
            " ORDER BY d.id",
            (code_id, recipient_id),
        )
        return [(r[0], r[1]) for r in rows]

    @staticmethod
    async def record_delivery(
        conn: Transaction,
        *,
        code_id: int,
        recipient_id: int,
        reason: str,
        now: datetime,
        outbox_key: str | None = None,
        tg_message_id: int | None = None,
    ) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO code_deliveries(code_id, recipient_id, reason, outbox_key, tg_message_id,"
            " enqueued_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (code_id, recipient_id, reason, outbox_key, tg_message_id, to_db(now)),
        )

    @staticmethod
    async def record_nudge(conn: Transaction, code_id: int, recipient_id: int, n: int, now: datetime) -> bool:
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO code_nudges(code_id, recipient_id, n, enqueued_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (code_id, recipient_id, n, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def last_nudge_to(conn: Connection, recipient_id: int) -> datetime | None:
        """When the latest activation reminder to this person was enqueued (any code)."""
        conn = raw(conn)
        cur = await conn.execute("SELECT max(enqueued_at) FROM code_nudges WHERE recipient_id = ?", (recipient_id,))
        row = await cur.fetchone()
        await cur.close()
        return opt_from_db(row[0]) if row else None

    @staticmethod
    async def touch_request(conn: Transaction, requester_id: int, target_id: int, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO code_requests(requester_id, target_id, last_at) VALUES (?, ?, ?)"
            " ON CONFLICT(requester_id, target_id) DO UPDATE SET last_at = excluded.last_at",
            (requester_id, target_id, to_db(now)),
        )

    @staticmethod
    async def cancel_pending_for(conn: Transaction, recipient_ids: Iterable[int]) -> int:
        conn = raw(conn)
        ids = list(recipient_ids)
        if not ids:
            return 0
        cur = await conn.execute(
            f"UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND dedupe_key LIKE 'code:%'"
            f" AND person_id IN ({_marks(ids)})",
            ids,
        )
        return cur.rowcount
