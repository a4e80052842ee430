"""No question left behind: a question nobody has answered goes into the IT officer's daily list of
unanswered questions once it has waited `[questions] digest_after_hours` working hours, and to the
director once it has waited `director_after_hours`. Ages are counted in the school's working hours
(SchoolCalendar.working_hours_between), so a weekend or a holiday does not raise a question.

The database is the truth: each run looks at the open questions at `now`; the outbox's dedupe keys
(one list per IT officer per school day, one notice per question per director) keep a restart or a
second run from repeating anything."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.access import ADMIN_ROLE
from bot.domain.help import Ticket
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import Catalog, Translator
from bot.russian import Named
from bot.services.outbox import Outbox
from bot.services.repos import People, Tickets
from bot.unit_of_work import UnitOfWork

DIRECTOR_ROLE = "director"
LIST_LIMIT = 20


@dataclass(frozen=True)
class Waiting:
    ticket: Ticket
    hours: float   # working hours since it was asked


@dataclass(frozen=True)
class QuestionAges:
    """Open questions nobody has answered, by how long they have waited (for /status)."""

    fresh: int     # under digest_after_hours
    listed: int    # in the IT officer's list, not yet the director's
    escalated: int  # past director_after_hours
    digest_after: int  # the threshold, as the school set it


@dataclass(kw_only=True)
class QuestionEscalation:
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    help: Tickets
    outbox: Outbox
    people: People
    school: SchoolConfig

    async def waiting(self, now: datetime) -> list[Waiting]:
        """Questions with no answer yet, oldest first, with their age in working hours."""
        calendar = self.school.calendar
        return [Waiting(tk, calendar.working_hours_between(tk.created_at, now))
                for tk in await self.help.unclosed_tickets(500) if tk.status == "open"]

    async def ages(self, now: datetime) -> QuestionAges:
        rules = self.school.questions
        hours = [w.hours for w in await self.waiting(now)]
        return QuestionAges(
            fresh=sum(h < rules.digest_after_hours for h in hours),
            listed=sum(rules.digest_after_hours <= h < rules.director_after_hours for h in hours),
            escalated=sum(h >= rules.director_after_hours for h in hours),
            digest_after=rules.digest_after_hours,
        )

    async def sweep(self, now: datetime) -> None:
        calendar = self.school.calendar
        if not calendar.is_working_day(calendar.local_date(now)):
            return
        rules = self.school.questions
        waiting = await self.waiting(now)
        listed = [w for w in waiting if w.hours >= rules.digest_after_hours]
        late = [w for w in waiting if w.hours >= rules.director_after_hours]
        if not listed:
            return
        askers = {p.id: p for p in await self.people.get_many({w.ticket.asker_id for w in listed})}
        officers = [p for p in await self.people.with_role(ADMIN_ROLE) if p.reachable]
        directors = [p for p in await self.people.with_role(DIRECTOR_ROLE) if p.reachable] if late else []
        day = calendar.local_date(now).isoformat()
        not_before = calendar.send_window(now)
        async with self.db.transaction() as conn:
            for officer in officers:
                t = self.catalog.translator_for(officer)
                lines = [t.plural("help.escalation.digest_title", len(listed))]
                lines += [self._line(t, w, askers) for w in listed[:LIST_LIMIT]]
                if len(listed) > LIST_LIMIT:
                    lines.append(t.plural("status.and_more", len(listed) - LIST_LIMIT))
                lines.append(t("help.escalation.digest_footer", hours=rules.director_after_hours))
                await self.outbox.notify(conn, officer, key=f"q-digest:{day}:{officer.id}",
                                         payload=Payload(text="\n".join(lines)), now=now, not_before=not_before)
            for w in late:
                for director in directors:
                    t = self.catalog.translator_for(director)
                    text = t("help.escalation.director", line=self._line(t, w, askers),
                             hours=rules.director_after_hours)
                    await self.outbox.notify(conn, director, key=f"q-director:{w.ticket.id}:{director.id}",
                                             payload=Payload(text=text), now=now, not_before=not_before)
        self.outbox.wake()

    def _line(self, t: Translator, w: Waiting, askers: dict[int, Person]) -> str:
        asker = askers.get(w.ticket.asker_id)
        who = Named(asker.full_name if asker is not None else f"№{w.ticket.asker_id}", escape=True)
        text = w.ticket.text if len(w.ticket.text) <= 80 else w.ticket.text[:79] + "…"
        return t("help.escalation.line", id=w.ticket.id, who=who, text=html.escape(text), hours=int(w.hours))
