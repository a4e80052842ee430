"""The few things the repositories ask of the database engine that SQLite and PostgreSQL spell
differently (#27). The repositories' own SQL is written in the subset both engines accept
(`INSERT ... ON CONFLICT DO NOTHING`, `RETURNING id`, explicit `NULLS FIRST`, no `rowid`, no
`group_concat`, `json_*` or `PRAGMA`); what cannot be (reading the schema, an engine's own
switches) is asked here, by the engine the connection says it is.

The engine is the connection's (`storage.db.dialect_of`). Nothing here imports a driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from storage.db import dialect_of, fetchall_in, fetchone_in
from storage.sql import Dialect, Row, SqlConn

# Read rows: the repository's own read (a connection's, or the database's reader).
Fetch = Callable[[str, Sequence[Any]], Awaitable[Sequence[Row]]]
# Ids per `IN (...)` list: well under SQLite's bound-variable limit, and short statements on both.
SLICE = 500


def dialect(conn: SqlConn) -> Dialect:
    """The engine behind a raw connection (what `storage.db.raw` returns)."""
    return dialect_of(conn)


async def returning_id(conn: SqlConn, sql: str, params: Iterable[Any] = ()) -> int:
    """Run an `INSERT ... RETURNING id` and give the new row's id (both engines; `lastrowid` is
    SQLite's alone)."""
    row = await fetchone_in(conn, sql, params)
    if row is None:
        raise RuntimeError("an INSERT ... RETURNING gave no row")
    return int(row[0])


async def rows_for_ids(fetch: Fetch, sql: str, ids: Iterable[int]) -> list[Row]:
    """`sql` with `{ids}` standing for a list of marks, run for `ids` in slices; rows of all slices."""
    wanted = list(dict.fromkeys(ids))
    found: list[Row] = []
    for start in range(0, len(wanted), SLICE):
        part = wanted[start:start + SLICE]
        found.extend(await fetch(sql.format(ids=", ".join("?" * len(part))), part))
    return found


# --- the schema, read from the engine's catalogue ---------------------------------------------------

async def tables(conn: SqlConn, *, views: bool = False) -> set[str]:
    """The names of the database's tables (and views when asked), SQLite's own excluded."""
    if dialect(conn) == "postgres":
        kinds = "('BASE TABLE', 'VIEW')" if views else "('BASE TABLE')"
        rows = await fetchall_in(
            conn,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            f" AND table_type IN {kinds}",
        )
    else:
        kinds = "('table', 'view')" if views else "('table')"
        rows = await fetchall_in(
            conn, f"SELECT name FROM sqlite_master WHERE type IN {kinds} AND name NOT LIKE 'sqlite_%'"
        )
    return {str(r[0]) for r in rows}


async def columns(conn: SqlConn, table: str) -> list[str]:
    """The columns of `table` in their order; empty when there is no such table."""
    if dialect(conn) == "postgres":
        rows = await fetchall_in(
            conn,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [str(r[0]) for r in rows]
    # pragma_table_info takes its argument bound; an unknown table gives no rows.
    return [str(r[0]) for r in await fetchall_in(conn, "SELECT name FROM pragma_table_info(?)", (table,))]


async def primary_key(conn: SqlConn, table: str) -> list[str]:
    """The columns of `table`'s primary key; empty when it has none."""
    if dialect(conn) == "postgres":
        rows = await fetchall_in(
            conn,
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)"
            " WHERE i.indisprimary AND n.nspname = current_schema() AND c.relname = ?"
            " ORDER BY a.attnum",
            (table,),
        )
    else:
        rows = await fetchall_in(conn, "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,))
    return [str(r[0]) for r in rows]


async def references_to(conn: SqlConn, target: str) -> list[tuple[str, str]]:
    """(table, column) of every foreign key that references `target`, by table name."""
    if dialect(conn) == "postgres":
        rows = await fetchall_in(
            conn,
            "SELECT cl.relname, a.attname FROM pg_constraint c"
            " JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace"
            " JOIN pg_class t ON t.oid = c.confrelid"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
            " WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname = ?"
            " ORDER BY cl.relname, a.attnum",
            (target,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]
    found: list[tuple[str, str]] = []
    for table in sorted(await tables(conn)):
        rows = await fetchall_in(conn, 'SELECT "table", "from" FROM pragma_foreign_key_list(?)', (table,))
        found += [(table, str(r[1])) for r in rows if str(r[0]) == target]
    return found


async def append_only_tables(conn: SqlConn) -> set[str]:
    """Tables whose rows a trigger refuses to change (the consent ledger and the other evidence):
    a BEFORE UPDATE trigger that raises."""
    if dialect(conn) == "postgres":
        # tgtype bits: 2 BEFORE, 16 UPDATE; the trigger's function raises.
        rows = await fetchall_in(
            conn,
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE NOT t.tgisinternal AND n.nspname = current_schema() AND (t.tgtype & 18) = 18"
            " AND position('RAISE' IN upper(p.prosrc)) > 0",
        )
        return {str(r[0]) for r in rows}
    rows = await fetchall_in(conn, "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
    return {str(r[0]) for r in rows if "BEFORE UPDATE" in str(r[1] or "").upper() and "RAISE" in str(r[1]).upper()}


async def secure_delete(conn: SqlConn, on: bool) -> None:
    """SQLite overwrites the pages of deleted rows while on (an anonymous survey's close). PostgreSQL
    has no such switch: a deleted row's space is reclaimed by VACUUM."""
    if dialect(conn) == "sqlite":
        await conn.execute(f"PRAGMA secure_delete = {'ON' if on else 'OFF'}")
