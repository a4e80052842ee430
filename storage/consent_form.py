"""The consent form's evidence beside the ledger: the exact texts parents were shown, which
document each parent opened, and the signed paper originals the school received."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

# These values are the domain's (bot/domain/ledger.py), re-exported for storage's callers.
from bot.domain.ledger import Original as Original
from bot.domain.ledger import Read as Read
from bot.unit_of_work import Connection, Transaction
from storage.db import fetchall_in, fetchone_in, raw
from storage.timefmt import from_db, to_db


class ConsentFormRepo:
    """The consent form tables, read and written on the caller's connection (every call may run inside
    its transaction)."""

    @staticmethod
    async def store_text(conn: Transaction, sha256: str, text: str, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO consent_texts(sha256, text, first_shown_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (sha256, text, to_db(now)),
        )

    @staticmethod
    async def text_by_hash(conn: Connection, sha256: str) -> str | None:
        conn = raw(conn)
        row = await fetchone_in(conn, "SELECT text FROM consent_texts WHERE sha256 = ?", (sha256,))
        return None if row is None else str(row["text"])

    @staticmethod
    async def record_read(
        conn: Transaction, *, parent_id: int, child_id: int, version: int, sha256: str, now: datetime
    ) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO consent_reads(parent_id, child_id, version, sha256, read_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(parent_id, child_id, version)"
            " DO UPDATE SET sha256 = excluded.sha256, read_at = excluded.read_at",
            (parent_id, child_id, version, sha256, to_db(now)),
        )

    @staticmethod
    async def reads(conn: Connection, parent_id: int, version: int) -> dict[int, Read]:
        """child id -> the parent's latest opening of that child's document on `version`."""
        conn = raw(conn)
        rows = await fetchall_in(
            conn,
            "SELECT parent_id, child_id, version, sha256, read_at FROM consent_reads"
            " WHERE parent_id = ? AND version = ?",
            (parent_id, version),
        )
        return {
            r["child_id"]: Read(r["parent_id"], r["child_id"], r["version"], r["sha256"], from_db(r["read_at"]))
            for r in rows
        }

    @staticmethod
    async def record_original(
        conn: Transaction, *, child_id: int, version: int, received_on: date, by: int, now: datetime
    ) -> bool:
        """False when the original was already recorded."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_originals(child_id, version, received_on, recorded_by, recorded_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (child_id, version, received_on.isoformat(), by, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def originals(
        conn: Connection, version: int, child_ids: Iterable[int] | None = None
    ) -> dict[int, Original]:
        conn = raw(conn)
        rows = await fetchall_in(
            conn,
            "SELECT child_id, version, received_on, recorded_by, recorded_at FROM consent_originals WHERE version = ?",
            (version,),
        )
        wanted = None if child_ids is None else set(child_ids)
        return {
            r["child_id"]: Original(
                r["child_id"], r["version"], date.fromisoformat(r["received_on"]), r["recorded_by"],
                from_db(r["recorded_at"]),
            )
            for r in rows
            if wanted is None or r["child_id"] in wanted
        }

    # --- evidence (migration 025) -------------------------------------------------------------------
    @staticmethod
    async def link_translation(conn: Transaction, sha256: str, shown_sha256: str, lang: str) -> None:
        """The parent read `shown_sha256` (a translation) standing for the Russian text `sha256`."""
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO consent_translations(sha256, shown_sha256, lang) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (sha256, shown_sha256, lang),
        )

    @staticmethod
    async def translations(conn: Connection, sha256: str) -> list[tuple[str, str]]:
        """(lang, shown hash) of every translation shown for the Russian text `sha256`."""
        conn = raw(conn)
        rows = await fetchall_in(
            conn, "SELECT lang, shown_sha256 FROM consent_translations WHERE sha256 = ? ORDER BY lang, shown_sha256",
            (sha256,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    @staticmethod
    async def attach_scan(
        conn: Transaction, *, receipt_id: str, scan_sha256: str | None, scan_ref: str | None,
        by: int | None, now: datetime,
    ) -> bool:
        """False when the receipt already carries a scan (the first one stands)."""
        conn = raw(conn)
        cur = await conn.execute(
            "INSERT INTO consent_scans(receipt_id, scan_sha256, scan_ref, recorded_by, recorded_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (receipt_id, scan_sha256, scan_ref, by, to_db(now)),
        )
        return cur.rowcount == 1

    @staticmethod
    async def scans(conn: Connection, receipt_ids: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """receipt -> (scan sha256, reference)."""
        conn = raw(conn)
        ids = list(receipt_ids)
        if not ids:
            return {}
        rows = await fetchall_in(
            conn, f"SELECT receipt_id, scan_sha256, scan_ref FROM consent_scans WHERE receipt_id IN"
            f" ({','.join('?' * len(ids))})", ids,
        )
        return {str(r[0]): (r[1], r[2]) for r in rows}
