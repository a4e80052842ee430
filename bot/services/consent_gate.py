"""The consent gate: the one rule every invitation code asks before it leaves the system,
and each child's consent state."""

from __future__ import annotations

import html
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Literal

from bot.domain.consent import PENDING, Decision, FamilyState, State, family_state, parent_covered
from bot.domain.ledger import LedgerRow, Version
from bot.domain.people import Person
from bot.russian import Named
from bot.services.repos import ConsentForms, ConsentLedger, People
from bot.unit_of_work import Connection

if TYPE_CHECKING:
    from bot.config import SchoolConfig
    from bot.i18n import Translator
    from bot.unit_of_work import UnitOfWork


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


# --- states -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildState:
    """A child's consent as the family rule reads it; `row` is the newest decision (for display)."""

    child: Person
    state: State
    row: LedgerRow | None
    conflict: bool = False
    own: Decision | None = None    # the viewing representative's own latest decision, if any


def new_receipt_id() -> str:
    # 40 random bits in Crockford-like base32 without look-alikes: short enough to read out.
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def receipt_text(t: Translator, row: LedgerRow, child: Person, school: SchoolConfig) -> str:
    """The receipt a parent gets for a decision they pressed: what, for whom, when, on which text."""
    local = row.created_at.astimezone(school.tz)
    return t(
        "consent.receipt",
        decision=t(f"consent.decision.{row.decision}"),
        child=Named(child.full_name, escape=True),
        cls=html.escape(child.class_label or "—"),
        local=local.strftime("%d.%m.%Y %H:%M:%S"),
        tz=school.school.timezone,
        utc=row.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        version=row.version,
        sha=row.sha256,
        receipt=row.receipt_id,
    )


@dataclass(kw_only=True, eq=False)
class ConsentGate:
    """Who is covered by a consent: the one rule every code path asks. It reads through the ports it
    is handed (the people, the ledger, the signed originals); each read is on the connection the
    caller passes, so inside a write transaction it sees that transaction's rows."""

    db: UnitOfWork
    people: People
    ledger: ConsentLedger
    forms: ConsentForms

    async def family(self, parent: Person, version: Version) -> list[ChildState]:
        return await self.child_states(self.db.conn, version, await self.people.children(parent.id), viewer=parent.id)

    async def code_clearances(
        self, conn: Connection, holders: Iterable[tuple[int, str]], *, require_original: bool = False
    ) -> dict[tuple[int, str], Clearance]:
        """The consent gate for invitation codes, one answer per (owner id, code role):
        - a staff member's code: open (it carries no child's data);
        - a pupil's code: open when the family rule (bot.domain.consent) finds the pupil covered on the
          current document version: at least one representative's latest decision is "given" and none's
          is "declined" or "withdrawn", whatever the order of presses (in a messenger or on paper);
          else closed with the family's state;
        - a parent's own code: open when consent covers at least one of the parent's active children.
        With `require_original` (school.toml consent.codes_wait_for_original) a child counts as covered
        only once staff recorded the signed paper original too; until then it reads "pending".
        Every read is on `conn`, which the caller passes explicitly: inside a write transaction that
        is the transaction itself (a decision just recorded, not yet committed, opens or closes the gate
        for the codes the same transaction releases or stops); outside one, the unit of work's `conn`."""
        wanted = list(dict.fromkeys(holders))
        children_of = await self.people.active_children_ids(conn, [o for o, role in wanted if role == "parent"])
        child_ids = {o for o, role in wanted if role == "student"} | {c for ids in children_of.values() for c in ids}
        version = await self.ledger.current_version(conn)
        states: dict[int, FamilyState] = {}
        if version is not None and child_ids:
            states = await self.family_states(
                conn, version.number, None if len(child_ids) > _ALL_ROWS_ABOVE else child_ids,
                require_original=require_original,
            )
        out: dict[tuple[int, str], Clearance] = {}
        for owner_id, role in wanted:
            if role == "staff":
                out[(owner_id, role)] = Clearance(True, "staff")
            elif role == "student":
                state = states.get(owner_id, PENDING).state
                out[(owner_id, role)] = Clearance(state == "given", state)
            elif role == "parent":
                family = [states.get(c, PENDING) for c in children_of[owner_id]]
                if parent_covered(family):
                    out[(owner_id, role)] = Clearance(True, "given")
                else:
                    said = {f.state for f in family}
                    reason: GateReason = next((r for r in _CLOSED_ORDER if r in said), "no_children")
                    out[(owner_id, role)] = Clearance(False, reason)
            else:
                out[(owner_id, role)] = Clearance(False, "unknown")
        return out


    async def family_states(
        self, conn: Connection, version: int, child_ids: Iterable[int] | None = None, *,
        require_original: bool = False,
    ) -> dict[int, FamilyState]:
        """Each child's state on `version` under the family rule (bot.domain.consent), read on `conn`
        (inside a write transaction it sees that transaction's rows). Children with no decision are
        absent (read them as `PENDING`). With `require_original` a covered child whose signed paper
        original has not been received reads "pending"."""
        wanted = None if child_ids is None else list(child_ids)
        standing = await self.ledger.standing(conn, version, wanted)
        out = {cid: family_state(rows) for cid, rows in standing.items()}
        if require_original and out:
            signed = await self.forms.originals(conn, version, list(out))
            out = {
                cid: f if not f.covered or cid in signed else FamilyState("pending", f.by_representative, f.latest_id)
                for cid, f in out.items()
            }
        return out


    async def code_clearance(
        self, conn: Connection, owner_id: int, role: str, *, require_original: bool = False
    ) -> Clearance:
        gate = await self.code_clearances(conn, [(owner_id, role)], require_original=require_original)
        return gate[(owner_id, role)]


    async def is_covered(self, conn: Connection, child_id: int, *, require_original: bool = False) -> bool:
        """True when consent covers the child (the gate's answer for the child's own code)."""
        return (await self.code_clearance(conn, child_id, "student", require_original=require_original)).open


    async def covered_children(self, conn: Connection, *, require_original: bool = False) -> set[int]:
        """Every child consent covers now (the consent coverage figure in /status and the report)."""
        version = await self.ledger.current_version(conn)
        if version is None:
            return set()
        states = await self.family_states(conn, version.number, require_original=require_original)
        return {cid for cid, f in states.items() if f.covered}


    async def conflicts(self, conn: Connection, child_ids: Iterable[int] | None = None) -> set[int]:
        """Children whose representatives disagree on the current version (a case for the school)."""
        version = await self.ledger.current_version(conn)
        if version is None:
            return set()
        return {cid for cid, f in (await self.family_states(conn, version.number, child_ids)).items() if f.conflict}


    async def child_states(
        self, conn: Connection, version: Version, children: Iterable[Person], *, viewer: int | None = None
    ) -> list[ChildState]:
        """Each child's state under the family rule, with its newest decision (one read of the ledger)
        and, for a representative viewing their own family, their own latest decision."""
        kids = list(children)
        standing = await self.ledger.standing(conn, version.number, [c.id for c in kids])
        out = []
        for child in kids:
            rows = standing.get(child.id, [])
            family = family_state(rows)
            newest = max(rows, key=lambda r: r.id) if rows else None
            own = family.own(viewer) if viewer is not None else None
            out.append(ChildState(child, family.state, newest, family.conflict, own))
        return out
