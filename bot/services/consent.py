"""Consent to personal-data processing (152-FZ art. 9): the document, decisions with receipts,
paper consents, nudges, registers and the gate that invitation codes ask.

A child's state on the current version is the family rule's (bot.domain.consent): each
representative's latest decision counts, whatever the order of presses; no row means "pending".
Every decision is appended to the
ledger inside one write transaction together with what it causes (code deliveries via the
`on_consent_given` hooks, cancellations and alerts on withdrawal), so evidence and effects never
disagree.
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.channels import Channel, DataClass
from bot.domain.access import ADMIN_ROLE
from bot.domain.consent import Decision, Effect, apply, effects, family_state, judge
from bot.domain.consent import Outcome as Outcome  # re-exported: handlers read outcomes from here
from bot.domain.ledger import LedgerRow, NewDecision, Version
from bot.domain.messages import Answer, Payload
from bot.domain.people import Person
from bot.paths import CONTENT_DIR
from bot.russian import Named
from bot.services.consent_gate import ConsentGate, new_receipt_id, receipt_text
from bot.services.repos import ConsentForms, ConsentLedger, InvitationCodes, People
from bot.unit_of_work import Transaction, UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.consent_withdrawal import ConsentWithdrawal
    from bot.services.outbox import Outbox
    from bot.services.ports import ConsentGivenListener
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DOC_DIR = CONTENT_DIR / "consent"
NUDGE_GAP = timedelta(days=3)
MAX_NUDGES = 2


def nudge_key(version: int, parent_id: int, n: int) -> str:
    """The outbox key of a parent's n-th consent reminder on `version` (the codes sweep finds it to
    fold an activation reminder into it)."""
    return f"consent-nudge:{version}:{parent_id}:{n}"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    child_id: int
    row: LedgerRow | None = None
    # The receipt the press is owed for a recorded decision, queued with it (`decide`'s receipt_lang).
    receipt: Answer | None = None


# --- the document -------------------------------------------------------------------------------


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped_template(lang: str = "ru") -> str:
    return (DOC_DIR / f"{lang}.md").read_text(encoding="utf-8")


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


@dataclass(kw_only=True, eq=False)
class ConsentService:
    """The consent document's versions and every decision, appended to the hash-chained ledger."""

    catalog: Catalog
    clock: Clock
    code_repo: InvitationCodes
    consent_forms: ConsentForms
    consent_gate: ConsentGate
    consent_ledger: ConsentLedger
    consent_listeners: Sequence[ConsentGivenListener]
    consent_withdrawal: ConsentWithdrawal
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig


    async def publish(self, text: str, *, text_en: str | None = None, by: int | None = None) -> Version:
        """Publish a new version: every child becomes "pending" on it; old decisions stay on record."""
        text = text.replace("\r\n", "\n")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            number = await self.consent_ledger.insert_version(
                conn, sha256=sha256_text(text), text=text, text_en=text_en, now=now, by=by
            )
        version = await self.consent_ledger.get_version(self.db.conn, number)
        assert version is not None
        log.info("consent document version %s published", number)
        return version

    async def current(self) -> Version:
        """The current version; the shipped document becomes version 1 the first time it is needed.

        Must not be called inside an open write transaction (it may open one)."""
        version = await self.consent_ledger.current_version(self.db.conn)
        if version is None:
            # Several workers may ask at once on a school that has no version yet: the shipped text
            # becomes version 1 once, by whoever comes first, and the others read it.
            text = shipped_template("ru").replace("\r\n", "\n")
            async with self.db.transaction() as conn:
                first = await self.consent_ledger.insert_first_version(
                    conn, sha256=sha256_text(text), text=text, text_en=shipped_template("en"),
                    now=self.clock.now(), by=None,
                )
            if first:
                log.info("consent document version 1 published")
            version = await self.consent_ledger.current_version(self.db.conn)
            assert version is not None
        return version

    def render_document(self, version: Version, lang: str, parent: Person | None, child: Person) -> str:
        """The exact text a parent reads (and prints to sign): the version's template with the
        parent's and the child's names in the case each sentence needs and the school's facts."""
        template = version.text_en if lang == "en" and version.text_en else version.text
        platform = self.school.platform
        form = self.school.consent
        # The form's generated parts speak the template's language.
        doc_lang = "en" if lang == "en" and version.text_en else "ru"
        messengers = form.served_messengers()
        first = messengers[0]
        values = _Blank(
            parent_name=Named(parent.full_name if parent else "", blank=LONG_BLANK),
            parent_address=LONG_BLANK,
            parent_document=LONG_BLANK,
            # The identity documents, field by field (152-FZ art. 9 part 4 item 1): the bot holds
            # none of them, so each is a line to fill in by hand.
            parent_doc_kind=LONG_BLANK,
            parent_doc_number=BLANK,
            parent_doc_issued_by=LONG_BLANK,
            parent_doc_issued_on=BLANK,
            authority=LONG_BLANK,
            child_name=Named(child.full_name),
            child_class=child.class_label or BLANK,
            child_address=LONG_BLANK,
            child_document=LONG_BLANK,
            child_doc_kind=LONG_BLANK,
            child_doc_number=BLANK,
            child_doc_issued_by=LONG_BLANK,
            child_doc_issued_on=BLANK,
            processors=self._processors(doc_lang),
            messengers="; ".join(self._messenger(doc_lang, m.name, m.operator, m.address) for m in messengers),
            messenger_names=", ".join(m.name for m in messengers),
            school_name=self.school.school.name,
            school_address=self.school.school.address or LONG_BLANK,
            platform_name=platform.name,
            platform_url=platform.url,
            processor_name=platform.operator or LONG_BLANK,
            processor_address=platform.operator_address or LONG_BLANK,
            hosting_name=form.hosting_name or LONG_BLANK,
            hosting_address=form.hosting_address or LONG_BLANK,
            # Versions published before the form named every messenger read these.
            messenger_name=first.name or BLANK,
            messenger_operator=first.operator or BLANK,
            messenger_address=first.address or LONG_BLANK,
            version=str(version.number),
        )
        return template.format_map(values).strip()

    def _processors(self, lang: str) -> str:
        """Section 4's processors: the journal platform's operator, and the bot's hosting only when
        school.toml names one (no hosting_name: the school hosts the bot itself, no processor)."""
        platform, form = self.school.platform, self.school.consent
        lines = [self.catalog.text(lang, "consent.form.processor_platform", operator=platform.operator or LONG_BLANK,
                                   address=platform.operator_address or LONG_BLANK, platform=platform.name)]
        if form.hosting_name:
            lines.append(self.catalog.text(lang, "consent.form.processor_hosting", name=form.hosting_name,
                                           address=form.hosting_address or LONG_BLANK))
        else:
            lines.append(self.catalog.text(lang, "consent.form.self_hosted"))
        return "\n".join(lines)

    def _messenger(self, lang: str, name: str, operator: str, address: str) -> str:
        return self.catalog.text(lang, "consent.form.messenger", name=name, operator=operator or BLANK,
                                 address=address or LONG_BLANK)

    async def open_document(self, parent: Person, child: Person, lang: str) -> tuple[Version, str]:
        """The parent opens a child's document: the exact text is kept (by its hash) and the opening
        recorded, which is what lets them agree. Returns the version and the text to show.

        The legally binding document is the Russian text: the opening (and so the decision that
        follows) records the hash of the Russian text with this family's values. A parent who reads
        a translation has it kept too, linked to the Russian text it stands for."""
        version, text, _ = await self._open(parent, child, lang, then=None, press=False)
        return version, text

    async def show_document(self, parent: Person, child: Person, lang: str, *, then: Payload | None) -> list[Answer]:
        """A parent's press "read the document": the opening recorded (`open_document`) and, in the
        same transaction, the text queued as the press's answer, followed by ``then`` (the screen the
        caller shows after it, with the agree button). A parent the ledger will say opened the text
        gets it even if the worker dies after the commit (Outbox.answer)."""
        return (await self._open(parent, child, lang, then=then, press=True))[2]

    async def _open(
        self, parent: Person, child: Person, lang: str, *, then: Payload | None, press: bool,
    ) -> tuple[Version, str, list[Answer]]:
        version = await self.current()
        text = self.render_document(version, lang, parent, child)
        legal = self.render_document(version, "ru", parent, child)
        sha, shown_sha = sha256_text(legal), sha256_text(text)
        now = self.clock.now()
        answers: list[Answer] = []
        async with self.db.transaction() as conn:
            await self.consent_forms.store_text(conn, sha, legal, now)
            if shown_sha != sha:
                await self.consent_forms.store_text(conn, shown_sha, text, now)
                await self.consent_forms.link_translation(conn, sha, shown_sha, lang)
            await self.consent_forms.record_read(
                conn, parent_id=parent.id, child_id=child.id, version=version.number, sha256=sha, now=now
            )
            if press:
                # A parent may open a document again, even within one tick of a test's clock: each
                # opening's answers have their own key.
                key = f"consent-read:{version.number}:{parent.id}:{child.id}:{secrets.token_hex(6)}"
                queued = [(f"{key}:text", Payload(text=html.escape(text)))]
                if then is not None:
                    queued.append((f"{key}:then", then))
                for k, payload in queued:
                    answer = await self.outbox.answer(
                        conn, parent, key=k, payload=payload, now=now, data_class=DataClass.CHILD_PERSONAL,
                    )
                    if answer is not None:
                        answers.append(answer)
        return version, text, answers

    async def opened(self, parent: Person, version: Version) -> set[int]:
        """The children whose document this parent has opened on `version`."""
        return set(await self.consent_forms.reads(self.db.conn, parent.id, version.number))

    async def _shown_text_hash(
        self, conn: Transaction, version: Version, parent: Person | None, child: Person, now: datetime
    ) -> str:
        """The hash of the legally binding (Russian) text for this parent and child now, the text
        itself kept: for a decision made without opening the document (a decline, a withdrawal)."""
        text = self.render_document(version, "ru", parent, child)
        sha = sha256_text(text)
        await self.consent_forms.store_text(conn, sha, text, now)
        return sha

    # --- deciding: the one writer of decisions ------------------------------------------------------
    #
    # A press in a messenger (`decide`) and a paper form entered by staff (`record_paper`) both go
    # through `_write`: the family rule and the transition rules of bot.domain.consent judge it on the
    # ledger as it stands inside the write transaction, and what it sets in motion is done in the
    # same transaction. Nothing else appends to the ledger.

    async def decide(
        self, *,
        parent: Person,
        child_ids: Sequence[int],
        decision: Decision,
        version: int,
        channel: Channel,
        user_id: int,
        update_id: int | None,
        callback_id: str,
        receipt_lang: str | None = None,
    ) -> list[Result]:
        """Record a parent's press in a messenger for each child (per child: one ledger row each). The
        press names the account it came from: its messenger and the user id there.

        With ``receipt_lang`` each recorded decision's receipt, in that language, is queued in the
        decision's own transaction as the press's answer (`Outbox.answer`): the handler gives it, and
        if the handler cannot (its worker dies right after the commit), the outbox does. The receipt
        is the parent's proof; a decision recorded without its receipt is what a crash between the
        commit and a send made after it used to leave (#27)."""
        now = self.clock.now()
        await self.current()  # publishes the shipped version 1 if needed (outside the transaction)
        own = {c.id: c for c in await self.people.children(parent.id)}
        results: list[Result] = []
        async with self.db.transaction() as conn:
            # Re-read inside the transaction: a version published meanwhile makes this press stale.
            current_version = await self.consent_ledger.current_version(conn)
            if current_version is None or version != current_version.number:
                return [Result(Outcome.STALE, cid) for cid in child_ids]
            already = {r.child_id: r for r in await self.consent_ledger.rows_for_callback(conn, callback_id)}
            seen = await self.consent_forms.reads(conn, parent.id, version)
            for cid in child_ids:
                if cid not in own:
                    # A forged or outdated child id: the caller does not represent this child.
                    results.append(Result(Outcome.FORBIDDEN, cid))
                    continue
                if cid in already:
                    results.append(Result(Outcome.DUPLICATE, cid, already[cid]))
                    continue
                # The ledger keeps the hash of the exact text the parent was shown, values filled in.
                sha = seen[cid].sha256 if cid in seen else await self._shown_text_hash(
                    conn, current_version, parent, own[cid], now
                )
                new = NewDecision(
                    receipt_id=new_receipt_id(), parent_id=parent.id, child_id=cid, decision=decision,
                    version=version, sha256=sha, channel=channel.value, created_at=now,
                    user_id=user_id, tg_update_id=update_id, tg_callback_id=callback_id,
                )
                result = await self._write(conn, own[cid], new, has_read=cid in seen, now=now)
                if receipt_lang is not None and result.outcome is Outcome.RECORDED and result.row is not None:
                    text = receipt_text(self.catalog.bind(receipt_lang), result.row, own[cid], self.school)
                    receipt = await self.outbox.answer(
                        conn, parent, key=f"receipt:{result.row.receipt_id}", payload=Payload(text=text), now=now,
                        data_class=DataClass.CHILD_PERSONAL,
                    )
                    result = Result(result.outcome, result.child_id, result.row, receipt)
                results.append(result)
            await self.consent_ledger.cancel_pending_nudges(conn, parent.id)
        return results

    async def record_paper(
        self, *, staff: Person, child: Person, signer: Person | None, decision: Decision, paper_date: date,
    ) -> Result:
        """Record a paper form staff entered (the caller checked that `staff` may record for `child`).
        `signer`: the representative who signed, when the roster names only one."""
        now = self.clock.now()
        version = await self.current()
        async with self.db.transaction() as conn:
            # The paper form is the one the bot printed for the signer (its opening recorded the text's
            # hash then, whatever changed in school.toml since); a form the bot did not print for them
            # is the one it prints now, the signer's name filled in when known.
            printed = await self.consent_forms.reads(conn, signer.id, version.number) if signer else {}
            sha = printed[child.id].sha256 if child.id in printed else await self._shown_text_hash(
                conn, version, signer, child, now
            )
            new = NewDecision(
                receipt_id=new_receipt_id(), parent_id=signer.id if signer else None, child_id=child.id,
                decision=decision, version=version.number, sha256=sha, channel="paper", created_at=now,
                recorded_by=staff.id, paper_date=paper_date,
            )
            # A signed paper form is its own reading: the signer held the text they signed.
            return await self._write(conn, child, new, has_read=True, now=now)

    async def _write(
        self, conn: Transaction, child: Person, new: NewDecision, *, has_read: bool, now: datetime
    ) -> Result:
        rows = (await self.consent_ledger.standing(conn, new.version, [child.id])).get(child.id, [])
        before = family_state(rows)
        newest = max(rows, key=lambda r: r.id) if rows else None
        outcome = judge(family=before, representative=new.parent_id, decision=new.decision, has_read=has_read)
        if outcome is not Outcome.RECORDED:
            return Result(outcome, child.id, newest)
        if not await self.consent_ledger.insert_decision(conn, new):
            return Result(Outcome.DUPLICATE, child.id)
        row = await self.consent_ledger.by_receipt(conn, new.receipt_id)
        assert row is not None
        after = apply(before, new.parent_id, new.decision)
        await self._effects(conn, child, row, effects(before, after, new.decision), now)
        return Result(Outcome.RECORDED, child.id, row)

    async def _effects(
        self, conn: Transaction, child: Person, row: LedgerRow, caused: frozenset[Effect], now: datetime,
    ) -> None:
        if Effect.RELEASE in caused:
            # Covered under the family rule: no representative objects, so the codes go to every
            # parent on file (each one's own code included), not only to whoever pressed last.
            await self.release_codes(conn, child, None, now)
        if Effect.STOP in caused:
            # Covered -> not covered: every code of the family whose gate is now closed (the child's,
            # and a parent's own when no other child is covered) stops at once; tell the staff.
            parents = [p.id for p in await self.people.on(conn).parents(child.id)]
            family = await self.code_repo.active_in(conn, [child.id, *parents])
            # On the transaction: the decision that closed the gate is not committed yet.
            gate = await self.consent_gate.code_clearances(
                conn,
                [(c.person_id, c.role) for c in family],
                require_original=self.school.consent.codes_wait_for_original,
            )
            closed = [c.id for c in family if not gate[(c.person_id, c.role)].open]
            cancelled = await self.code_repo.cancel_pending_deliveries(conn, closed)
            log.info("consent no longer covers a child: %d pending code messages cancelled", cancelled)
            if Effect.CONFLICT not in caused:  # a conflict's own alert below says it all, once
                await self._alert_staff(conn, child, row, now, "consent.alert_withdrawn", "consent-withdrawn")
        if Effect.DESTROY in caused:
            # Codes revoked (delivered ones too), a destruction task for the IT officer, the parents told.
            await self.consent_withdrawal.on_withdrawal(conn, child, row, now)
        if Effect.CONFLICT in caused:
            await self._alert_staff(conn, child, row, now, "consent.alert_conflict", "consent-conflict")

    async def release_codes(
        self, conn: Transaction, child: Person, parent_id: int | None, now: datetime
    ) -> None:
        """Tell the capabilities waiting on the gate (codes) that it may have opened for this child
        (a decision that covers the child, or a signed original the gate was waiting for)."""
        hooks = self.consent_listeners
        # A paper form whose signer is not known: every parent of the child is its representative.
        signers: list[int | None] = (
            [parent_id] if parent_id is not None
            else [p.id for p in await self.people.on(conn).parents(child.id)] or [None]
        )
        for hook in hooks:
            for signer in signers:
                await hook(conn, child.id, signer, now)

    async def _alert_staff(
        self, conn: Transaction, child: Person, row: LedgerRow, now: datetime, key: str, dedupe: str,
    ) -> None:
        """The IT officer and the child's class teacher hear of it (a withdrawal, or a conflict between
        the representatives: a case to settle with the family)."""
        staff = {p.id: p for p in await self.people.on(conn).with_role(ADMIN_ROLE)}
        if child.class_label:
            staff.update({p.id: p for p in await self.people.on(conn).with_role("class_teacher", child.class_label)})
        when = now.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M")
        for person in staff.values():
            if not person.linked:
                continue
            lang = person.lang or "ru"
            text = self.catalog.text(
                lang, key,
                child=Named(child.full_name, escape=True), cls=html.escape(child.class_label or "—"),
                decision=self.catalog.text(lang, f"consent.decision.{row.decision}"),
                when=when, receipt=row.receipt_id,
            )
            await self.outbox.notify(
                conn, person, key=f"{dedupe}:{row.receipt_id}:{person.id}",
                data_class=DataClass.CHILD_PERSONAL,
                kind="text", payload=Payload(text=text), now=now, priority=2,
            )
