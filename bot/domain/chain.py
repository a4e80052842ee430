"""The consent ledger's hash chain: what a row's hash covers and how a chain is checked.

Each ledger row carries `prev_hash` (the `row_hash` of the row before it by id, GENESIS for the
first) and `row_hash` = sha256 over `prev_hash` and the row's canonical content: its evidence
columns, as stored, in a JSON array. A one-row table `consent_ledger_head` holds the number of
rows and the last hash; triggers (migration 008) make every insert chain onto the head and move the
head, so removing the newest rows is detected too, not only a gap in the middle.

The chain makes a bypass visible (a row changed, removed or reordered with the append-only
triggers dropped, or by editing the file). It is not a signature: someone who rewrites the whole
chain and the head consistently is caught only against a copy kept elsewhere (backups: restore
compares receipts) or the receipts families hold.

Pure Python, no database access: `storage.consent` reads the rows, this module judges them (a
domain rule since #27: services check a chain without importing storage; storage/chain.py
re-exports it for storage and its migrations).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

GENESIS = "0" * 64

# The evidence columns, in hash order. The row id is not among them: the order is fixed by each
# row naming the hash of the row before it.
BASE_COLUMNS: tuple[str, ...] = (
    "receipt_id", "parent_id", "child_id", "decision", "version", "sha256", "channel",
    "tg_user_id", "tg_update_id", "tg_callback_id", "recorded_by", "paper_date", "created_at",
)
# A press in MAX (migration 016) named its MAX account in a column of its own; since migration 019
# a press names its account as (channel, user_id), whatever the messenger. Each joins the hashed
# content only when set: trailing unset columns are left out, so rows written before either column
# existed (every Telegram and paper row, and the MAX rows of 016) hash exactly as they did.
OPTIONAL_COLUMNS: tuple[str, ...] = ("max_user_id", "user_id")
COLUMNS: tuple[str, ...] = (*BASE_COLUMNS, *OPTIONAL_COLUMNS)

# The SQL function migration 008 uses to hash the rows that existed before the chain.
SQL_FUNCTION = "schoolbot_ledger_row_hash"


def row_hash(prev_hash: str, values: Sequence[object]) -> str:
    """`values`: the COLUMNS of one row exactly as stored (str, int or None), or a prefix of them at
    least BASE_COLUMNS long (migration 008 hashes the rows that existed then with BASE_COLUMNS)."""
    if not len(BASE_COLUMNS) <= len(values) <= len(COLUMNS):
        raise ValueError(f"a ledger row has {len(COLUMNS)} hashed columns, got {len(values)}")
    values = list(values)
    while len(values) > len(BASE_COLUMNS) and values[-1] is None:
        values.pop()
    canonical = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def sql_row_hash(prev_hash: str, *values: object) -> str:
    return row_hash(prev_hash, values)


@dataclass(frozen=True)
class ChainRow:
    id: int
    receipt_id: str
    prev_hash: str | None
    row_hash: str | None
    values: tuple[object, ...]


@dataclass(frozen=True)
class ChainHead:
    rows: int
    last_receipt: str | None
    last_hash: str


FaultKind = Literal["unsealed", "changed", "removed", "reordered", "tail_removed", "rewritten", "head_missing"]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    receipt_id: str | None     # the first receipt that does not check out (tail: the last one kept)
    row_id: int | None
    expected_rows: int = 0     # tail_removed: rows the head counts
    actual_rows: int = 0
    lost_receipt: str | None = None  # tail_removed: the newest receipt the head remembers


@dataclass(frozen=True)
class Verdict:
    rows: int
    last_receipt: str | None
    fault: Fault | None

    @property
    def ok(self) -> bool:
        return self.fault is None


def verify(rows: Sequence[ChainRow], head: ChainHead | None) -> Verdict:
    """Walk the chain in id order; the first row that does not check out is the fault."""
    hashes = {r.row_hash for r in rows if r.row_hash}
    prev = GENESIS
    last = rows[-1].receipt_id if rows else None
    for row in rows:
        if row.row_hash is None or row.prev_hash is None:
            return Verdict(len(rows), last, Fault("unsealed", row.receipt_id, row.id))
        if row.prev_hash != prev:
            kind: FaultKind = "reordered" if row.prev_hash in hashes or row.prev_hash == GENESIS else "removed"
            return Verdict(len(rows), last, Fault(kind, row.receipt_id, row.id))
        if row_hash(row.prev_hash, row.values) != row.row_hash:
            return Verdict(len(rows), last, Fault("changed", row.receipt_id, row.id))
        prev = row.row_hash
    if head is None:
        return Verdict(len(rows), last, Fault("head_missing", None, None))
    if head.rows != len(rows) or head.last_hash != prev:
        # A chain that checks out but ends elsewhere than the head: its newest rows were removed,
        # or it was recomputed after a change.
        kept = rows[-1] if rows else None
        return Verdict(
            len(rows), last,
            Fault("tail_removed" if head.rows > len(rows) else "rewritten",
                  kept.receipt_id if kept else None, kept.id if kept else None,
                  expected_rows=head.rows, actual_rows=len(rows), lost_receipt=head.last_receipt),
        )
    return Verdict(len(rows), last, None)
