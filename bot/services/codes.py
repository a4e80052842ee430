"""Personal invitation codes for the journal platform (plan item 11).

Import and match codes to roster people, deliver each code as a QR card to its owner (and a
pupil's code to the pupil's parents) once the gate allows it, track activation, nudge, print sheets
for families without Telegram, revoke and reissue, and count the funnel.

Whether a code may leave at all is the consent gate (`ConsentGate.code_clearances`, bot/services/consent_gate.py), asked
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
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.channels import DataClass
from bot.domain.access import STAFF_ROLES
from bot.domain.codes import Code, NewCode
from bot.domain.messages import Answer, Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services.consent_gate import ConsentGate
from bot.services.people_text import parse_role
from bot.services.qr_card import CardData, qr_payload, render_card
from bot.services.repos import InvitationCodes, People
from bot.unit_of_work import Connection, Transaction

if TYPE_CHECKING:

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.services.tickets import TicketsService
    from bot.unit_of_work import UnitOfWork

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


# --- delivery ---------------------------------------------------------------------------------


def card_caption(t: Translator, owner: Person, recipient: Person) -> str:
    return t(
        "codes.caption_own" if recipient.id == owner.id else "codes.caption",
        name=Named(owner.full_name, escape=True), who=Named(recipient.full_name),
    )


# --- showing codes again on request -------------------------------------------------------------


@dataclass
class Shown:
    status: str  # "ok" | "forbidden" | "too_soon" | "none"
    # The cards the press is owed, each queued with the request (`request_cards`), for the handler to give.
    cards: list[Answer] = field(default_factory=list)
    wait_minutes: int = 0


def _default_class(person: Person, role: str) -> str | None:
    return person.class_label if role in ("student", "staff") else None


@dataclass(kw_only=True, eq=False)
class CodesService:
    """Invitation codes: the gate-respecting delivery of QR cards, activation and trouble reports."""

    buttons: Buttons
    catalog: Catalog
    clock: Clock
    code_repo: InvitationCodes
    consent_gate: ConsentGate
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig
    tickets: TicketsService


    def allowed_time(self, moment: datetime) -> datetime:
        """The first moment within working hours (messages nobody asked for right now)."""
        return self.school.calendar.send_window(moment)

    def translator(self, person: Person) -> Translator:
        return self.catalog.translator_for(person)

    # --- who may receive a code -----------------------------------------------------------------------
    def _wait(self) -> bool:
        """Whether the school makes codes wait for the signed paper original (asked of the one gate)."""
        return self.school.consent.codes_wait_for_original

    async def recipients(
        self, code: Code, *, reachable_only: bool = True, conn: Connection | None = None
    ) -> list[Person]:
        """Who may receive this code now (the one access rule for codes): nobody while the consent
        gate is closed; then the owner, and for a pupil's code also the pupil's parents. Everything
        is read on `conn`: a caller inside a write transaction passes it (`deliver`), so a decision,
        a link or a roster change the transaction just recorded counts."""
        people = self.people if conn is None else self.people.on(conn)
        owner = await people.get(code.person_id)
        if owner is None or not owner.active:
            return []
        gate_conn = self.db.conn if conn is None else conn
        clearance = await self.consent_gate.code_clearance(
            gate_conn, code.person_id, code.role, require_original=self._wait()
        )
        if not clearance.open:
            return []
        found = [owner, *await people.parents(owner.id)] if code.role == "student" else [owner]
        found = [p for p in found if p.reachable] if reachable_only else [
            p for p in found if p.linked
        ]
        return found

    async def visible_codes(self, caller: Person) -> list[tuple[Person, Code]]:
        """The codes the caller may see: their own and their children's (gate permitting)."""
        owners = [caller, *(await self.people.children(caller.id) if caller.has_role("parent") else [])]
        repo = self.code_repo
        result: list[tuple[Person, Code]] = []
        by_id = {p.id: p for p in owners}
        for code in await repo.active_for(by_id):
            if any(r.id == caller.id for r in await self.recipients(code, reachable_only=False)):
                result.append((by_id[code.person_id], code))
        return result

    async def may_see(self, caller: Person, code: Code) -> bool:
        return code.active and any(r.id == caller.id for r in await self.recipients(code, reachable_only=False))

    async def enqueue_card(
        self,
        conn: Transaction,
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
        keys = await self.code_repo.delivery_keys(conn, code.id, recipient.id)
        if any(status != "cancelled" for _, status in keys):
            return False
        key = f"code:{code.id}:{recipient.id}" + (f":{len(keys) + 1}" if keys else "")
        t = self.catalog.translator_for(recipient)
        payload = Payload(
            text=card_caption(t, owner, recipient),
            reply_markup=self.buttons.code_card(code.id, t, recipient),
            protect_content=self.school.codes.protect_content,
            renderer=CARD_RENDERER,
            args={"code_id": code.id, "lang": t.lang, "recipient": recipient.id},
        )
        added = await self.outbox.notify(
            conn, recipient, data_class=DataClass.CREDENTIAL, key=key, kind="photo",
            payload=payload, now=now, not_before=not_before,
        )
        if added:
            await self.code_repo.record_delivery(
                conn, code_id=code.id, recipient_id=recipient.id, reason=reason, now=now, outbox_key=key
            )
            log.info("code card %s enqueued for person %s (%s)", code.id, recipient.id, reason)
        return added

    async def deliver(
        self,
        conn: Transaction,
        *,
        reason: str,
        now: datetime,
        owner_ids: Iterable[int] | None = None,
        only_recipient: int | None = None,
        not_before: datetime | None = None,
    ) -> int:
        """Enqueue every card that is due: call inside the transaction of the change that makes it due."""
        count = 0
        codes = await self.code_repo.active_in(conn, owner_ids)
        # One gate query for the whole batch first: the minute sweep walks every active code, and
        # most closed ones need no further look.
        # Read on the transaction: the change that makes the cards due (a consent, a link, a
        # reissue) is not committed yet.
        gate = await self.consent_gate.code_clearances(
            conn, [(c.person_id, c.role) for c in codes], require_original=self._wait()
        )
        for code in codes:
            if not gate[(code.person_id, code.role)].open:
                continue
            owner = await self.people.on(conn).get(code.person_id)
            if owner is None:
                continue
            for recipient in await self.recipients(code, conn=conn):
                if only_recipient is not None and recipient.id != only_recipient:
                    continue
                if await self.enqueue_card(conn, code, owner, recipient, reason=reason, now=now, not_before=not_before):
                    count += 1
        if count:
            self.outbox.wake()
        return count

    async def on_link(self, conn: Transaction, person: Person, now: datetime) -> None:
        """Link hook: the person gets their own code and, as a parent, their children's (gate permitting)."""
        owners = [person.id, *(c.id for c in await self.people.on(conn).children(person.id))]
        await self.deliver(conn, reason="link", now=now, owner_ids=owners, only_recipient=person.id)

    async def on_consent_given(
        self, conn: Transaction, child_id: int, parent_id: int | None, now: datetime
    ) -> None:
        """Consent hook: the child's code (to the pupil and parents) and the parent's own code."""
        owners = [child_id] if parent_id is None else [child_id, parent_id]
        await self.deliver(conn, reason="consent", now=now, owner_ids=owners)

    async def render_card_for(self, args: dict[str, Any]) -> tuple[bytes, str]:
        """Outbox renderer "qr_card": the card of `args["code_id"]`, in `args["lang"]`."""
        code = await self.code_repo.get(int(args["code_id"]))
        if code is None:
            raise LookupError(f"code {args.get('code_id')} is gone")
        owner = await self.people.get(code.person_id)
        if owner is None:
            raise LookupError(f"owner of code {code.id} is gone")
        # The last check before the code leaves: the gate may have closed since the card was queued.
        clearance = await self.consent_gate.code_clearance(
            self.db.conn, code.person_id, code.role, require_original=self._wait()
        )
        if not code.active or not clearance.open:
            raise Withheld(f"code {code.id}: the consent gate is closed")
        if "recipient" in args and not any(r.id == int(args["recipient"]) for r in await self.recipients(code,
                                                                                                  reachable_only=False)):
            raise Withheld(f"code {code.id}: person {args['recipient']} may not receive it")
        t = self.catalog.bind(str(args.get("lang") or "ru"))
        data = self.card_data(t, owner, code)
        return await asyncio.to_thread(render_card, data), "code.png"

    def card_data(self, t: Translator, owner: Person, code: Code) -> CardData:
        template = self.school.platform.code_url_template or None
        return CardData(
            full_name=owner.full_name,
            role_label=t(f"codes.card_role.{code.role}", name=Named(owner.full_name)),
            class_label=code.class_label,
            code=code.code,
            qr_payload=qr_payload(code.code, template),
            where_to_enter=self.school.platform.code_entry_hint,
            school_name=self.school.school.name,
            title=t("codes.card_title"),
        )

    async def request_cards(self, caller: Person, owner_id: int, lang: str) -> Shown:
        """The caller asks to see `owner_id`'s codes again: rights first, then the rate limit.

        The request starts the rate limit's ten minutes; the cards it asked for are queued with it,
        in the same transaction, as the press's answers (`Outbox.answer`, in ``lang``): the handler
        gives them, and if it cannot (its worker dies after the commit), the outbox does. Otherwise
        a press that died there left the parent with no card and "wait ten minutes" (#27)."""
        cards = [(o, c) for o, c in await self.visible_codes(caller) if o.id == owner_id]
        if not cards:
            # Same answer whether the person does not exist, is someone else's or has no code yet.
            return Shown("forbidden")
        now = self.clock.now()
        last = await self.code_repo.last_request(caller.id, owner_id)
        if last is not None and now - last < REQUEST_INTERVAL:
            left = REQUEST_INTERVAL - (now - last)
            return Shown("too_soon", wait_minutes=max(1, int(left.total_seconds() + 59) // 60))
        t = self.catalog.bind(lang)
        answers: list[Answer] = []
        async with self.db.transaction() as conn:
            await self.code_repo.touch_request(conn, caller.id, owner_id, now)
            for owner, code in cards:
                # One request per ten minutes: its time names its cards.
                key = f"code-request:{code.id}:{caller.id}:{int(now.timestamp())}"
                payload = Payload(
                    text=card_caption(t, owner, caller),
                    reply_markup=self.buttons.code_card(code.id, t, caller),
                    protect_content=self.school.codes.protect_content,
                    renderer=CARD_RENDERER,
                    args={"code_id": code.id, "lang": t.lang, "recipient": caller.id},
                )
                answer = await self.outbox.answer(
                    conn, caller, key=key, payload=payload, now=now, kind="photo", data_class=DataClass.CREDENTIAL,
                )
                if answer is None:
                    continue  # a twin press of the same moment owes it already
                await self.code_repo.record_delivery(
                    conn, code_id=code.id, recipient_id=caller.id, reason="request", now=now, outbox_key=key
                )
                answers.append(answer)
        return Shown("ok", answers)

    # --- activation, trouble ------------------------------------------------------------------------
    async def confirm_activation(self, caller: Person, code_id: int) -> str:
        """"ok", "already" or "forbidden"."""
        code = await self.code_repo.get(code_id)
        if code is None or not await self.may_see(caller, code):
            return "forbidden"
        async with self.db.transaction() as conn:
            changed = await self.code_repo.mark_activated(conn, code.id, "user", self.clock.now())
        return "ok" if changed else "already"

    async def report_trouble(self, caller: Person, code_id: int, t: Translator) -> tuple[str, Answer | None]:
        """Open a question to the IT officer with the context attached: ("ok" | "forbidden", the
        confirmation queued with the question as the press's answer, `TicketsService.open_ticket_answered`)."""
        code = await self.code_repo.get(code_id)
        if code is None or not await self.may_see(caller, code):
            return "forbidden", None
        owner = await self.people.get(code.person_id)
        assert owner is not None
        context = t(
            "codes.ticket_context",
            name=owner.full_name,
            role=t(f"codes.role.{code.role}"),
            cls=code.class_label or "—",
            masked=mask(code.code),
        )
        _, confirmation = await self.tickets.open_ticket_answered(
            caller, t("codes.ticket_text"), context=context, confirm=lambda _: Payload(text=t("codes.trouble_ok")),
        )
        return "ok", confirmation

    # --- revoke and reissue ---------------------------------------------------------------------------
    async def code(self, code_id: int) -> Code | None:
        return await self.code_repo.get(code_id)

    async def history(self, person_id: int) -> list[Code]:
        """Every code a person has had, for the IT officer's view."""
        return await self.code_repo.history(person_id)

    async def revoke(self, code_id: int) -> bool:
        async with self.db.transaction() as conn:
            done = await self.code_repo.revoke(conn, code_id, self.clock.now())
        if done:
            log.info("code %s revoked", code_id)
        return done

    async def issue(self, person_id: int, role: str, raw_code: str) -> str:
        """A new code typed by the IT officer: "ok", "bad_code", "taken" or "unknown"."""
        person = await self.people.get(person_id)
        if person is None or not person.active or role not in ("staff", "parent", "student"):
            return "unknown"
        value = normalize_code(raw_code)
        if value is None:
            return "bad_code"
        now = self.clock.now()
        async with self.db.transaction() as conn:
            owners = await self.code_repo.code_owners(conn, [value])
            if value in owners and owners[value] != person_id:
                return "taken"
            previous = [c for c in await self.code_repo.active_in(conn, [person_id]) if c.role == role]
            class_label = previous[0].class_label if previous else _default_class(person, role)
            if previous and previous[0].code == value:
                return "ok"
            await self.code_repo.insert(conn, NewCode(person_id, role, class_label, value), source="manual", now=now)
            await self.deliver(conn, reason="reissue", now=now, owner_ids=[person_id])
        return "ok"
