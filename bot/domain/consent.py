"""Consent's rules (152-FZ art. 9), pure: the family rule, read-before-agree and every transition.

Every path that needs to know whether consent covers a child (the bot, paper entry, print sheets,
exports, the code gate, /status and the report) asks `family_state` over the child's decisions on
the current version; the one service that writes decisions asks `judge` before it writes and
`effects` for what a written decision causes. Nothing here touches the database.

The family rule. A child may have several legal representatives; each decides for themself, and
each one's *latest* decision on the version is what counts for them. The child is covered when at
least one representative's latest decision is "given" and none's is "declined" or "withdrawn". The
result depends only on each representative's own latest decision, never on who pressed last: one
parent agreeing and the other declining leaves the child uncovered in either order, and is a
conflict the school settles with the family (the class teacher and the IT officer see it as a case).

A paper form entered by staff whose signer is not identified (a child with several representatives
in the roster) counts as one more representative, `UNKNOWN_SIGNER`: it cannot cancel a known
parent's decline, and a known parent's later withdrawal is not cancelled by it either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

Decision = Literal["given", "declined", "withdrawn"]
State = Literal["pending", "given", "declined", "withdrawn"]
DECISIONS: tuple[Decision, ...] = ("given", "declined", "withdrawn")
STATES: tuple[State, ...] = ("pending", "given", "declined", "withdrawn")

# The representative of a paper form whose signer is not known (its ledger row has no parent).
UNKNOWN_SIGNER: int | None = None

# How long the school has to destroy a child's data after a withdrawal (152-FZ art. 21 part 5).
DESTRUCTION_DAYS = 30


class Mark(Protocol):
    """One recorded decision as the rule reads it (a ledger row satisfies it)."""

    @property
    def id(self) -> int: ...          # ledger order: a larger id was recorded later

    @property
    def parent_id(self) -> int | None: ...

    @property
    def decision(self) -> Decision: ...


@dataclass(frozen=True)
class FamilyState:
    """A child's consent on one version under the family rule."""

    state: State                                   # what the family's decisions amount to
    by_representative: dict[int | None, Decision]  # each representative's latest decision
    latest_id: int | None = None                   # the newest decision's ledger id (for display)

    @property
    def covered(self) -> bool:
        return self.state == "given"

    @property
    def conflict(self) -> bool:
        """One representative gave consent and another declined or withdrew it: a case to settle
        with the family (the child is not covered meanwhile)."""
        said = set(self.by_representative.values())
        return "given" in said and bool(said & {"declined", "withdrawn"})

    def own(self, representative: int | None) -> Decision | None:
        return self.by_representative.get(representative)


PENDING = FamilyState("pending", {})


def latest_by_representative(marks: Iterable[Mark]) -> dict[int | None, Mark]:
    """Each representative's latest decision (by ledger order, whatever order `marks` come in)."""
    out: dict[int | None, Mark] = {}
    for mark in marks:
        held = out.get(mark.parent_id)
        if held is None or mark.id > held.id:
            out[mark.parent_id] = mark
    return out


def family_state(marks: Iterable[Mark]) -> FamilyState:
    """The family rule over one child's decisions on one version (any order, any representatives)."""
    latest = latest_by_representative(marks)
    if not latest:
        return PENDING
    said = {m.decision for m in latest.values()}
    # A withdrawal outranks a decline in what the school shows: it asks for destruction of data
    # already processed, a decline only for none to be processed.
    state: State
    if "withdrawn" in said:
        state = "withdrawn"
    elif "declined" in said:
        state = "declined"
    else:
        state = "given"
    return FamilyState(
        state, {rep: m.decision for rep, m in latest.items()}, max(m.id for m in latest.values())
    )


def family_states(marks: Iterable[Mark], child_of: Iterable[int]) -> dict[int, FamilyState]:
    """`family_state` for several children at once; `child_of` gives each mark's child, in step."""
    grouped: dict[int, list[Mark]] = {}
    for mark, child in zip(marks, child_of, strict=True):
        grouped.setdefault(child, []).append(mark)
    return {child: family_state(ms) for child, ms in grouped.items()}


class Outcome(Enum):
    """What a press (or a paper entry) comes to; `RECORDED` is the only one that writes."""

    RECORDED = "recorded"
    UNCHANGED = "unchanged"        # the same decision as this representative's current one
    DUPLICATE = "duplicate"        # this press was already recorded
    FORBIDDEN = "forbidden"        # the caller does not represent this child / may not record it
    STALE = "stale"                # the version is no longer current
    NOT_GIVEN = "not_given"        # withdrawing what was never given
    NOT_READ = "not_read"          # agreeing to a document the parent has not opened


def judge(*, family: FamilyState, representative: int | None, decision: Decision, has_read: bool) -> Outcome:
    """May this representative's decision be recorded now? (The one set of transition rules.)

    - Agreeing needs the document opened first (a paper form is its own reading: the signer held
      the text they signed).
    - Repeating one's own current decision records nothing.
    - A withdrawal withdraws consent that stands: the representative's own, or the family's (a
      second parent may withdraw what the first gave). Withdrawing what was never given is refused:
      that is a decline.
    """
    own = family.own(representative)
    if own == decision:
        return Outcome.UNCHANGED
    if decision == "given" and not has_read:
        return Outcome.NOT_READ
    if decision == "withdrawn" and own != "given" and family.state != "given":
        return Outcome.NOT_GIVEN
    return Outcome.RECORDED


class Effect(Enum):
    """What a recorded decision sets in motion, by the family's state before and after it."""

    RELEASE = "release"            # the child became covered: codes waiting on the gate may go
    STOP = "stop"                  # the child stopped being covered: pending code messages stop
    DESTROY = "destroy"            # a withdrawal: revoke codes, destroy the data within 30 days
    CONFLICT = "conflict"          # the representatives now disagree: staff settle it with the family


def effects(before: FamilyState, after: FamilyState, decision: Decision) -> frozenset[Effect]:
    out: set[Effect] = set()
    if after.covered and not before.covered:
        out.add(Effect.RELEASE)
    if before.covered and not after.covered:
        out.add(Effect.STOP)
    if decision == "withdrawn":
        out.add(Effect.DESTROY)
    if after.conflict and not before.conflict:
        out.add(Effect.CONFLICT)
    return frozenset(out)


@dataclass(frozen=True)
class Held:
    """A decision as the rule needs it (tests and `apply` build these; ledger rows work as well)."""

    id: int
    parent_id: int | None
    decision: Decision


def apply(family: FamilyState, representative: int | None, decision: Decision) -> FamilyState:
    """The family's state once `representative` records `decision` (newer than every other)."""
    held = [Held(0, rep, d) for rep, d in family.by_representative.items()]
    return family_state([*held, Held(1, representative, decision)])


def parent_covered(children: Iterable[FamilyState]) -> bool:
    """A parent's own invitation code carries no child's data beyond their family's: it may go once
    consent covers at least one of their children."""
    return any(c.covered for c in children)
