"""Personal invitation codes for the journal platform (plan item 11).

Import and match codes to roster people, deliver each code as a QR card to its owner (and a
pupil's code to the pupil's parents) once the gate allows it, track activation, nudge, print sheets
for families without Telegram, revoke and reissue, and count the funnel.

Whether a code may leave at all is the consent gate (`bot.services.consent.code_clearances`), asked
by every path here: delivery, showing codes again, nudges, the card renderer at send time, print
sheets (bot and CLI) and the counts of withheld codes. Who may receive it is one rule
(`recipients`), used for delivery, for showing codes again on request and for checking every
callback that names a code or a person:
- staff: the owner;
- a parent's own code: the parent, once consent is given for at least one of their children (it
  is the parent's credential: it never goes on a class teacher's sheet of pupils);
- a pupil's code: the pupil and each parent, once consent is given for that pupil.

Codes are secrets: they travel only inside the card image (rendered at send time from the code's
id), never in message text, outbox payloads, logs or error reports; staff views show them masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import aiosqlite

from bot.domain.access import STAFF_ROLES
from bot.domain.people import Person, class_sort_key
from bot.i18n import Translator
from bot.russian import Named
from bot.services.consent import Clearance, GateReason, code_clearance, code_clearances
from bot.services.exports import write_private
from bot.services.imports import Importer, ImportOptions, ImportOutcome, table_error
from bot.services.people_text import clean_name, name_key, normalize_class, parse_role
from bot.services.print_sheets import render_sheets
from bot.services.qr_card import CardData, qr_payload, render_card
from bot.services.roster import RowError
from bot.services.tabular import Limits, TableError, load_table
from bot.services.tickets import open_ticket
from storage import consent as consent_repo
from storage.codes import Code, CodeRepo, FunnelCounts, NewCode
from storage.outbox import Payload, amend_waiting, enqueue, waiting_payload
from storage.timefmt import from_db

if TYPE_CHECKING:
    from bot.services.core import Core

log = logging.getLogger(__name__)

REQUEST_INTERVAL = timedelta(minutes=10)
NUDGE_INTERVAL = timedelta(days=3)
MAX_NUDGES = 2
CARD_RENDERER = "qr_card"
SHEETS_RENDERER = "code_sheets"

BASE_ALIASES: dict[str, list[str]] = {
    "full_name": ["ФИО", "Ф.И.О.", "Фамилия Имя Отчество", "Пользователь", "Name", "Full name"],
    "class_label": ["Класс", "Class", "Группа"],
    "role": ["Роль", "Тип", "Тип пользователя", "Категория", "Role", "Type"],
    "code": ["Код", "Код приглашения", "Пригласительный код", "Код активации", "Код регистрации",
             "Code", "Invitation code"],
    "status": ["Статус", "Статус активации", "Активирован", "Активация", "Status", "Activated"],
}
CODE_RE = re.compile(r"^[0-9A-Za-zА-Яа-яЁё][0-9A-Za-zА-Яа-яЁё\-_]{3,63}$")
_STAFF_WORDS = {"сотрудник", "сотрудники", "педагог", "персонал", "employee", "staff", "учителя"}
_YES = {"да", "активирован", "активирована", "активировано", "зарегистрирован", "зарегистрирована",
        "yes", "y", "true", "1", "+", "activated", "active", "активен"}
_NO = {"нет", "не активирован", "не активирована", "не зарегистрирован", "no", "n", "false", "0", "-", "",
       "not activated", "inactive"}


class Withheld(PermissionError):
    """A card asked to be rendered for someone the gate does not let the code reach."""


def mask(code: str) -> str:
    """Staff views show only the last three characters."""
    return "••••••" + code[-3:]


def role_group(roles: Iterable[str]) -> str | None:
    found = set(roles)
    if "student" in found:
        return "student"
    if "parent" in found:
        return "parent"
    if found & STAFF_ROLES:
        return "staff"
    return None


def parse_group(raw: str) -> str | None:
    text = " ".join(raw.replace("ё", "е").lower().replace(".", " ").split())
    if text in _STAFF_WORDS:
        return "staff"
    role = parse_role(raw)
    return role_group([role]) if role else None


def normalize_code(raw: str) -> str | None:
    text = "".join(raw.split())
    return text if CODE_RE.match(text) else None


def allowed_time(app: Core, moment: datetime) -> datetime:
    """The first moment within working hours (messages nobody asked for right now)."""
    return app.school.calendar.send_window(moment)


def translator(app: Core, person: Person) -> Translator:
    return app.translator_for(person)


# --- who may receive a code -----------------------------------------------------------------------


def _wait(app: Core) -> bool:
    """Whether the school makes codes wait for the signed paper original (asked of the one gate)."""
    return app.school.consent.codes_wait_for_original


async def recipients(app: Core, code: Code, *, reachable_only: bool = True) -> list[Person]:
    """Who may receive this code now (the one access rule for codes): nobody while the consent
    gate is closed; then the owner, and for a pupil's code also the pupil's parents."""
    owner = await app.people.get(code.person_id)
    if owner is None or not owner.active:
        return []
    if not (await code_clearance(app.db, code.person_id, code.role, require_original=_wait(app))).open:
        return []
    found = [owner, *await app.people.parents(owner.id)] if code.role == "student" else [owner]
    found = [p for p in found if p.reachable] if reachable_only else [p for p in found if p.tg_user_id is not None]
    return found


async def visible_codes(app: Core, caller: Person) -> list[tuple[Person, Code]]:
    """The codes the caller may see: their own and their children's (gate permitting)."""
    owners = [caller, *(await app.people.children(caller.id) if caller.has_role("parent") else [])]
    repo = CodeRepo(app.db)
    result: list[tuple[Person, Code]] = []
    by_id = {p.id: p for p in owners}
    for code in await repo.active_for(by_id):
        if any(r.id == caller.id for r in await recipients(app, code, reachable_only=False)):
            result.append((by_id[code.person_id], code))
    return result


async def may_see(app: Core, caller: Person, code: Code) -> bool:
    return code.active and any(r.id == caller.id for r in await recipients(app, code, reachable_only=False))


# --- delivery ---------------------------------------------------------------------------------


def card_caption(t: Translator, owner: Person, recipient: Person) -> str:
    return t(
        "codes.caption_own" if recipient.id == owner.id else "codes.caption",
        name=Named(owner.full_name, escape=True), who=Named(recipient.full_name),
    )


async def enqueue_card(
    app: Core,
    conn: aiosqlite.Connection,
    code: Code,
    owner: Person,
    recipient: Person,
    *,
    reason: str,
    now: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Enqueue the card once per (code, recipient); a delivery cancelled by a consent withdrawal
    is enqueued anew under a fresh key once the gate opens again."""
    assert recipient.tg_user_id is not None
    keys = await CodeRepo.delivery_keys(conn, code.id, recipient.id)
    if any(status != "cancelled" for _, status in keys):
        return False
    key = f"code:{code.id}:{recipient.id}" + (f":{len(keys) + 1}" if keys else "")
    t = app.translator_for(recipient)
    payload = Payload(
        text=card_caption(t, owner, recipient),
        reply_markup=app.buttons.code_card(code.id, t, recipient),
        protect_content=app.school.codes.protect_content,
        renderer=CARD_RENDERER,
        args={"code_id": code.id, "lang": t.lang, "recipient": recipient.id},
    )
    added = await enqueue(
        conn, dedupe_key=key, chat_id=recipient.tg_user_id, person_id=recipient.id, kind="photo",
        payload=payload, now=now, not_before=not_before,
    )
    if added:
        await CodeRepo.record_delivery(conn, code_id=code.id, recipient_id=recipient.id, reason=reason, now=now,
                                       outbox_key=key)
        log.info("code card %s enqueued for person %s (%s)", code.id, recipient.id, reason)
    return added


async def deliver(
    app: Core,
    conn: aiosqlite.Connection,
    *,
    reason: str,
    now: datetime,
    owner_ids: Iterable[int] | None = None,
    only_recipient: int | None = None,
    not_before: datetime | None = None,
) -> int:
    """Enqueue every card that is due: call inside the transaction of the change that makes it due."""
    count = 0
    codes = await CodeRepo.active_in(conn, owner_ids)
    # One gate query for the whole batch first: the minute sweep walks every active code, and
    # most closed ones need no further look.
    gate = await code_clearances(app.db, [(c.person_id, c.role) for c in codes], require_original=_wait(app))
    for code in codes:
        if not gate[(code.person_id, code.role)].open:
            continue
        owner = await app.people.get(code.person_id)
        if owner is None:
            continue
        for recipient in await recipients(app, code):
            if only_recipient is not None and recipient.id != only_recipient:
                continue
            if await enqueue_card(app, conn, code, owner, recipient, reason=reason, now=now, not_before=not_before):
                count += 1
    if count:
        app.wake_sender()
    return count


async def on_link(app: Core, conn: aiosqlite.Connection, person: Person, now: datetime) -> None:
    """Link hook: the person gets their own code and, as a parent, their children's (gate permitting)."""
    owners = [person.id, *(c.id for c in await app.people.children(person.id))]
    await deliver(app, conn, reason="link", now=now, owner_ids=owners, only_recipient=person.id)


async def on_consent_given(
    app: Core, conn: aiosqlite.Connection, child_id: int, parent_id: int | None, now: datetime
) -> None:
    """Consent hook: the child's code (to the pupil and parents) and the parent's own code."""
    owners = [child_id] if parent_id is None else [child_id, parent_id]
    await deliver(app, conn, reason="consent", now=now, owner_ids=owners)


async def render_card_for(app: Core, args: dict[str, Any]) -> tuple[bytes, str]:
    """Outbox renderer "qr_card": the card of `args["code_id"]`, in `args["lang"]`."""
    code = await CodeRepo(app.db).get(int(args["code_id"]))
    if code is None:
        raise LookupError(f"code {args.get('code_id')} is gone")
    owner = await app.people.get(code.person_id)
    if owner is None:
        raise LookupError(f"owner of code {code.id} is gone")
    # The last check before the code leaves: the gate may have closed since the card was queued.
    clearance = await code_clearance(app.db, code.person_id, code.role, require_original=_wait(app))
    if not code.active or not clearance.open:
        raise Withheld(f"code {code.id}: the consent gate is closed")
    if "recipient" in args and not any(r.id == int(args["recipient"]) for r in await recipients(app, code,
                                                                                              reachable_only=False)):
        raise Withheld(f"code {code.id}: person {args['recipient']} may not receive it")
    t = app.catalog.bind(str(args.get("lang") or "ru"))
    data = card_data(app, t, owner, code)
    return await asyncio.to_thread(render_card, data), "code.png"


def card_data(app: Core, t: Translator, owner: Person, code: Code) -> CardData:
    template = app.school.platform.code_url_template or None
    return CardData(
        full_name=owner.full_name,
        role_label=t(f"codes.card_role.{code.role}", name=Named(owner.full_name)),
        class_label=code.class_label,
        code=code.code,
        qr_payload=qr_payload(code.code, template),
        where_to_enter=app.school.platform.code_entry_hint,
        school_name=app.school.school.name,
        title=t("codes.card_title"),
    )


# --- showing codes again on request -------------------------------------------------------------


@dataclass
class Shown:
    status: str  # "ok" | "forbidden" | "too_soon" | "none"
    cards: list[tuple[Person, Code]] = field(default_factory=list)
    wait_minutes: int = 0


async def request_cards(app: Core, caller: Person, owner_id: int) -> Shown:
    """The caller asks to see `owner_id`'s codes again: rights first, then the rate limit."""
    cards = [(o, c) for o, c in await visible_codes(app, caller) if o.id == owner_id]
    if not cards:
        # Same answer whether the person does not exist, is someone else's or has no code yet.
        return Shown("forbidden")
    now = app.clock.now()
    last = await CodeRepo(app.db).last_request(caller.id, owner_id)
    if last is not None and now - last < REQUEST_INTERVAL:
        left = REQUEST_INTERVAL - (now - last)
        return Shown("too_soon", wait_minutes=max(1, int(left.total_seconds() + 59) // 60))
    async with app.db.transaction() as conn:
        await CodeRepo.touch_request(conn, caller.id, owner_id, now)
    return Shown("ok", cards)


async def record_direct(app: Core, code: Code, recipient: Person, message_id: int) -> None:
    async with app.db.transaction() as conn:
        await CodeRepo.record_delivery(conn, code_id=code.id, recipient_id=recipient.id, reason="request",
                                       now=app.clock.now(), tg_message_id=message_id)


# --- activation, trouble ------------------------------------------------------------------------


async def confirm_activation(app: Core, caller: Person, code_id: int) -> str:
    """"ok", "already" or "forbidden"."""
    code = await CodeRepo(app.db).get(code_id)
    if code is None or not await may_see(app, caller, code):
        return "forbidden"
    async with app.db.transaction() as conn:
        changed = await CodeRepo.mark_activated(conn, code.id, "user", app.clock.now())
    return "ok" if changed else "already"


async def report_trouble(app: Core, caller: Person, code_id: int, t: Translator) -> str:
    """Open a question to the IT officer with the context attached: "ok" or "forbidden"."""
    code = await CodeRepo(app.db).get(code_id)
    if code is None or not await may_see(app, caller, code):
        return "forbidden"
    owner = await app.people.get(code.person_id)
    assert owner is not None
    context = t(
        "codes.ticket_context",
        name=owner.full_name,
        role=t(f"codes.role.{code.role}"),
        cls=code.class_label or "—",
        masked=mask(code.code),
    )
    await open_ticket(app, caller, t("codes.ticket_text"), context=context)
    return "ok"


# --- revoke and reissue ---------------------------------------------------------------------------


async def revoke(app: Core, code_id: int) -> bool:
    async with app.db.transaction() as conn:
        done = await CodeRepo.revoke(conn, code_id, app.clock.now())
    if done:
        log.info("code %s revoked", code_id)
    return done


async def issue(app: Core, person_id: int, role: str, raw_code: str) -> str:
    """A new code typed by the IT officer: "ok", "bad_code", "taken" or "unknown"."""
    person = await app.people.get(person_id)
    if person is None or not person.active or role not in ("staff", "parent", "student"):
        return "unknown"
    value = normalize_code(raw_code)
    if value is None:
        return "bad_code"
    now = app.clock.now()
    async with app.db.transaction() as conn:
        owners = await CodeRepo.code_owners(conn, [value])
        if value in owners and owners[value] != person_id:
            return "taken"
        previous = [c for c in await CodeRepo.active_in(conn, [person_id]) if c.role == role]
        class_label = previous[0].class_label if previous else _default_class(person, role)
        if previous and previous[0].code == value:
            return "ok"
        await CodeRepo.insert(conn, NewCode(person_id, role, class_label, value), source="manual", now=now)
        await deliver(app, conn, reason="reissue", now=now, owner_ids=[person_id])
    return "ok"


def _default_class(person: Person, role: str) -> str | None:
    return person.class_label if role in ("student", "staff") else None


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    person: Person
    child_classes: frozenset[str]


class _Matcher:
    def __init__(self, people: list[Person], child_classes: dict[int, frozenset[str]]) -> None:
        self.by_name: dict[str, list[_Candidate]] = {}
        for p in people:
            self.by_name.setdefault(name_key(p.full_name), []).append(
                _Candidate(p, child_classes.get(p.id, frozenset()))
            )

    def match(self, name: str, group: str, class_label: str | None) -> list[Person]:
        candidates = [c for c in self.by_name.get(name_key(name), []) if role_group_has(c.person, group)]
        if group == "student":
            if class_label is not None:
                candidates = [c for c in candidates if c.person.class_label == class_label]
        elif group == "parent":
            if class_label is not None:
                candidates = [c for c in candidates if class_label in c.child_classes]
        elif class_label is not None and len(candidates) > 1:
            # Staff rarely carry a class in the roster: use it only to tell namesakes apart.
            candidates = [c for c in candidates if c.person.class_label == class_label]
        return [c.person for c in candidates]


def role_group_has(person: Person, group: str) -> bool:
    if group == "staff":
        return person.is_staff
    return group in person.roles


async def _matcher(app: Core) -> _Matcher:
    return _Matcher(await app.people.active(), await app.people.children_classes())


def _aliases(app: Core) -> dict[str, list[str]]:
    merged = {k: list(v) for k, v in BASE_ALIASES.items()}
    for fieldname, extra in app.school.codes.column_aliases.items():
        merged.setdefault(fieldname, []).extend(extra)
    return merged


@dataclass(frozen=True)
class _Row:
    line: int
    person: Person
    group: str
    class_label: str | None
    code: str | None
    status: bool | None = None


async def _parse(
    app: Core, data: bytes, filename: str, *, activations: bool, limits: Limits
) -> tuple[list[_Row], list[RowError]]:
    aliases = _aliases(app)
    required = ("status",) if activations else ("full_name", "role", "code")
    try:
        rows = await load_table(data, filename, aliases, required, limits)
    except TableError as exc:
        return [], [table_error(exc)]
    matcher = await _matcher(app)
    errors: list[RowError] = []
    parsed: list[_Row] = []
    for row in rows:
        v = row.values
        if row.overflow:
            errors.append(RowError(row.line, "overflow"))
            continue
        status: bool | None = None
        if activations:
            raw_status = " ".join(v.get("status", "").replace("ё", "е").lower().split())
            if raw_status in _YES:
                status = True
            elif raw_status in _NO:
                status = False
            else:
                errors.append(RowError(row.line, "codes_status", {"value": v.get("status", "")}))
                continue
        raw_code = v.get("code", "")
        code = normalize_code(raw_code) if raw_code else None
        if raw_code and code is None:
            # The value itself is a secret: the report names the line, not the code.
            errors.append(RowError(row.line, "codes_code"))
            continue
        if activations and code is not None:
            parsed.append(_Row(row.line, _NOBODY, "", None, code, status))
            continue
        if not activations and code is None:
            errors.append(RowError(row.line, "codes_code"))
            continue
        name = clean_name(v.get("full_name", ""))
        if len(name.split()) < 2:
            errors.append(RowError(row.line, "name"))
            continue
        group = parse_group(v.get("role", ""))
        if group is None:
            errors.append(RowError(row.line, "codes_role", {"value": v.get("role", "")}))
            continue
        class_label: str | None = None
        if v.get("class_label"):
            class_label = normalize_class(v["class_label"])
            if class_label is None:
                errors.append(RowError(row.line, "class", {"value": v["class_label"]}))
                continue
        found = matcher.match(name, group, class_label)
        if not found:
            errors.append(RowError(row.line, "codes_unmatched", {"name": name, "cls": class_label or "—"}))
            continue
        if len(found) > 1:
            errors.append(RowError(row.line, "codes_ambiguous", {"name": name, "n": str(len(found))}))
            continue
        person = found[0]
        if class_label is None and group != "parent":
            class_label = person.class_label
        parsed.append(_Row(row.line, person, group, class_label, code, status))
    return parsed, errors


_NOBODY = Person(id=0, roster_key="", full_name="", class_label=None, phone=None, tg_user_id=None,
                 tg_username=None, lang=None, active=False, unreachable_reason=None, roles=frozenset())


async def import_codes(app: Core, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
    rows, errors = await _parse(app, data, filename, activations=False, limits=options.limits)
    seen_person: dict[tuple[int, str], int] = {}
    seen_code: dict[str, int] = {}
    for row in rows:
        assert row.code is not None
        key = (row.person.id, row.group)
        if key in seen_person:
            errors.append(RowError(row.line, "codes_duplicate_person",
                                   {"name": row.person.full_name, "other": str(seen_person[key])}))
        seen_person.setdefault(key, row.line)
        if row.code in seen_code:
            errors.append(RowError(row.line, "codes_duplicate_code", {"other": str(seen_code[row.code])}))
        seen_code.setdefault(row.code, row.line)
    if errors:
        errors.sort(key=lambda e: e.line)
        return ImportOutcome(errors=errors)
    now = app.clock.now()
    added = replaced = unchanged = 0
    async with app.db.transaction() as conn:
        current = {(c.person_id, c.role): c for c in await CodeRepo.active_in(conn)}
        owners = await CodeRepo.code_owners(conn, seen_code)
        incoming = {row.person.id for row in rows}
        for row in rows:
            assert row.code is not None
            owner = owners.get(row.code)
            # A code another person holds now, and who is not getting a new one in this file.
            if owner is not None and owner != row.person.id and owner not in incoming:
                errors.append(RowError(row.line, "codes_taken"))
        if errors:
            return ImportOutcome(errors=errors)
        for row in rows:
            assert row.code is not None
            old = current.get((row.person.id, row.group))
            if old is not None and old.code == row.code:
                unchanged += 1
                if old.class_label != row.class_label and not options.dry_run:
                    await CodeRepo.update_class(conn, old.id, row.class_label)
                continue
            if old is None:
                added += 1
            else:
                replaced += 1
            if not options.dry_run:
                await CodeRepo.insert(conn, NewCode(row.person.id, row.group, row.class_label, row.code),
                                      source="import", now=now)
        if not options.dry_run:
            await deliver(app, conn, reason="import", now=now, not_before=allowed_time(app, now))
    return ImportOutcome(
        counts={"added": added, "updated": replaced, "unchanged": unchanged}, applied=not options.dry_run
    )


async def import_activations(app: Core, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
    rows, errors = await _parse(app, data, filename, activations=True, limits=options.limits)
    if errors:
        return ImportOutcome(errors=errors)
    now = app.clock.now()
    newly = unchanged = 0
    async with app.db.transaction() as conn:
        active = await CodeRepo.active_in(conn)
        by_code = {c.code: c for c in active}
        by_person = {(c.person_id, c.role): c for c in active}
        targets: list[tuple[int, Code, bool]] = []
        for row in rows:
            code = by_code.get(row.code) if row.code else by_person.get((row.person.id, row.group))
            if code is None:
                errors.append(RowError(row.line, "codes_no_code"))
                continue
            targets.append((row.line, code, bool(row.status)))
        if errors:
            return ImportOutcome(errors=errors)
        for _, code, status in targets:
            if status and code.activated_at is None:
                newly += 1
                if not options.dry_run:
                    await CodeRepo.mark_activated(conn, code.id, "import", now)
            else:
                unchanged += 1
    return ImportOutcome(counts={"updated": newly, "unchanged": unchanged}, applied=not options.dry_run)


CODES_IMPORTER = Importer(kind="codes", label_key="codes.import_codes", run=import_codes)
ACTIVATIONS_IMPORTER = Importer(kind="activations", label_key="codes.import_activations", run=import_activations)


# --- nudges (run by the sweep) ----------------------------------------------------------------------


async def sweep(app: Core, now: datetime) -> None:
    """Catch up deliveries the gate now allows (e.g. consent given on paper and entered later) and
    nudge people whose card arrived but who have not activated."""
    async with app.db.transaction() as conn:
        await deliver(app, conn, reason="sweep", now=now, not_before=allowed_time(app, now))
    await _nudge(app, now)


async def _nudge(app: Core, now: datetime) -> None:
    """Activation nudges, one message per recipient: a parent whose own code and children's codes
    are all unactivated hears once about all of them, not once per code."""

    repo = CodeRepo(app.db)
    due: dict[int, list[tuple[Code, Person, int]]] = {}
    recipients_by_id: dict[int, Person] = {}
    for row in await repo.nudge_candidates():
        n = int(row["nudges"])
        if n >= MAX_NUDGES:
            continue
        since = from_db(row["last_nudge"] or row["first_sent"])
        if now < allowed_time(app, since + NUDGE_INTERVAL):
            continue
        code = await repo.get(int(row["code_id"]))
        recipient = await app.people.get(int(row["recipient_id"]))
        if code is None or recipient is None or not recipient.reachable:
            continue
        # The gate may have closed since the card went out (consent withdrawn).
        if not any(r.id == recipient.id for r in await recipients(app, code)):
            continue
        owner = await app.people.get(code.person_id)
        assert owner is not None
        recipients_by_id[recipient.id] = recipient
        due.setdefault(recipient.id, []).append((code, owner, n + 1))
    for recipient_id, items in due.items():
        recipient = recipients_by_id[recipient_id]
        with contextlib.suppress(_NotToday):
            await _nudge_one(app, recipient, items, now)


async def _nudge_one(app: Core, recipient: Person, items: list[tuple[Code, Person, int]], now: datetime) -> None:
    t = app.translator_for(recipient)
    assert recipient.tg_user_id is not None
    async with app.db.transaction() as conn:
        recorded = [item for item in items if await CodeRepo.record_nudge(conn, item[0].id, recipient.id,
                                                                          item[2], now)]
        if not recorded:
            return
        first, owner, n = recorded[0]
        if len(recorded) == 1:
            payload = Payload(
                text=t("codes.nudge", name=Named(owner.full_name, escape=True), who=Named(recipient.full_name)),
                reply_markup=app.buttons.code_card(first.id, t, recipient),
            )
        else:
            payload = Payload(
                text=t("codes.nudge_family",
                       names="\n".join(f"• {html.escape(o.full_name)}" for _, o, _ in recorded)),
                reply_markup=app.buttons.code_family([(code, o) for code, o, _ in recorded], t),
            )
        fold = await _fold_into_consent_reminder(app, conn, recipient, payload, now)
        if fold == "wait":
            # This family already had its consent reminder today: one reminder a day is
            # enough, so this one waits for tomorrow (the records roll back with `raise`).
            raise _NotToday
        if fold == "send":
            await enqueue(
                conn,
                dedupe_key=f"code:{first.id}:{recipient.id}:nudge{n}",
                chat_id=recipient.tg_user_id,
                person_id=recipient.id,
                kind="text",
                payload=payload,
                now=now,
            )
    app.wake_sender()


class _NotToday(Exception):
    """Rolls back an activation reminder's records when it must wait for another day."""


async def _fold_into_consent_reminder(
    app: Core, conn: aiosqlite.Connection, recipient: Person, payload: Payload, now: datetime
) -> Literal["merged", "wait", "send"]:
    """Consent and code reminders to one family are one message: when the parent's consent
    reminder for today is still waiting in the outbox, the activation reminder is appended to it
    (text and buttons); when it already went out today, the activation reminder waits a day."""
    version = await consent_repo.current_version(conn)
    if version is None:
        return "send"
    today = app.school.calendar.local_date(allowed_time(app, now))
    for n, due in sorted((await consent_repo.nudges_of(conn, version.number, recipient.id)).items()):
        if app.school.calendar.local_date(due) != today:
            continue
        key = f"consent-nudge:{version.number}:{recipient.id}:{n}"
        waiting = await waiting_payload(conn, key)
        if waiting is None:
            return "wait"
        rows = [*(waiting.reply_markup or {}).get("inline_keyboard", []),
                *(payload.reply_markup or {}).get("inline_keyboard", [])]
        merged = replace(waiting, text=f"{waiting.text}\n\n{payload.text}", reply_markup={"inline_keyboard": rows})
        return "merged" if await amend_waiting(conn, key, merged) else "wait"
    return "send"


# --- print sheets -------------------------------------------------------------------------------------

# The order reasons are listed in, on sheets and in messages.
LEFT_OUT_ORDER: tuple[GateReason, ...] = ("pending", "declined", "withdrawn", "no_children", "unknown")


@dataclass(frozen=True)
class LeftOut:
    person: Person
    reason: GateReason


@dataclass(frozen=True)
class PrintSheet:
    pdf: bytes | None  # None: no card may be printed
    printed: int
    left_out: list[LeftOut]


async def print_cards(
    app: Core, class_label: str, *, everyone: bool, lang: str = "ru", parents: bool = False
) -> PrintSheet:
    """An A4 PDF of the cards of a class's pupils (the class teacher's sheet), or with `parents`
    of their parents' own codes (a separate sheet, each card handed to that parent in person);
    without a Telegram link unless `everyone`. Only codes the consent gate lets out are printed;
    the others are listed with the reason, and the sheet's footer says how many and why."""
    t = app.catalog.bind(lang)
    found = await CodeRepo(app.db).for_print(class_label, role="parent" if parents else "student",
                                             only_unlinked=not everyone)
    gate = await code_clearances(
        app.db, [(code.person_id, code.role) for code, _ in found], require_original=_wait(app)
    )
    cards: list[CardData] = []
    left_out: list[LeftOut] = []
    for code, owner_id in found:
        owner = await app.people.get(owner_id)
        if owner is None:
            continue
        clearance: Clearance = gate[(code.person_id, code.role)]
        if clearance.open:
            cards.append(card_data(app, t, owner, code))
        else:
            left_out.append(LeftOut(owner, clearance.reason))
    left_out.sort(key=lambda lo: (LEFT_OUT_ORDER.index(lo.reason), lo.person.full_name))
    if not cards:
        return PrintSheet(None, 0, left_out)
    title = t("codes.sheet_title_parents" if parents else "codes.sheet_title", cls=class_label)
    note = left_out_summary(t, left_out) if left_out else None
    pdf = await asyncio.to_thread(render_sheets, cards, title=title, created_at=app.clock.now(), note=note)
    return PrintSheet(pdf, len(cards), left_out)


def left_out_summary(t: Translator, left_out: list[LeftOut]) -> str:
    """E.g. "Не выдано: 3 кода — нет согласия (нет ответа: 2, отказ: 1)"."""
    counts = {reason: sum(1 for lo in left_out if lo.reason == reason) for reason in LEFT_OUT_ORDER}
    detail = ", ".join(t(f"codes.left_out_reason.{r}") + f": {n}" for r, n in counts.items() if n)
    return t.plural("codes.left_out", len(left_out), detail=detail)


def left_out_lines(t: Translator, left_out: list[LeftOut]) -> list[str]:
    """One plain-text line per person left out: "• name — reason" (escape for HTML)."""
    return [f"• {lo.person.full_name} — {t(f'codes.left_out_reason.{lo.reason}')}" for lo in left_out]


# --- withheld codes (the status views and the report) ------------------------------------------------


async def withheld_counts(app: Core) -> dict[tuple[str | None, str], int]:
    """(class, role) -> how many active codes the consent gate keeps in now."""
    holders = await CodeRepo(app.db).holders()
    gate = await code_clearances(app.db, [(owner, role) for owner, role, _ in holders], require_original=_wait(app))
    counts: dict[tuple[str | None, str], int] = {}
    for owner, role, class_label in holders:
        if not gate[(owner, role)].open:
            counts[(class_label, role)] = counts.get((class_label, role), 0) + 1
    return counts


# --- funnel -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelRow:
    class_label: str | None
    role: str  # "staff" | "parent" | "student"
    imported: int
    delivered: int
    activated: int


async def funnel(db: Any) -> list[FunnelRow]:
    """Per class and role: active codes imported, delivered (a card reached someone), activated."""
    counts: list[FunnelCounts] = await CodeRepo(db).funnel()
    order = {"student": 0, "parent": 1, "staff": 2}
    rows = [FunnelRow(c.class_label, c.role, c.imported, c.delivered, c.activated) for c in counts]
    return sorted(rows, key=lambda r: (r.class_label is None, class_sort_key(r.class_label or ""), order[r.role]))


class QuietStatementLog(logging.Filter):
    """aiosqlite logs every statement with its parameters at DEBUG, and those parameters carry
    invitation codes (the import's INSERTs). Drop those records at the logger, so no handler
    configuration (LOG_LEVEL=DEBUG, pytest's caplog) can put a code into a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def quiet_statement_log() -> None:
    logger = logging.getLogger("aiosqlite")
    if not any(isinstance(f, QuietStatementLog) for f in logger.filters):
        logger.addFilter(QuietStatementLog())


# --- CLI: `schoolbot print cards --class 5А [--all] [--out FILE]` ----------------------------------


def register_cli(sub: Any, export: Any) -> None:
    p = sub.add_parser("print", help="printable sheets: `print cards --class 5А`")
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    cards = what.add_parser("cards", help="A4 PDF of invitation cards, 8 a page, for a class")
    cards.add_argument("--class", dest="class_label", required=True, help="the class, e.g. 5А")
    cards.add_argument("--all", dest="everyone", action="store_true",
                       help="everyone with a code, not only people without Telegram")
    cards.add_argument("--parents", action="store_true",
                       help="the parents' own codes instead of the pupils' (a separate sheet: hand each card"
                            " to that parent in person)")
    cards.add_argument("--out", default=None, help="the PDF file (default: codes-<class>.pdf)")
    cards.set_defaults(func=cmd_print_cards)


async def cmd_print_cards(app: Core, args: Any, t: Translator) -> int:
    import sys
    from pathlib import Path

    class_label = normalize_class(args.class_label)
    if class_label is None:
        print(t("cli.not_a_class", value=args.class_label), file=sys.stderr)
        return 2
    sheet = await print_cards(app, class_label, everyone=args.everyone, lang=t.lang, parents=args.parents)
    if sheet.left_out:
        print("\n".join([left_out_summary(t, sheet.left_out), *left_out_lines(t, sheet.left_out)]))
    if sheet.pdf is None:
        print(t("codes.cli_none"), file=sys.stderr)
        return 1
    suffix = "-parents" if args.parents else ""
    out = Path(args.out or f"codes-{class_label}{suffix}.pdf")
    await asyncio.to_thread(write_private, out, sheet.pdf)
    print(t("codes.cli_written", path=out, n=sheet.printed))
    return 0
