"""Merging two person rows that are one human (an IT officer's bootstrap record and their roster
row): every reference moves to the kept person, the duplicate is retired and points at it.

The referencing columns are found from the schema (storage.dialect reads the engine's catalogue),
so a table added by a later migration is covered without editing this module. Append-only tables
(the consent ledger, whose rows are evidence and hash-chained) are never rewritten: their rows
keep the old id, which `persons.merged_into` resolves.

A row of the duplicate that would collide with one of the kept person's (the same role twice) is
left behind and then deleted. SQLite could say that in one statement (`UPDATE OR IGNORE`); no
portable statement does, so the move is tried whole and, when a constraint refuses it, row by
row, each under a savepoint (a refused statement spoils a PostgreSQL transaction without one).
"""

from __future__ import annotations

from datetime import datetime

# These values are the domain's (bot/domain/people.py), re-exported for storage's callers.
from bot.domain.people import MergeReport as MergeReport
from bot.unit_of_work import Connection, Transaction
from storage import dialect
from storage.db import INTEGRITY_ERRORS, fetchall_in, raw
from storage.sql import SqlConn
from storage.timefmt import to_db


async def person_references(conn: Connection) -> list[tuple[str, str]]:
    """(table, column) pairs that reference persons.id."""
    return await dialect.references_to(raw(conn), "persons")


async def _move(conn: SqlConn, table: str, column: str, duplicate_id: int, into_id: int, also: str = "") -> int:
    """Point `column` of `table` from the duplicate to the kept person (with `also`, more `SET`
    assignments), skipping the rows a constraint refuses; returns how many rows moved."""
    sets = f'"{column}" = ?' + (f", {also}" if also else "")
    await conn.execute("SAVEPOINT merge_move")
    try:
        cur = await conn.execute(f'UPDATE "{table}" SET {sets} WHERE "{column}" = ?', (into_id, duplicate_id))
    except INTEGRITY_ERRORS:
        await conn.execute("ROLLBACK TO SAVEPOINT merge_move")
    else:
        await conn.execute("RELEASE SAVEPOINT merge_move")
        return max(cur.rowcount, 0)
    await conn.execute("RELEASE SAVEPOINT merge_move")
    # Row by row: each row named by its primary key (every column where the table has none).
    key = await dialect.primary_key(conn, table) or await dialect.columns(conn, table)
    names = ", ".join(f'"{c}"' for c in key)
    moved = 0
    for row in await fetchall_in(conn, f'SELECT {names} FROM "{table}" WHERE "{column}" = ?', (duplicate_id,)):
        where = " AND ".join(f'"{c}" IS NULL' if row[i] is None else f'"{c}" = ?' for i, c in enumerate(key))
        values = [v for v in row if v is not None]
        await conn.execute("SAVEPOINT merge_row")
        try:
            cur = await conn.execute(
                f'UPDATE "{table}" SET {sets} WHERE "{column}" = ? AND {where}', (into_id, duplicate_id, *values)
            )
        except INTEGRITY_ERRORS:
            await conn.execute("ROLLBACK TO SAVEPOINT merge_row")
        else:
            moved += max(cur.rowcount, 0)
        await conn.execute("RELEASE SAVEPOINT merge_row")
    return moved


async def merge_person(conn: Transaction, *, duplicate_id: int, into_id: int, now: datetime) -> MergeReport:
    """Call inside a write transaction. The messenger accounts, roles, language and every reference
    of `duplicate_id` go to `into_id`; rows that would collide with the kept person's own (the same
    role twice, the same task done twice) are dropped from the duplicate's side. An account on a
    messenger the kept person already has is let go (linked to nobody), never deleted: a ledger
    row or a spent token may name it."""
    conn = raw(conn)
    frozen = await dialect.append_only_tables(conn)
    moved: dict[str, int] = {}
    kept: list[str] = []
    for table, column in await person_references(conn):
        if table in frozen:
            kept.append(table)
            continue
        if table in ("persons", "accounts"):  # persons.merged_into itself; accounts below
            continue
        count = await _move(conn, table, column, duplicate_id, into_id)
        await conn.execute(f'DELETE FROM "{table}" WHERE "{column}" = ?', (duplicate_id,))
        if count:
            moved[f"{table}.{column}"] = count
    stamp = to_db(now)
    count = await _move(
        conn, "accounts", "person_id", duplicate_id, into_id, "unreachable_at = NULL, unreachable_reason = NULL"
    )
    if count:
        moved["accounts.person_id"] = count
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
