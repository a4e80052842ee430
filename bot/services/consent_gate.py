"""The consent gate: the one rule every invitation code asks before it leaves the system,
and each child's consent state."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.domain.people import Person
from storage.consent import ConsentRepo, LedgerRow, Version
from storage.consent_form import ConsentFormRepo
from storage.db import Database
from storage.people import PersonRepo

if TYPE_CHECKING:
    from storage.db import Database
    from storage.people import PersonRepo


State = Literal["pending", "given", "declined", "withdrawn"]

# --- the gate: the one rule every invitation code asks before it leaves the system ---------------
#
# Every path that carries a code (the card in the bot, /codes, print sheets in the bot and the CLI,
# reissue, nudges, the card renderer at send time, the status views and the report) asks
# `code_clearances`; nothing else decides whether a code may leave.

GateReason = Literal["staff", "given", "pending", "declined", "withdrawn", "no_children", "unknown"]
# Why a closed gate is closed, most hopeful first: a parent with one pending and one declined child
# is "pending" (an answer may still come).
_CLOSED_ORDER: tuple[GateReason, ...] = ("pending", "withdrawn", "declined")
_ALL_ROWS_ABOVE = 500  # past this many children one query for the whole ledger is cheaper


@dataclass(frozen=True)
class Clearance:
    open: bool
    reason: GateReason


async def code_clearances(
    db: Database, holders: Iterable[tuple[int, str]], *, require_original: bool = False
) -> dict[tuple[int, str], Clearance]:
    """The consent gate for invitation codes, one answer per (owner id, code role):
    - a staff member's code: open (it carries no child's data);
    - a pupil's code: open when the pupil's latest decision on the current document version is
      "given", whoever made it (a parent in Telegram or on paper); else closed with that state;
    - a parent's own code: open when consent covers at least one of the parent's active children.
    With `require_original` (school.toml consent.codes_wait_for_original) a child counts as covered
    only once staff recorded the signed paper original too; until then it reads "pending".
    Read on the caller's connection, so inside a write transaction it sees that transaction's rows."""
    wanted = list(dict.fromkeys(holders))
    people = PersonRepo(db)
    children_of: dict[int, list[int]] = {}
    for owner_id, role in wanted:
        if role == "parent" and owner_id not in children_of:
            children_of[owner_id] = [c.id for c in await people.children(owner_id)]
    child_ids = {o for o, role in wanted if role == "student"} | {c for ids in children_of.values() for c in ids}
    version = await ConsentRepo.current_version(db.conn)
    latest: dict[int, LedgerRow] = {}
    if version is not None and child_ids:
        latest = await ConsentRepo.latest(
            db.conn, version.number, None if len(child_ids) > _ALL_ROWS_ABOVE else child_ids
        )
    if require_original and version is not None and child_ids:
        signed = await ConsentFormRepo.originals(db.conn, version.number, child_ids)
        latest = {cid: row for cid, row in latest.items() if row.decision != "given" or cid in signed}
    out: dict[tuple[int, str], Clearance] = {}
    for owner_id, role in wanted:
        if role == "staff":
            out[(owner_id, role)] = Clearance(True, "staff")
        elif role == "student":
            state = state_of(latest.get(owner_id))
            out[(owner_id, role)] = Clearance(state == "given", state)
        elif role == "parent":
            states = {state_of(latest.get(c)) for c in children_of[owner_id]}
            if "given" in states:
                out[(owner_id, role)] = Clearance(True, "given")
            else:
                reason: GateReason = next((r for r in _CLOSED_ORDER if r in states), "no_children")
                out[(owner_id, role)] = Clearance(False, reason)
        else:
            out[(owner_id, role)] = Clearance(False, "unknown")
    return out


async def code_clearance(db: Database, owner_id: int, role: str, *, require_original: bool = False) -> Clearance:
    return (await code_clearances(db, [(owner_id, role)], require_original=require_original))[(owner_id, role)]


async def is_covered(db: Database, child_id: int, *, require_original: bool = False) -> bool:
    """True when consent covers the child (the gate's answer for the child's own code)."""
    return (await code_clearance(db, child_id, "student", require_original=require_original)).open


async def covered_children(db: Database, *, require_original: bool = False) -> set[int]:
    """Every child consent covers now (the consent coverage figure in /status and the report)."""
    version = await ConsentRepo.current_version(db.conn)
    if version is None:
        return set()
    covered = await ConsentRepo.covered_child_ids(db.conn, version.number)
    if require_original:
        covered &= set(await ConsentFormRepo.originals(db.conn, version.number))
    return covered


# --- states -------------------------------------------------------------------------------------


def state_of(row: LedgerRow | None) -> State:
    return "pending" if row is None else row.decision


@dataclass(frozen=True)
class ChildState:
    child: Person
    state: State
    row: LedgerRow | None


def new_receipt_id() -> str:
    # 40 random bits in Crockford-like base32 without look-alikes: short enough to read out.
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass(kw_only=True, eq=False)
class ConsentGate:
    """Who is covered by a consent: the one rule every code path asks."""

    db: Database
    people: PersonRepo


    async def family(self, parent: Person, version: Version) -> list[ChildState]:
        children = await self.people.children(parent.id)
        latest = await ConsentRepo.latest(self.db.conn, version.number, [c.id for c in children])
        return [ChildState(c, state_of(latest.get(c.id)), latest.get(c.id)) for c in children]
