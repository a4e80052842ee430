"""The family rule (bot.domain.consent): a child with two legal representatives is covered only when
at least one gave consent and none declined or withdrew it, whatever the order of their presses; a
disagreement is a case the class teacher and the IT officer see. Every path asks the same rule."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels import Channel
from bot.domain.consent import (
    PENDING,
    Decision,
    Effect,
    Held,
    Outcome,
    apply,
    effects,
    family_state,
    judge,
)
from bot.services.imports import ImportOptions
from storage.codes import CodeRepo
from storage.consent import ConsentRepo
from storage.outbox import Payload
from storage.retention import RetentionRepo
from tests.codes_helpers import CODE_ROWS, CODES
from tests.consent_helpers import buttons, consent_menu, last_with_buttons, texts
from tests.delivery_helpers import TG_CHAT
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_ONE, ROSTER_ROWS, Harness, csv_bytes

# A second legal representative of Коля (5А), beside Смирнов Олег Павлович (PARENT_ONE).
PARENT_THREE = 1007
ROWS = [*ROSTER_ROWS, ["Смирнова Ирина Олеговна", "родитель", "", "+7 900 000-00-07", "Смирнов Коля Олегович (5А)"]]
PHONES = {
    IT_OFFICER: "+79000000001", CLASS_TEACHER: "+79000000003", PARENT_ONE: "+79000000006",
    PARENT_THREE: "+79000000007",
}


async def two_parent_school(h: Harness) -> int:
    report = await h.app.services.roster_import.import_roster(csv_bytes(ROWS), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    for user, phone in PHONES.items():
        await h.contact(user, phone, user)
    kolya = next(p for p in await h.app.people.with_role("student") if p.full_name.startswith("Смирнов Коля"))
    return kolya.id


async def press(h: Harness, user: int, label_start: str) -> None:
    keys = await consent_menu(h, user)
    label = next(k for k in keys if k.startswith(label_start) and "Коля" in k)
    await h.press(user, keys[label])


# --- the rule, pure --------------------------------------------------------------------------------

def test_two_parents_one_gives_one_declines_is_not_covered_and_a_conflict() -> None:
    for marks in (
        [Held(1, 10, "given"), Held(2, 11, "declined")],
        [Held(1, 11, "declined"), Held(2, 10, "given")],
    ):
        state = family_state(marks)
        assert state.state == "declined" and not state.covered and state.conflict
    assert family_state([Held(1, 10, "given"), Held(2, 11, "given")]).covered
    assert family_state([]) == PENDING
    # One's own later decision replaces one's own earlier one; the other parent's stays.
    assert family_state([Held(1, 10, "declined"), Held(2, 11, "given"), Held(3, 10, "given")]).covered
    # A paper form whose signer is not known is one more representative: it cannot cancel a decline.
    assert not family_state([Held(1, 11, "declined"), Held(2, None, "given")]).covered


DECISIONS: tuple[Decision, ...] = ("given", "declined", "withdrawn")
own_decisions = st.lists(st.sampled_from(DECISIONS), max_size=4)


@given(st.lists(own_decisions, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_coverage_does_not_depend_on_the_order_of_representatives(
    per_parent: list[list[Decision]], rnd: object
) -> None:
    """Each representative's own decisions in their order, interleaved with the others' any way:
    the family's state is always the same, decided by each one's last word."""
    import random

    assert isinstance(rnd, random.Random)
    queue = [(rep, d) for rep, decisions in enumerate(per_parent) for d in decisions]
    # A random interleaving that keeps each representative's own order.
    cursors = [0] * len(per_parent)
    order: list[tuple[int, Decision]] = []
    while len(order) < len(queue):
        rep = rnd.choice([r for r, ds in enumerate(per_parent) if cursors[r] < len(ds)])
        order.append((rep, per_parent[rep][cursors[rep]]))
        cursors[rep] += 1
    shuffled = family_state([Held(i + 1, rep, d) for i, (rep, d) in enumerate(order)])
    grouped = family_state([Held(i + 1, rep, d) for i, (rep, d) in enumerate(queue)])
    assert shuffled.state == grouped.state and shuffled.conflict == grouped.conflict
    last = {rep: ds[-1] for rep, ds in enumerate(per_parent) if ds}
    said = set(last.values())
    assert shuffled.covered == ("given" in said and not said & {"declined", "withdrawn"})


def test_transitions_are_judged_in_one_place() -> None:
    gave = family_state([Held(1, 10, "given")])
    assert judge(family=PENDING, representative=10, decision="given", has_read=False) is Outcome.NOT_READ
    assert judge(family=PENDING, representative=10, decision="given", has_read=True) is Outcome.RECORDED
    assert judge(family=gave, representative=10, decision="given", has_read=True) is Outcome.UNCHANGED
    assert judge(family=PENDING, representative=10, decision="withdrawn", has_read=True) is Outcome.NOT_GIVEN
    # The second parent may withdraw what the first gave.
    assert judge(family=gave, representative=11, decision="withdrawn", has_read=False) is Outcome.RECORDED
    after = apply(gave, 11, "declined")
    assert effects(gave, after, "declined") == {Effect.STOP, Effect.CONFLICT}
    assert effects(PENDING, gave, "given") == {Effect.RELEASE}
    assert Effect.DESTROY in effects(gave, apply(gave, 10, "withdrawn"), "withdrawn")


# --- through the bot ---------------------------------------------------------------------------------

@pytest.mark.parametrize("first", [PARENT_ONE, PARENT_THREE])
async def test_both_orders_of_two_parents_give_the_same_coverage(harness: Harness, first: int) -> None:
    kolya = await two_parent_school(harness)
    second = PARENT_THREE if first == PARENT_ONE else PARENT_ONE
    # The first parent agrees, the second declines; or the other way round by time.
    if first == PARENT_ONE:
        await press(harness, PARENT_ONE, "✅")
        await press(harness, PARENT_THREE, "❌")
    else:
        await press(harness, PARENT_THREE, "❌")
        await press(harness, PARENT_ONE, "✅")
    rows = await ConsentRepo.ledger_rows(harness.app.db.conn)
    assert sorted(r.decision for r in rows) == ["declined", "given"]
    assert [r.parent_id is not None for r in rows] == [True, True] and second
    db, gate = harness.app.db, harness.app.services.consent_gate
    assert not await gate.is_covered(db.conn, kolya)
    assert kolya not in await gate.covered_children(db.conn)
    assert not (await gate.code_clearance(db.conn, kolya, "student")).open
    assert await gate.conflicts(db.conn) == {kolya}
    # The conflict is a case for the class teacher and the IT officer, in both orders.
    alerts = await db.fetchall(f"SELECT {TG_CHAT} FROM outbox WHERE dedupe_key LIKE 'consent-conflict:%'")
    assert sorted(r[0] for r in alerts) == sorted([IT_OFFICER, CLASS_TEACHER])
    # The class teacher's view marks it.
    view = last_with_buttons(await harness.text(CLASS_TEACHER, "/consent"))
    text = str(getattr(view, "text", ""))
    assert "Смирнов Коля" in text and "разногласие" in text
    # The register says so too.
    _, register = await harness.app.services.consent_registers.register("5А")
    row = next(r for r in register if r.child_id == kolya)
    assert row.conflict and row.state == "declined"
    # /status counts it as a case for the class.
    status = " ".join(texts(await harness.text(IT_OFFICER, "/status")))
    assert "Разногласия родителей (урегулировать с семьёй): 5А — 1" in status
    assert not await db.fetchall("SELECT 1 FROM outbox WHERE dedupe_key LIKE 'consent-withdrawn:%'")
    # Each parent sees why consent does not apply.
    parent_view = " ".join(texts(await harness.text(PARENT_ONE, "/consent")))
    assert "ответили по-разному" in parent_view
    # The parent who declined changes their mind: now both agree and the child is covered.
    await press(harness, PARENT_THREE, "✅")
    assert await gate.is_covered(db.conn, kolya) and await gate.conflicts(db.conn) == set()


async def test_withdrawal_by_the_second_parent_stops_the_first_parents_consent(harness: Harness) -> None:
    kolya = await two_parent_school(harness)
    await press(harness, PARENT_ONE, "✅")
    assert await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    keys = buttons(last_with_buttons(await harness.text(PARENT_THREE, "/consent")))
    withdraw = next(v for k, v in keys.items() if k.startswith("↩️") and "Коля" in k)
    confirm = last_with_buttons(await harness.press(PARENT_THREE, withdraw))
    await harness.press(PARENT_THREE, buttons(confirm)["Да, отозвать"])
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    # The first parent's own consent stands (no "agree" to press again), but it no longer covers Коля.
    keys = await consent_menu(harness, PARENT_ONE)
    assert not [k for k in keys if k.startswith("✅") and "Коля" in k]
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    assert [r.decision for r in await ConsentRepo.ledger_rows(harness.app.db.conn)] == ["given", "withdrawn"]


async def test_paper_goes_through_the_same_writer_and_rule(harness: Harness) -> None:
    kolya = await two_parent_school(harness)
    await press(harness, PARENT_THREE, "❌")
    teacher = await harness.app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
    assert teacher is not None
    paper = harness.app.services.consent_paper
    result = await paper.record_paper(staff=teacher, child_id=kolya, decision="given", paper_date=date(2026, 11, 30))
    assert result.outcome is Outcome.RECORDED and result.row is not None and result.row.parent_id is None
    # The unidentified signer's paper consent does not override the other parent's decline.
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    again = await paper.record_paper(staff=teacher, child_id=kolya, decision="given", paper_date=date(2026, 11, 30))
    assert again.outcome is Outcome.UNCHANGED


async def test_once_covered_every_parent_gets_the_codes_not_only_who_pressed(harness: Harness) -> None:
    await two_parent_school(harness)
    rows = [*CODE_ROWS, ["Смирнова Ирина Олеговна", "5А", "родитель", "SMI8-PAR5-H08"]]
    outcome = await harness.app.importers["codes"].run(csv_bytes(rows), "codes.csv", ImportOptions())
    assert outcome.ok, outcome.errors
    await press(harness, PARENT_ONE, "✅")
    sent_to: dict[str, set[int]] = {}
    for raw, chat in await harness.app.db.fetchall(
        f"SELECT payload, {TG_CHAT} FROM outbox WHERE dedupe_key LIKE 'code:%' AND status != 'cancelled'"
    ):
        code = await CodeRepo(harness.app.db).get(Payload.from_json(raw).args["code_id"])
        assert code is not None
        sent_to.setdefault(code.code, set()).add(int(chat))
    # Коля's card reaches both parents; the second parent's own code goes out too.
    assert sent_to[CODES["Смирнов Коля Олегович"]] >= {PARENT_ONE, PARENT_THREE}
    assert sent_to["SMI8-PAR5-H08"] == {PARENT_THREE}


async def test_retention_reads_a_withdrawal_as_the_family_rule_does(harness: Harness) -> None:
    """The second parent's "agree" after the first parent's withdrawal does not lift it: the child
    stays uncovered, and the purge 30 days on still carries the withdrawal out."""
    kolya = await two_parent_school(harness)
    await press(harness, PARENT_ONE, "✅")
    keys = buttons(last_with_buttons(await harness.text(PARENT_ONE, "/consent")))
    confirm = last_with_buttons(await harness.press(PARENT_ONE, keys["↩️ Отозвать согласие: Коля"]))
    await harness.press(PARENT_ONE, buttons(confirm)["Да, отозвать"])
    await press(harness, PARENT_THREE, "✅")
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    due = await RetentionRepo(harness.app.db).withdrawals_before(harness.clock.now())
    assert kolya in [c.person_id for c in due]
