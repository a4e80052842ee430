"""Merging two person rows that are one human (an IT officer's bootstrap record and their roster
row): every reference moves to the kept person, the duplicate is retired and points at it.

The referencing columns are found from the schema (PRAGMA foreign_key_list), so a table added by a
later migration is covered without editing this module. Append-only tables (the consent ledger,
whose rows are evidence and hash-chained) are never rewritten: their rows keep the old id, which
`persons.merged_into` resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.unit_of_work import Connection, Transaction
from storage.db import fetchall_in, raw
from storage.sql import SqlConn
from storage.timefmt import to_db


@dataclass(frozen=True)
class MergeReport:
    moved: dict[str, int]  # "table.column" -> rows re-pointed
    kept_as_evidence: list[str]  # append-only tables left as they are


async def _append_only_tables(conn: SqlConn) -> set[str]:
    rows = await fetchall_in(conn, "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
    return {r["tbl_name"] for r in rows if "BEFORE UPDATE" in (r["sql"] or "").upper() and "RAISE" in r["sql"].upper()}


async def person_references(conn: Connection) -> list[tuple[str, str]]:
    """(table, column) pairs that reference persons.id."""
    conn = raw(conn)
    tables = await fetchall_in(
        conn, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    found: list[tuple[str, str]] = []
    for t in tables:
        for fk in await fetchall_in(conn, f"PRAGMA foreign_key_list(\"{t['name']}\")"):
            if fk["table"] == "persons":
                found.append((t["name"], fk["from"]))
    return found


async def merge_person(conn: Transaction, *, duplicate_id: int, into_id: int, now: datetime) -> MergeReport:
    """Call inside a write transaction. The messenger accounts, roles, language and every reference
    of `duplicate_id` go to `into_id`; rows that would collide with the kept person's own (the same
    role twice, the same task done twice) are dropped from the duplicate's side. An account on a
    messenger the kept person already has is let go (linked to nobody), never deleted: a ledger
    row or a spent token may name it."""
    conn = raw(conn)
    frozen = await _append_only_tables(conn)
    moved: dict[str, int] = {}
    kept: list[str] = []
    for table, column in await person_references(conn):
        if table in frozen:
            kept.append(table)
            continue
        if table in ("persons", "accounts"):  # persons.merged_into itself; accounts below
            continue
        cur = await conn.execute(
            f'UPDATE OR IGNORE "{table}" SET "{column}" = ? WHERE "{column}" = ?', (into_id, duplicate_id)
        )
        await conn.execute(f'DELETE FROM "{table}" WHERE "{column}" = ?', (duplicate_id,))
        if cur.rowcount:
            moved[f"{table}.{column}"] = cur.rowcount
    stamp = to_db(now)
    cur = await conn.execute(
        "UPDATE OR IGNORE accounts SET person_id = ?, unreachable_at = NULL, unreachable_reason = NULL"
        " WHERE person_id = ?",
        (into_id, duplicate_id),
    )
    if cur.rowcount:
        moved["accounts.person_id"] = cur.rowcount
    await conn.execute("UPDATE accounts SET person_id = NULL, linked_at = NULL WHERE person_id = ?", (duplicate_id,))
    rows = await fetchall_in(conn, "SELECT id, lang FROM persons WHERE id IN (?, ?)", (duplicate_id, into_id))
    by_id = {r["id"]: r for r in rows}
    dup, keep = by_id[duplicate_id], by_id[into_id]
    await conn.execute(
        "UPDATE persons SET active = 0, merged_into = ?, updated_at = ? WHERE id = ?", (into_id, stamp, duplicate_id)
    )
    if keep["lang"] is None and dup["lang"] is not None:
        await conn.execute("UPDATE persons SET lang = ? WHERE id = ?", (dup["lang"], into_id))
    return MergeReport(moved=moved, kept_as_evidence=sorted(set(kept)))
