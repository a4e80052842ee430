"""Questions to the IT officer (tickets) and the FAQ as the bot serves it.

The FAQ the bot serves is the shipped FAQ (`content/faq`, the FaqLibrary the service
holds, reloadable) merged with entries the IT officer made from answered questions
(table `faq_extra`), so those survive restarts and reloads and are found by search like any other.

A ticket is created and announced to every IT officer in one transaction (outbox); an IT officer
answers by replying to the announcement or with its "Answer" button; the answer is relayed to the
asker through the outbox.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.channels import Channel, DataClass
from bot.domain.access import ADMIN_ROLE, faq_audiences
from bot.domain.help import Ticket, ticket_notice_key
from bot.domain.messages import Answer, Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.faq import Faq, FaqCategory, FaqEntry, FaqLibrary
from bot.services.repos import People, Tickets

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.faq import FaqLibrary
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork

FAQ_KEY = "faq"
_MERGED_KEY = "faq_merged"
EXTRA_CATEGORY = "asked"
EXTRA_PREFIX = "asked-"
MAX_TICKET_TEXT = 2000
MAX_ANSWER_TEXT = 3000


def audiences_of(person: Person | None) -> set[str]:
    return {"all"} if person is None else faq_audiences(person.roles)


@dataclass(frozen=True)
class AnswerOutcome:
    status: Literal["sent", "unreachable", "missing", "closed"]
    ticket: Ticket | None = None


@dataclass(frozen=True)
class FaqOutcome:
    status: Literal["created", "missing", "unanswered", "exists", "empty"]
    entry_id: str | None = None


@dataclass(frozen=True)
class FaqDraft:
    """What an FAQ entry made from a question would say, for the IT officer to read and rewrite before
    stating it carries no personal data (``status`` "draft"), or why there is nothing to review."""

    status: Literal["draft", "missing", "unanswered", "exists"]
    question: str = ""
    answer: str = ""


@dataclass(kw_only=True, eq=False)
class TicketsService:
    """"Ask the IT officer": tickets, answers, FAQ entries made from them, the FAQ itself."""

    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    faq_library: FaqLibrary
    help: Tickets
    outbox: Outbox
    people: People
    school: SchoolConfig
    faq_merged: dict[str, tuple[Faq, Faq]] = field(default_factory=dict, init=False)


    async def ticket(self, ticket_id: int) -> Ticket | None:
        return await self.help.ticket(ticket_id)

    async def ticket_for_notice(self, channel: Channel, user_id: int, message_id: int) -> int | None:
        """The ticket whose notice the bot sent as this message to this messenger account (an answer
        is a reply to it)."""
        return await self.help.ticket_for_notice(channel.value, user_id, message_id)

    # --- the FAQ as served ------------------------------------------------------------------------
    async def faq_for(self, lang: str) -> Faq:
        """The shipped FAQ of `lang` plus the entries made from answered questions (cached until the
        shipped FAQ is reloaded or an entry is added)."""
        base = self.faq_library.get(lang)
        cache = self.faq_merged
        cached = cache.get(lang)
        if cached is not None and cached[0] is base:
            return cached[1]
        extras = await self.help.faq_extras()
        if not extras:
            merged = base
        else:
            title = self.catalog.text(lang, "help.faq.asked_category")
            entries = [
                FaqEntry(
                    id=f"{EXTRA_PREFIX}{x.id}",
                    category=EXTRA_CATEGORY,
                    audience=x.audience or ("all",),
                    # The FAQ renders answers as HTML; questions and answers typed in Telegram are plain.
                    question=html.escape(x.question),
                    answer=html.escape(x.answer),
                    keywords=(),
                    personal=not x.checked,
                )
                for x in extras
            ]
            merged = Faq(
                base.lang,
                [*base.all_categories(), FaqCategory(EXTRA_CATEGORY, title)],
                [*base.all_entries(), *entries],
                source=base.source,
            )
        cache[lang] = (base, merged)
        return merged

    async def reload_faq(self) -> None:
        """Re-read the shipped FAQ; raises FaqError (old content stays) when a file is broken. The
        files are read and parsed in a worker thread (the library swaps its snapshot under a lock),
        not on the event loop every other update waits on."""
        await asyncio.to_thread(self.faq_library.reload)
        self.faq_merged.clear()

    # --- tickets ----------------------------------------------------------------------------------
    async def describe_person(self, person: Person, t: Translator) -> str:
        """Name, roles and class (for a parent: the children and their classes), for staff eyes."""
        roles = ", ".join(t(f"roles.{r}") for r in sorted(person.roles)) or "—"
        parts = [f"<b>{html.escape(person.full_name)}</b>", roles]
        if person.class_label:
            parts.append(t("help.ticket.class", cls=html.escape(person.class_label)))
        if "parent" in person.roles:
            children = await self.people.children(person.id)
            if children:
                kids = "; ".join(
                    html.escape(c.full_name + (f" ({c.class_label})" if c.class_label else "")) for c in children
                )
                parts.append(t("help.ticket.children", children=kids))
        return " · ".join(parts)

    async def open_ticket(self, asker: Person, text: str, *, context: str | None = None) -> int:
        """Create a ticket and announce it to every reachable IT officer, in one transaction."""
        return (await self.open_ticket_answered(asker, text, context=context))[0]

    async def open_ticket_answered(
        self, asker: Person, text: str, *, context: str | None = None, confirm: Callable[[int], Payload] | None = None,
    ) -> tuple[int, Answer | None]:
        """`open_ticket`, with the asker's confirmation (``confirm`` composes it from the ticket's
        number) queued in the same transaction as the press's or message's answer (`Outbox.answer`):
        the asker learns the question went through even if the worker dies right after the commit,
        and does not ask it twice (#27)."""
        text = text.strip()[:MAX_TICKET_TEXT]
        if not text:
            raise ValueError("empty question")
        officers = [p for p in await self.people.with_role(ADMIN_ROLE) if p.reachable]
        now = self.clock.now()
        notices: list[tuple[Person, str, dict[str, Any]]] = []
        for officer in officers:
            t = self.catalog.translator_for(officer)
            who = await self.describe_person(asker, t)
            notices.append((officer, who, {}))
        async with self.db.transaction() as conn:
            ticket_id = await self.help.insert_ticket(conn, asker_id=asker.id, text=text, context=context, now=now)
            for officer, who, _ in notices:
                t = self.catalog.translator_for(officer)
                body = t("help.ticket.notice", id=ticket_id, who=who, text=html.escape(text))
                await self.outbox.notify(
                    conn, officer,
                    key=ticket_notice_key(ticket_id, officer.id),
                    kind="text",
                    payload=Payload(text=body, reply_markup=self.buttons.ticket(t, ticket_id, answered=False)),
                    now=now,
                    # A question typed at night reaches the IT officer in the morning.
                    not_before=self.school.calendar.outside_quiet_hours(now),
                    priority=3,
                )
            answer = None
            if confirm is not None:
                # The confirmation names the question's number only.
                answer = await self.outbox.answer(
                    conn, asker, key=f"ticket-sent:{ticket_id}", payload=confirm(ticket_id), now=now,
                    data_class=DataClass.PUBLIC,
                )
        self.outbox.wake()
        return ticket_id, answer

    async def answer_ticket(self, officer: Person, ticket_id: int, text: str) -> AnswerOutcome:
        text = text.strip()[:MAX_ANSWER_TEXT]
        ticket = await self.help.ticket(ticket_id)
        if ticket is None or not officer.is_admin:
            return AnswerOutcome("missing")
        if ticket.status == "closed":
            return AnswerOutcome("closed", ticket)
        asker = await self.people.get(ticket.asker_id)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            number = await self.help.record_answer(conn, ticket_id, answer=text, by=officer.id, now=now)
            reachable = asker is not None and asker.reachable and asker.active
            if reachable:
                assert asker is not None
                t = self.catalog.translator_for(asker)
                body = t("help.ticket.answer_to_asker", question=html.escape(ticket.text), answer=html.escape(text))
                await self.outbox.notify(
                    conn, asker,
                    key=f"ticket:{ticket_id}:answer:{number}",
                    kind="text",
                    payload=Payload(text=body),
                    now=now,
                    # The IT officer may answer late in the evening; the asker hears it in the morning.
                    not_before=self.school.calendar.outside_quiet_hours(now),
                    priority=3,
                )
        self.outbox.wake()
        updated = await self.help.ticket(ticket_id)
        return AnswerOutcome("sent" if reachable else "unreachable", updated)

    async def close_ticket(self, officer: Person, ticket_id: int) -> bool:
        if not officer.is_admin:
            return False
        async with self.db.transaction() as conn:
            return await self.help.close_ticket(conn, ticket_id, self.clock.now())

    # An FAQ entry made from a question is seen by everyone its audience covers, on every messenger,
    # and a question is typed by a parent or a teacher: it can name a child. So the entry is made only
    # when the IT officer has read the text as it will be published (rewritten where needed) and
    # stated it carries no personal data (issue #22). Entries made before that statement existed stay
    # personal data (FaqEntry.personal) until an officer checks them the same way.
    async def faq_draft(self, officer: Person, ticket_id: int) -> FaqDraft:
        """The text an FAQ entry made from this ticket would carry, to review before it is made."""
        if not officer.is_admin:
            return FaqDraft("missing")
        ticket = await self.help.ticket(ticket_id)
        if ticket is None:
            return FaqDraft("missing")
        if ticket.faq_extra_id is not None:
            extra = await self.help.faq_extra(ticket.faq_extra_id)
            if extra is None or extra.checked:
                return FaqDraft("exists")
            return FaqDraft("draft", extra.question, extra.answer)
        if not ticket.answer:
            return FaqDraft("unanswered")
        return FaqDraft("draft", ticket.text, ticket.answer)

    async def make_faq_entry(self, officer: Person, ticket_id: int, *, question: str, answer: str) -> FaqOutcome:
        """Publish the question and answer as the officer reviewed them (``question`` and ``answer``,
        rewritten or not: the officer states they carry no personal data) as an FAQ entry for the
        asker's audiences, and close the ticket. An entry made before from this ticket without that
        statement gets the texts and the statement."""
        if not officer.is_admin:
            return FaqOutcome("missing")
        question, answer = question.strip()[:MAX_TICKET_TEXT], answer.strip()[:MAX_ANSWER_TEXT]
        if not question or not answer:
            return FaqOutcome("empty")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            ticket = await self.help.ticket_in(conn, ticket_id)
            if ticket is None:
                return FaqOutcome("missing")
            if ticket.faq_extra_id is not None:
                checked = await self.help.check_faq_extra(
                    conn, ticket.faq_extra_id, question=question, answer=answer, by=officer.id, now=now
                )
                if not checked:
                    return FaqOutcome("exists", f"{EXTRA_PREFIX}{ticket.faq_extra_id}")
                extra_id = ticket.faq_extra_id
            else:
                if not ticket.answer:
                    return FaqOutcome("unanswered")
                asker = await self.people.on(conn).get(ticket.asker_id)
                audience = audiences_of(asker) - {"all"}
                # A staff member's question about the journal is for teachers; a parent's for parents; an
                # asker with no audience-giving role gets an entry for everyone.
                extra_id = await self.help.insert_faq_extra(
                    conn,
                    ticket_id=ticket.id,
                    audience=audience or {"all"},
                    question=question,
                    answer=answer,
                    created_by=officer.id,
                    now=now,
                    checked=True,
                )
            await self.help.close_ticket(conn, ticket.id, now)
        self.faq_merged.clear()
        return FaqOutcome("created", f"{EXTRA_PREFIX}{extra_id}")

    async def unchecked_faq(self, limit: int = 20) -> list[Ticket]:
        """Tickets whose FAQ entry was made before the check and still waits for it (the IT officer's
        list of questions offers each for review)."""
        return await self.help.unchecked_faq_tickets(limit)

    async def tickets_overview(self, limit: int = 20) -> list[tuple[Ticket, Person | None]]:
        tickets = await self.help.unclosed_tickets(limit)
        people = {p.id: p for p in await self.people.get_many({tk.asker_id for tk in tickets})}
        return [(tk, people.get(tk.asker_id)) for tk in tickets]
