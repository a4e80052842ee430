"""Consent to personal-data processing (152-FZ art. 9): the document, decisions with receipts,
paper consents, nudges, registers and the gate that invitation codes ask.

A child's state on the current version is its latest ledger row on that version, whoever made it
(any parent, by Telegram or on paper); no row means "pending". Every decision is appended to the
ledger inside one write transaction together with what it causes (code deliveries via the
`on_consent_given` hooks, cancellations and alerts on withdrawal), so evidence and effects never
disagree.
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import aiosqlite

from bot.domain.access import ADMIN_ROLE
from bot.domain.people import Person, class_sort_key
from bot.i18n import Translator
from bot.paths import CONTENT_DIR
from bot.russian import Named
from storage import consent as repo
from storage import consent_form as form_repo
from storage.codes import CodeRepo
from storage.consent import Decision, LedgerRow, NewDecision, Version
from storage.db import Database
from storage.outbox import Payload, enqueue
from storage.people import PersonRepo

if TYPE_CHECKING:
    from bot.services.core import Core

log = logging.getLogger(__name__)

DOC_DIR = CONTENT_DIR / "consent"
# Telegram's limit is 4096 characters; leave room for the "(1/3)" part marker.
MESSAGE_LIMIT = 4000
NUDGE_GAP = timedelta(days=3)
MAX_NUDGES = 2

State = Literal["pending", "given", "declined", "withdrawn"]
# (app, conn, child_id, parent_id or None for a paper form without a known signer, now)


class Outcome(Enum):
    RECORDED = "recorded"
    UNCHANGED = "unchanged"        # the same decision as the current one: nothing written
    DUPLICATE = "duplicate"        # this press was already recorded
    FORBIDDEN = "forbidden"        # the caller does not represent this child / may not record it
    STALE = "stale"                # the version is no longer current
    NOT_GIVEN = "not_given"        # withdrawing what was never given
    NOT_READ = "not_read"          # agreeing to a document the parent has not opened


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    child_id: int
    row: LedgerRow | None = None


# --- the document -------------------------------------------------------------------------------


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped_template(lang: str = "ru") -> str:
    return (DOC_DIR / f"{lang}.md").read_text(encoding="utf-8")


async def publish(app: Core, text: str, *, text_en: str | None = None, by: int | None = None) -> Version:
    """Publish a new version: every child becomes "pending" on it; old decisions stay on record."""
    text = text.replace("\r\n", "\n")
    now = app.clock.now()
    async with app.db.transaction() as conn:
        number = await repo.insert_version(
            conn, sha256=sha256_text(text), text=text, text_en=text_en, now=now, by=by
        )
    version = await repo.get_version(app.db.conn, number)
    assert version is not None
    log.info("consent document version %s published", number)
    return version


async def current(app: Core) -> Version:
    """The current version; the shipped document becomes version 1 the first time it is needed.

    Must not be called inside an open write transaction (it may open one)."""
    version = await repo.current_version(app.db.conn)
    if version is None:
        version = await publish(app, shipped_template("ru"), text_en=shipped_template("en"))
    return version


async def current_or_none(db: Database) -> Version | None:
    return await repo.current_version(db.conn)


class _Unknown:
    """A placeholder the template names but the bot does not fill: printed back as written."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __format__(self, spec: str) -> str:
        return "{" + self.key + (":" + spec if spec else "") + "}"


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> _Unknown:
        return _Unknown(key)


# A value the bot does not hold is a line to fill in by hand on the printed form, never a guess.
BLANK = "____________________"
LONG_BLANK = "______________________________________________"


def render_document(app: Core, version: Version, lang: str, parent: Person | None, child: Person) -> str:
    """The exact text a parent reads (and prints to sign): the version's template with the
    parent's and the child's names in the case each sentence needs and the school's facts."""
    template = version.text_en if lang == "en" and version.text_en else version.text
    platform = app.school.platform
    form = app.school.consent
    values = _Blank(
        parent_name=Named(parent.full_name if parent else "", blank=LONG_BLANK),
        parent_address=LONG_BLANK,
        parent_document=LONG_BLANK,
        authority=LONG_BLANK,
        child_name=Named(child.full_name),
        child_class=child.class_label or BLANK,
        child_address=LONG_BLANK,
        child_document=LONG_BLANK,
        school_name=app.school.school.name,
        school_address=app.school.school.address or LONG_BLANK,
        platform_name=platform.name,
        platform_url=platform.url,
        processor_name=platform.operator or LONG_BLANK,
        processor_address=platform.operator_address or LONG_BLANK,
        hosting_name=form.hosting_name or LONG_BLANK,
        hosting_address=form.hosting_address or LONG_BLANK,
        messenger_name=form.messenger_name or BLANK,
        messenger_operator=form.messenger_operator or BLANK,
        messenger_address=form.messenger_address or LONG_BLANK,
        version=str(version.number),
    )
    return template.format_map(values).strip()


async def open_document(app: Core, parent: Person, child: Person, lang: str) -> tuple[Version, str]:
    """The parent opens a child's document: the exact text is kept (by its hash) and the opening
    recorded, which is what lets them agree. Returns the version and the text to show."""
    version = await current(app)
    text = render_document(app, version, lang, parent, child)
    sha = sha256_text(text)
    now = app.clock.now()
    async with app.db.transaction() as conn:
        await form_repo.store_text(conn, sha, text, now)
        await form_repo.record_read(
            conn, parent_id=parent.id, child_id=child.id, version=version.number, sha256=sha, now=now
        )
    return version, text


async def opened(app: Core, parent: Person, version: Version) -> set[int]:
    """The children whose document this parent has opened on `version`."""
    return set(await form_repo.reads(app.db.conn, parent.id, version.number))


async def _shown_text_hash(
    app: Core, conn: aiosqlite.Connection, version: Version, parent: Person | None, child: Person, now: datetime
) -> str:
    """The hash of the text this parent sees for this child now, the text itself kept."""
    text = render_document(app, version, (parent.lang if parent else None) or "ru", parent, child)
    sha = sha256_text(text)
    await form_repo.store_text(conn, sha, text, now)
    return sha


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at paragraph boundaries (blank lines) into parts under `limit` characters; a single
    paragraph longer than the limit is split at line, then word boundaries."""
    parts: list[str] = []
    chunk = ""
    for para in _pieces(text.strip().split("\n\n"), "\n", limit):
        candidate = f"{chunk}\n\n{para}" if chunk else para
        if len(candidate) <= limit:
            chunk = candidate
        else:
            if chunk:
                parts.append(chunk)
            chunk = para
    if chunk:
        parts.append(chunk)
    return parts


def _pieces(paragraphs: Sequence[str], sep: str, limit: int) -> list[str]:
    out: list[str] = []
    for para in paragraphs:
        if len(para) <= limit:
            out.append(para)
            continue
        finer = " " if sep == "\n" else ""
        pieces = para.split(sep) if sep else [para[i : i + limit] for i in range(0, len(para), limit)]
        chunk = ""
        for piece in _pieces(pieces, finer, limit) if sep else pieces:
            candidate = f"{chunk}{sep}{piece}" if chunk else piece
            if len(candidate) <= limit:
                chunk = candidate
            else:
                if chunk:
                    out.append(chunk)
                chunk = piece
        if chunk:
            out.append(chunk)
    return out


def document_messages(app: Core, version: Version, lang: str, parent: Person | None, child: Person) -> list[str]:
    """The document as HTML-safe messages, each under Telegram's limit."""
    return [html.escape(part) for part in split_message(render_document(app, version, lang, parent, child))]


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
    version = await repo.current_version(db.conn)
    latest: dict[int, LedgerRow] = {}
    if version is not None and child_ids:
        latest = await repo.latest(db.conn, version.number, None if len(child_ids) > _ALL_ROWS_ABOVE else child_ids)
    if require_original and version is not None and child_ids:
        signed = await form_repo.originals(db.conn, version.number, child_ids)
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
    version = await repo.current_version(db.conn)
    if version is None:
        return set()
    covered = await repo.covered_child_ids(db.conn, version.number)
    if require_original:
        covered &= set(await form_repo.originals(db.conn, version.number))
    return covered


# --- states -------------------------------------------------------------------------------------


def state_of(row: LedgerRow | None) -> State:
    return "pending" if row is None else row.decision


@dataclass(frozen=True)
class ChildState:
    child: Person
    state: State
    row: LedgerRow | None


async def family(app: Core, parent: Person, version: Version) -> list[ChildState]:
    children = await app.people.children(parent.id)
    latest = await repo.latest(app.db.conn, version.number, [c.id for c in children])
    return [ChildState(c, state_of(latest.get(c.id)), latest.get(c.id)) for c in children]


def new_receipt_id() -> str:
    # 40 random bits in Crockford-like base32 without look-alikes: short enough to read out.
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(8))


# --- deciding -----------------------------------------------------------------------------------


async def decide(
    app: Core,
    *,
    parent: Person,
    child_ids: Sequence[int],
    decision: Decision,
    version: int,
    tg_user_id: int,
    update_id: int | None,
    callback_id: str,
) -> list[Result]:
    """Record a parent's Telegram decision for each child (per child: one ledger row each)."""
    now = app.clock.now()
    await current(app)  # publishes the shipped version 1 if needed (outside the transaction)
    own = {c.id: c for c in await app.people.children(parent.id)}
    results: list[Result] = []
    async with app.db.transaction() as conn:
        # Re-read inside the transaction: a version published meanwhile makes this press stale.
        current_version = await repo.current_version(conn)
        if current_version is None or version != current_version.number:
            return [Result(Outcome.STALE, cid) for cid in child_ids]
        already = {r.child_id: r for r in await repo.rows_for_callback(conn, callback_id)}
        seen = await form_repo.reads(conn, parent.id, version)
        latest = await repo.latest(conn, version, [cid for cid in child_ids if cid in own])
        for cid in child_ids:
            if cid not in own:
                # A forged or outdated child id: the caller does not represent this child.
                results.append(Result(Outcome.FORBIDDEN, cid))
                continue
            if cid in already:
                results.append(Result(Outcome.DUPLICATE, cid, already[cid]))
                continue
            before = latest.get(cid)
            if state_of(before) == decision:
                results.append(Result(Outcome.UNCHANGED, cid, before))
                continue
            if decision == "withdrawn" and state_of(before) != "given":
                results.append(Result(Outcome.NOT_GIVEN, cid, before))
                continue
            # The ledger keeps the hash of the exact text the parent was shown, values filled in.
            sha = seen[cid].sha256 if cid in seen else await _shown_text_hash(
                app, conn, current_version, parent, own[cid], now
            )
            new = NewDecision(
                receipt_id=new_receipt_id(), parent_id=parent.id, child_id=cid, decision=decision,
                version=version, sha256=sha, channel="telegram", created_at=now,
                tg_user_id=tg_user_id, tg_update_id=update_id, tg_callback_id=callback_id,
            )
            if not await repo.insert_decision(conn, new):
                results.append(Result(Outcome.DUPLICATE, cid))
                continue
            row = await repo.by_receipt(conn, new.receipt_id)
            assert row is not None
            await _effects(app, conn, own[cid], parent.id, before, row, now)
            results.append(Result(Outcome.RECORDED, cid, row))
        await repo.cancel_pending_nudges(conn, parent.id)
    return results


async def _effects(
    app: Core,
    conn: aiosqlite.Connection,
    child: Person,
    parent_id: int | None,
    before: LedgerRow | None,
    row: LedgerRow,
    now: datetime,
) -> None:
    if row.decision == "given":
        await _release(app, conn, child, parent_id, now)
    elif before is not None and before.decision == "given":
        # Covered -> not covered: every code of the family whose gate is now closed (the child's,
        # and a parent's own when no other child is covered) stops at once; tell the staff.
        parents = [p.id for p in await app.people.parents(child.id)]
        family = await CodeRepo.active_in(conn, [child.id, *parents])
        gate = await code_clearances(
            app.db, [(c.person_id, c.role) for c in family], require_original=app.school.consent.codes_wait_for_original
        )
        closed = [c.id for c in family if not gate[(c.person_id, c.role)].open]
        cancelled = await CodeRepo.cancel_pending_deliveries(conn, closed)
        log.info("consent withdrawn for a child: %d pending code messages cancelled", cancelled)
        await _alert_withdrawal(app, conn, child, row, now)


async def _release(app: Core, conn: aiosqlite.Connection, child: Person, parent_id: int | None, now: datetime) -> None:
    """Tell the capabilities waiting on the gate (codes) that it may have opened for this child."""
    hooks = app.consent_listeners
    # A paper form whose signer is not known: every parent of the child is its representative.
    signers: list[int | None] = (
        [parent_id] if parent_id is not None else [p.id for p in await app.people.parents(child.id)] or [None]
    )
    for hook in hooks:
        for signer in signers:
            await hook(app, conn, child.id, signer, now)


async def _alert_withdrawal(
    app: Core, conn: aiosqlite.Connection, child: Person, row: LedgerRow, now: datetime
) -> None:
    staff = {p.id: p for p in await app.people.with_role(ADMIN_ROLE)}
    if child.class_label:
        staff.update({p.id: p for p in await app.people.with_role("class_teacher", child.class_label)})
    when = now.astimezone(app.school.tz).strftime("%d.%m.%Y %H:%M")
    for person in staff.values():
        if person.tg_user_id is None:
            continue
        lang = person.lang or "ru"
        text = app.catalog.text(
            lang, "consent.alert_withdrawn",
            child=Named(child.full_name, escape=True), cls=html.escape(child.class_label or "—"),
            decision=app.catalog.text(lang, f"consent.decision.{row.decision}"),
            when=when, receipt=row.receipt_id,
        )
        await enqueue(
            conn, dedupe_key=f"consent-withdrawn:{row.receipt_id}:{person.id}", chat_id=person.tg_user_id,
            person_id=person.id, kind="text", payload=Payload(text=text), now=now, priority=2,
        )


# --- paper --------------------------------------------------------------------------------------


def may_record_for(staff: Person, child: Person) -> bool:
    if staff.is_admin:
        return True
    return staff.has_role("class_teacher") and staff.class_label is not None and staff.class_label == child.class_label


def staff_classes(staff: Person, all_classes: Sequence[str]) -> list[str]:
    if staff.is_admin:
        return list(all_classes)
    if staff.has_role("class_teacher") and staff.class_label in all_classes:
        return [staff.class_label] if staff.class_label else []
    return []


async def record_paper(
    app: Core, *, staff: Person, child_id: int, decision: Decision, paper_date: date
) -> Result:
    now = app.clock.now()
    version = await current(app)
    child = await app.people.get(child_id)
    if child is None or not child.active or "student" not in child.roles or not may_record_for(staff, child):
        return Result(Outcome.FORBIDDEN, child_id)
    parents = await app.people.parents(child.id)
    signer = parents[0].id if len(parents) == 1 else None
    async with app.db.transaction() as conn:
        # The paper form is the one the bot prints: the signer's name filled in when known.
        sha = await _shown_text_hash(app, conn, version, parents[0] if signer else None, child, now)
        before = (await repo.latest(conn, version.number, [child.id])).get(child.id)
        if state_of(before) == decision:
            return Result(Outcome.UNCHANGED, child.id, before)
        if decision == "withdrawn" and state_of(before) != "given":
            return Result(Outcome.NOT_GIVEN, child.id, before)
        new = NewDecision(
            receipt_id=new_receipt_id(), parent_id=signer, child_id=child.id, decision=decision,
            version=version.number, sha256=sha, channel="paper", created_at=now,
            recorded_by=staff.id, paper_date=paper_date,
        )
        await repo.insert_decision(conn, new)
        row = await repo.by_receipt(conn, new.receipt_id)
        assert row is not None
        await _effects(app, conn, child, signer, before, row, now)
    return Result(Outcome.RECORDED, child.id, row)


async def record_original(app: Core, *, staff: Person, child_id: int) -> Outcome:
    """Staff received the child's signed paper original (today, in the school's time zone).
    When codes wait for it, a consent already given now releases them."""
    now = app.clock.now()
    version = await current(app)
    child = await app.people.get(child_id)
    if child is None or not child.active or "student" not in child.roles or not may_record_for(staff, child):
        return Outcome.FORBIDDEN
    today = now.astimezone(app.school.tz).date()
    async with app.db.transaction() as conn:
        if not await form_repo.record_original(
            conn, child_id=child.id, version=version.number, received_on=today, by=staff.id, now=now
        ):
            return Outcome.UNCHANGED
        row = (await repo.latest(conn, version.number, [child.id])).get(child.id)
        if app.school.consent.codes_wait_for_original and row is not None and row.decision == "given":
            await _release(app, conn, child, row.parent_id, now)
    return Outcome.RECORDED


async def originals(app: Core, version: Version, child_ids: Sequence[int] | None = None) -> dict[int, date]:
    """child id -> the day its signed original was received."""
    found = await form_repo.originals(app.db.conn, version.number, child_ids)
    return {cid: o.received_on for cid, o in found.items()}


def parse_paper_date(text: str, today: date) -> date | None:
    """dd.mm.yyyy, not in the future and not before 2000."""
    try:
        value = datetime.strptime(text.strip(), "%d.%m.%Y").date()
    except ValueError:
        return None
    if value > today or value.year < 2000:
        return None
    return value


# --- receipts -----------------------------------------------------------------------------------


def receipt_text(app: Core, t: Translator, row: LedgerRow, child: Person) -> str:
    local = row.created_at.astimezone(app.school.tz)
    return t(
        "consent.receipt",
        decision=t(f"consent.decision.{row.decision}"),
        child=Named(child.full_name, escape=True),
        cls=html.escape(child.class_label or "—"),
        local=local.strftime("%d.%m.%Y %H:%M:%S"),
        tz=app.school.school.timezone,
        utc=row.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        version=row.version,
        sha=row.sha256,
        receipt=row.receipt_id,
    )


# --- nudges -------------------------------------------------------------------------------------


def _allowed(app: Core, moment: datetime) -> datetime:
    return app.school.calendar.send_window(moment)


def _school_day(app: Core, moment: datetime) -> date:
    return app.school.calendar.local_date(moment)


async def pending_parents(app: Core, version: Version) -> list[Person]:
    """Linked parents with a child that has no decision on `version`, who have themselves made no
    decision on it (a parent who declined is never nagged)."""
    ids = await repo.undecided_parent_ids(app.db.conn, version.number)
    return [p for p in await app.people.get_many(ids) if p.active and p.reachable and p.has_role("parent")]


async def run_nudges(app: Core, now: datetime) -> int:
    """Schedule reminder n=1 as soon as a parent is pending, n=2 three days after n=1; each in
    working hours. Returns how many were enqueued."""
    version = await repo.current_version(app.db.conn)
    if version is None:
        return 0
    scheduled = await repo.nudges(app.db.conn, version.number)
    ids = await repo.undecided_parent_ids(app.db.conn, version.number)
    # Only those with a reminder due now are loaded: most minutes nobody is.
    due_ids = [
        pid for pid in ids
        if len(scheduled.get(pid, {})) == 0
        or (len(scheduled[pid]) == 1 and now >= scheduled[pid][1] + NUDGE_GAP)
    ]
    candidates = [p for p in await app.people.get_many(due_ids) if p.active and p.reachable and p.has_role("parent")]
    if not candidates:
        return 0
    count = 0
    async with app.db.transaction() as conn:
        for parent in candidates:
            done = scheduled.get(parent.id, {})
            n = len(done) + 1
            if n > MAX_NUDGES:
                continue
            if n == 2 and now < done[1] + NUDGE_GAP:
                continue
            due = _allowed(app, now)
            # One reminder a family a day: when an activation reminder already went to this parent
            # today, the consent reminder waits for tomorrow (the codes sweep folds an activation
            # reminder into a consent reminder still waiting, see codes._fold_into_consent_reminder).
            last_code_nudge = await CodeRepo.last_nudge_to(conn, parent.id)
            if last_code_nudge is not None and _school_day(app, last_code_nudge) == _school_day(app, due):
                continue
            if not await repo.record_nudge(conn, version.number, parent.id, n, due):
                continue
            assert parent.tg_user_id is not None
            lang = parent.lang or "ru"
            await enqueue(
                conn, dedupe_key=f"consent-nudge:{version.number}:{parent.id}:{n}", chat_id=parent.tg_user_id,
                person_id=parent.id, kind="text",
                payload=Payload(
                    text=app.catalog.text(lang, f"consent.nudge_{n}", name=Named(parent.full_name, escape=True)),
                    reply_markup=app.buttons.consent_open(
                        app.catalog.text(lang, "consent.open_button"), version.number
                    ),
                ),
                now=now, not_before=due,
            )
            count += 1
    return count


# --- class view and the class teacher's reminder ---------------------------------------------------


@dataclass(frozen=True)
class ClassOverview:
    class_label: str
    pending: list[Person]       # children
    declined: list[ChildState]
    given: int
    reminder_sent: datetime | None


async def class_overview(app: Core, class_label: str) -> ClassOverview:
    version = await current(app)
    pupils = await app.people.with_role("student", class_label)
    latest = await repo.latest(app.db.conn, version.number, [p.id for p in pupils])
    pending = [p for p in pupils if p.id not in latest]
    declined = [
        ChildState(p, state_of(latest[p.id]), latest[p.id])
        for p in pupils
        if p.id in latest and latest[p.id].decision in ("declined", "withdrawn")
    ]
    given = sum(1 for r in latest.values() if r.decision == "given")
    sent = await repo.class_reminder(app.db.conn, version.number, class_label)
    return ClassOverview(class_label, pending, declined, given, sent)


async def remind_class(app: Core, staff: Person, class_label: str) -> int | None:
    """One reminder per class and version to the parents of the class's pending children.
    None when it was already sent (or the caller may not), else how many parents it reaches."""
    if staff_classes(staff, [class_label]) != [class_label]:
        return None
    now = app.clock.now()
    version = await current(app)
    overview = await class_overview(app, class_label)
    declined_parents = await repo.parents_who_declined(app.db.conn, version.number)
    targets: dict[int, Person] = {}
    for child in overview.pending:
        for parent in await app.people.parents(child.id):
            if parent.reachable and parent.id not in declined_parents:
                targets[parent.id] = parent
    due = _allowed(app, now)
    async with app.db.transaction() as conn:
        if not await repo.record_class_reminder(conn, version.number, class_label, staff.id, now):
            return None
        for parent in targets.values():
            assert parent.tg_user_id is not None
            lang = parent.lang or "ru"
            await enqueue(
                conn, dedupe_key=f"consent-remind:{version.number}:{parent.id}", chat_id=parent.tg_user_id,
                person_id=parent.id, kind="text",
                payload=Payload(
                    text=app.catalog.text(
                        lang, "consent.class_reminder", name=Named(parent.full_name, escape=True),
                        teacher=Named(staff.full_name, escape=True),
                    ),
                    reply_markup=app.buttons.consent_open(
                        app.catalog.text(lang, "consent.open_button"), version.number
                    ),
                ),
                now=now, not_before=due,
            )
    return len(targets)


# --- registers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    class_label: str
    child: str
    child_id: int
    state: State
    by: str            # the parent who decided (telegram) or "paper form, entered by ..." parts
    recorded_by: str
    when: datetime | None
    paper_date: date | None
    channel: str
    version: int | None
    receipt_id: str
    original: date | None = None                     # the signed paper original received on
    history: tuple[LedgerRow, ...] = ()              # every decision for the child, oldest first


async def register(app: Core, class_label: str | None = None) -> tuple[Version, list[RegisterRow]]:
    version = await current(app)
    pupils = await app.people.with_role("student", class_label)
    latest = await repo.latest(app.db.conn, version.number, [p.id for p in pupils])
    wanted = {p.id for p in pupils}
    history: dict[int, list[LedgerRow]] = {}
    for entry in await repo.ledger_rows(app.db.conn):
        if entry.child_id in wanted:
            history.setdefault(entry.child_id, []).append(entry)
    received = await originals(app, version, list(wanted))
    names: dict[int, str] = {}
    ids = {r.parent_id for r in latest.values() if r.parent_id}
    ids |= {r.recorded_by for r in latest.values() if r.recorded_by}
    for person in await app.people.get_many(i for i in ids if i is not None):
        names[person.id] = person.full_name
    rows = []
    for pupil in pupils:
        row = latest.get(pupil.id)
        rows.append(
            RegisterRow(
                class_label=pupil.class_label or "",
                child=pupil.full_name,
                child_id=pupil.id,
                state=state_of(row),
                by=names.get(row.parent_id, "") if row and row.parent_id else "",
                recorded_by=names.get(row.recorded_by, "") if row and row.recorded_by else "",
                when=row.created_at if row else None,
                paper_date=row.paper_date if row else None,
                channel=row.channel if row else "",
                version=row.version if row else None,
                receipt_id=row.receipt_id if row else "",
                original=received.get(pupil.id),
                history=tuple(sorted(history.get(pupil.id, []), key=lambda r: r.id)),
            )
        )

    rows.sort(key=lambda r: (class_sort_key(r.class_label), r.child))
    return version, rows


def counts_by_class(rows: Sequence[RegisterRow]) -> dict[str, dict[State, int]]:
    out: dict[str, dict[State, int]] = {}
    for row in rows:
        per = out.setdefault(row.class_label, {"pending": 0, "given": 0, "declined": 0, "withdrawn": 0})
        per[row.state] += 1
    return out


def read_file_text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")
