"""What the database holds about one person (152-FZ art. 14: a subject's own data).

`references` finds every table that names a person, by the schema itself (each foreign key to
persons, plus the id columns kept without one so they outlive a purge), so a table another
capability adds later is counted without anyone remembering to list it here. The other reads are
the details the report spells out."""

from __future__ import annotations

# These values are the domain's (bot/domain/subject.py), re-exported for storage's callers.
from bot.domain.subject import CodeEntry as CodeEntry
from bot.domain.subject import LedgerEntry as LedgerEntry
from bot.domain.subject import Reference as Reference
from bot.domain.subject import SentEntry as SentEntry
from bot.domain.subject import TicketEntry as TicketEntry
from bot.unit_of_work import UnitOfWork
from storage import dialect
from storage.db import database_of, fetchall_in
from storage.sql import Row
from storage.timefmt import from_db, opt_from_db

# Id columns that name a person without a foreign key (they must outlive a purge).
UNLINKED_REFERENCES: tuple[tuple[str, str], ...] = (
    ("access_log", "actor"),
    ("destruction_records", "person_id"),
)


class SubjectRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def references(self, person_id: int) -> list[Reference]:
        conn = self.db.conn
        tables = await dialect.tables(conn)
        pairs = await dialect.references_to(conn, "persons")
        pairs += [(t, c) for t, c in UNLINKED_REFERENCES if t in tables]
        pairs.append(("persons", "id"))
        found = []
        for table, column in pairs:
            row = await self.db.fetchone(f"SELECT count(*) FROM {table} WHERE {column} = ?", (person_id,))
            if row is not None and row[0]:
                found.append(Reference(table, column, int(row[0])))
        return found

    async def person_row(self, person_id: int) -> dict[str, object] | None:
        row = await self.db.fetchone("SELECT * FROM persons WHERE id = ?", (person_id,))
        return {k: row[k] for k in row.keys()} if row is not None else None  # noqa: SIM118

    async def accounts(self, person_id: int) -> list[tuple[str, int, str | None]]:
        """(channel, user id, username) of each messenger account: rows of `accounts` (#23) where
        that table exists, the persons columns where they still do."""
        conn = self.db.conn
        tables = await dialect.tables(conn)
        found: list[tuple[str, int, str | None]] = []
        if "accounts" in tables:
            for r in await fetchall_in(
                conn, "SELECT channel, user_id, username FROM accounts WHERE person_id = ? ORDER BY id", (person_id,)
            ):
                found.append((str(r[0]), int(r[1]), r[2]))
        row = await self.person_row(person_id) or {}
        for channel, uid, name in (("telegram", "tg_user_id", "tg_username"), ("max", "max_user_id", "max_username")):
            value = row.get(uid)
            if isinstance(value, int) and (channel, value) not in {(c, u) for c, u, _ in found}:
                username = row.get(name)
                found.append((channel, value, str(username) if username else None))
        return found

    async def ledger(self, person_id: int, child_ids: list[int]) -> list[LedgerEntry]:
        marks = ",".join("?" * len(child_ids)) or "NULL"
        rows = await self.db.fetchall(
            "SELECT l.*, p.full_name AS child_name FROM consent_ledger l JOIN persons p ON p.id = l.child_id"
            f" WHERE l.parent_id = ? OR l.child_id = ? OR l.child_id IN ({marks}) ORDER BY l.id",
            (person_id, person_id, *child_ids),
        )
        return [_ledger(r, person_id) for r in rows]

    async def tickets(self, person_id: int) -> list[TicketEntry]:
        rows = await self.db.fetchall(
            "SELECT created_at, text, status, answer, answered_at FROM tickets WHERE asker_id = ? ORDER BY id",
            (person_id,),
        )
        return [TicketEntry(from_db(r["created_at"]), r["text"], r["status"], r["answer"],
                            opt_from_db(r["answered_at"])) for r in rows]

    async def sent(self, person_id: int) -> list[SentEntry]:
        rows = await self.db.fetchall(
            "SELECT o.created_at, o.sent_at, a.channel, o.data_class, o.kind, o.status FROM outbox o"
            " LEFT JOIN accounts a ON a.id = o.account_id WHERE o.person_id = ? ORDER BY o.id",
            (person_id,),
        )
        return [SentEntry(from_db(r["created_at"]), opt_from_db(r["sent_at"]), r["channel"], r["data_class"],
                          r["kind"], r["status"]) for r in rows]

    async def codes(self, owner_ids: list[int]) -> list[CodeEntry]:
        if not owner_ids:
            return []
        marks = ",".join("?" * len(owner_ids))
        rows = await self.db.fetchall(
            "SELECT c.person_id, p.full_name, c.role, c.code, c.status, c.activated_at FROM codes c"
            f" JOIN persons p ON p.id = c.person_id WHERE c.person_id IN ({marks}) ORDER BY c.person_id, c.id",
            owner_ids,
        )
        return [CodeEntry(r[0], r[1], r[2], r[3], r[4], opt_from_db(r[5])) for r in rows]


def _ledger(row: Row, person_id: int) -> LedgerEntry:
    return LedgerEntry(
        receipt_id=row["receipt_id"], child_id=row["child_id"], child_name=row["child_name"],
        decision=row["decision"], version=row["version"], sha256=row["sha256"], channel=row["channel"],
        created_at=from_db(row["created_at"]), by_self=row["parent_id"] == person_id,
    )
