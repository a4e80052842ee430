"""Surveys (issue #26): the plan's own questions asked in the bot.

The IT officer, the director or the deputy creates a survey from a shipped template or a file
(bot/services/surveys_spec.py), for an audience (a role, the pupils of a class, the parents of a
class) with a deadline in the school's working days. Respondents are fixed at creation and invited
through the outbox. Questions are asked one message at a time (handlers/surveys.py); an answer can be
changed until the deadline; a person can stop and resume. The sweep closes what is past its deadline
(an anonymous survey then forgets who answered what: storage/surveys.py `close`) and reminds who has
not answered (bot/services/surveys_nudges.py). Results are bot/services/surveys_results.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any, Literal

from bot.channels import DataClass
from bot.domain.access import ALL_ROLES, STAFF_ROLES, SURVEY_AUTHOR_ROLES
from bot.domain.messages import Answer, Payload
from bot.domain.people import Person
from bot.domain.surveys import (
    AudienceKind,
    Question,
    Respondent,
    SurveyRow,
    SurveySpec,
    choice_value,
    finished,
    first_open,
    parse_number,
    parse_text,
    questions_of,
    toggle,
)
from bot.i18n import Translator
from bot.russian import Named
from bot.services.repos import People, Surveys
from bot.services.surveys_spec import load_templates

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork

MIN_DAYS, MAX_DAYS = 1, 30
AnswerStatus = Literal["ok", "closed", "not_respondent", "bad", "missing"]


class SurveyRefused(Exception):
    """`key` is a catalog key for the user."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Audience:
    kind: AudienceKind
    value: str  # a role ("staff"), a class label, or "*" (parents of every class)


@dataclass(frozen=True)
class AnswerResult:
    status: AnswerStatus
    survey: SurveyRow | None = None
    answers: dict[int, Any] = field(default_factory=dict)
    finished_now: bool = False
    # What the answer is followed by (the next question, or the thanks), queued with it (`_record`).
    then: Answer | None = None


# Composes what follows an answer (the next question or the thanks) from the result it will have:
# called inside the answer's transaction, so that it is queued with the answer (Outbox.answer).
Then = Callable[[AnswerResult], Payload | None]


def title_class(survey: SurveyRow | None = None, *, template: bool | None = None) -> DataClass:
    """What a survey's title is (#22): a shipped template's is the catalog's (public); one from a
    file is staff's free text, which may name someone (personal). A survey's questions and answers
    carry the survey's own class (`data_class`), never public."""
    from_template = template if template is not None else survey is not None and survey.template is not None
    return DataClass.PUBLIC if from_template else DataClass.PERSONAL


def main_role(person: Person, among: frozenset[str] | None = None) -> str:
    """The role a person answers in: the first of theirs in the plan's order (within `among`)."""
    return next((r for r in ALL_ROLES if r in person.roles and (among is None or r in among)), "other")


def audience_words(t: Translator, kind: str, value: str) -> str:
    if kind == "role":
        return t("surveys.audience.staff") if value == "staff" else t(f"roles.{value}")
    if kind == "parents" and value == "*":
        return t("surveys.audience.all_parents")
    return t(f"surveys.audience.{kind}", cls=value)


@dataclass(kw_only=True, eq=False)
class SurveysService:
    """Creating surveys, answering them, closing them."""

    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig
    survey_repo: Surveys
    templates: dict[str, SurveySpec] = field(init=False)

    def __post_init__(self) -> None:
        self.templates = load_templates()

    # --- creating ---------------------------------------------------------------------------------

    def deadline_for(self, days: int, now: datetime) -> datetime:
        """The end of work on the `days`-th working day after today (school calendar)."""
        cal = self.school.calendar
        last = cal.add_working_days(cal.local_date(now), days)
        return datetime.combine(last, cal.work_end, tzinfo=cal.tz).astimezone(now.tzinfo)

    async def respondents_for(self, audience: Audience) -> list[tuple[Person, str, str | None]]:
        """(person, role they answer in, their class) of an audience, fixed at creation."""
        if audience.kind == "class":
            return [(p, "student", p.class_label) for p in await self.people.with_role("student", audience.value)]
        if audience.kind == "parents":
            classes = await self.people.children_classes()
            if audience.value == "*":
                parents = await self.people.with_role("parent")
                return [(p, "parent", min(classes.get(p.id, frozenset({""}))) or None) for p in parents]
            return [(p, "parent", audience.value) for p in await self.people.parents_of_class(audience.value)]
        if audience.value == "staff":
            found = {p.id: p for role in sorted(STAFF_ROLES) for p in await self.people.with_role(role)}
            people = sorted(found.values(), key=lambda p: p.full_name)
            return [(p, main_role(p, STAFF_ROLES), p.class_label) for p in people]
        return [(p, audience.value, p.class_label) for p in await self.people.with_role(audience.value)]

    async def create(
        self, author: Person | None, spec: SurveySpec, audience: Audience, days: int, *, anonymous: bool
    ) -> tuple[int, int, int]:
        """Create the survey, fix its respondents, invite the reachable ones (outbox), in one
        transaction. Returns (survey id, respondents, invitations)."""
        if author is not None and not author.has_role(*SURVEY_AUTHOR_ROLES):
            raise SurveyRefused("surveys.not_author")
        if not MIN_DAYS <= days <= MAX_DAYS:
            raise SurveyRefused("surveys.bad_days")
        now = self.clock.now()
        people = await self.respondents_for(audience)
        if not people:
            raise SurveyRefused("surveys.nobody")
        # A survey of parents or pupils is about a child or a family; so is one the file says is.
        about_family = spec.about_family or audience.kind in ("class", "parents")
        data_class = DataClass.CHILD_PERSONAL if about_family else DataClass.PERSONAL
        deadline = self.deadline_for(days, now)
        send_at = self.school.calendar.send_window(now)
        body = spec.to_dict()
        body["about_family"] = about_family
        sent = 0
        async with self.db.transaction() as conn:
            sid = await self.survey_repo.insert(
                conn, title=spec.title, template=spec.name, spec=body, plan_item=spec.plan_item,
                audience=audience.kind, audience_value=audience.value, anonymous=anonymous,
                data_class=data_class.value, author_id=None if author is None else author.id, now=now,
                deadline=deadline,
            )
            await self.survey_repo.add_respondents(conn, sid, [(p.id, role, cls) for p, role, cls in people])
            for person, _, _ in people:
                if not person.reachable:
                    continue
                t = self.catalog.translator_for(person)
                sent += await self.outbox.notify(
                    conn, person, key=f"survey:{sid}:invite:{person.id}", data_class=data_class,
                    payload=Payload(
                        text=self.invitation_text(t, spec.title, spec.intro, len(spec.questions), anonymous,
                                                  deadline, person),
                        reply_markup=self.buttons.survey_open(sid, t("surveys.btn_start")),
                    ),
                    now=now, not_before=send_at,
                )
        return sid, len(people), sent

    def format_day(self, moment: datetime) -> str:
        return moment.astimezone(self.school.tz).strftime("%d.%m.%Y")

    def invitation_text(
        self, t: Translator, title: str, intro: str, n: int, anonymous: bool, deadline: datetime, person: Person
    ) -> str:
        return t(
            "surveys.invitation", name=Named(person.full_name, escape=True), title=escape(title),
            intro=escape(intro), n=n, deadline=self.format_day(deadline),
            privacy=t("surveys.anonymous_note" if anonymous else "surveys.named_note"),
        )

    # --- reading ----------------------------------------------------------------------------------

    async def survey(self, survey_id: int) -> SurveyRow | None:
        return await self.survey_repo.get(survey_id)

    async def all(self) -> list[SurveyRow]:
        return await self.survey_repo.all()

    async def mine(self, person: Person) -> list[tuple[SurveyRow, Respondent, dict[int, Any]]]:
        """The open surveys a person is asked, with their answers so far."""
        now = self.clock.now()
        repo = self.survey_repo
        return [
            (s, r, await repo.answers_of(s.id, person.id))
            for s, r in await repo.of_person(person.id)
            if s.closed_at is None and s.deadline > now
        ]

    def is_open(self, survey: SurveyRow) -> bool:
        return survey.closed_at is None and survey.deadline > self.clock.now()

    async def state(self, person: Person, survey_id: int) -> AnswerResult:
        """The survey as `person` may answer it now: refused unless they are a respondent and it is open."""
        repo = self.survey_repo
        survey = await repo.get(survey_id)
        if survey is None:
            return AnswerResult("missing")
        if await repo.respondent(survey_id, person.id) is None:
            return AnswerResult("not_respondent", survey)
        if not self.is_open(survey):
            return AnswerResult("closed", survey)
        return AnswerResult("ok", survey, await repo.answers_of(survey_id, person.id))

    @staticmethod
    def questions(survey: SurveyRow) -> list[Question]:
        return questions_of(survey.spec)

    @staticmethod
    def next_question(survey: SurveyRow, answers: dict[int, Any], after: int | None = None) -> int | None:
        """Where to go after question `after` (None: resuming): the next question when it is
        unanswered, else the first unanswered one, else None (all done)."""
        questions = questions_of(survey.spec)
        if after is not None and after + 1 < len(questions) and (after + 1) not in answers:
            return after + 1
        return first_open(questions, answers)

    # --- answering --------------------------------------------------------------------------------

    async def _record(
        self, person: Person, survey_id: int, question: int, value: Any, then: Then | None = None,
    ) -> AnswerResult:
        """Record one answer. ``then`` composes what follows it (the next question, the thanks) from
        the result; that message is queued with the answer as the press's answer (`Outbox.answer`),
        so the respondent is asked on even if the worker dies right after the commit (#27)."""
        current = await self.state(person, survey_id)
        if current.status != "ok" or current.survey is None:
            return current
        survey = current.survey
        questions = questions_of(survey.spec)
        now = self.clock.now()
        answers = dict(current.answers)
        answers[question] = value
        done = finished(questions, answers)
        respondent = await self.survey_repo.respondent(survey_id, person.id)
        assert respondent is not None
        async with self.db.transaction() as conn:
            await self.survey_repo.put_answer(conn, survey_id, respondent, question, value, now)
            finished_now = done and await self.survey_repo.mark_finished(conn, survey_id, person.id, now)
            if finished_now:
                await self.survey_repo.cancel_reminders(conn, survey_id, person.id)
            result = AnswerResult("ok", survey, answers, finished_now)
            payload = then(result) if then is not None else None
            if payload is not None:
                # Each answer's follow-up its own key: an answer may be changed, and given again.
                key = f"survey-next:{survey_id}:{person.id}:{question}:{secrets.token_hex(6)}"
                answer = await self.outbox.answer(
                    conn, person, key=key, payload=payload, now=now, data_class=DataClass(survey.data_class),
                )
                result = AnswerResult("ok", survey, answers, finished_now, answer)
        return result

    async def _question(self, person: Person, survey_id: int, question: int) -> tuple[AnswerResult, Question | None]:
        current = await self.state(person, survey_id)
        if current.status != "ok" or current.survey is None:
            return current, None
        questions = questions_of(current.survey.spec)
        if not 0 <= question < len(questions):
            return AnswerResult("bad", current.survey), None
        return current, questions[question]

    async def choose(
        self, person: Person, survey_id: int, question: int, index: int, then: Then | None = None,
    ) -> AnswerResult:
        """A single choice or a scale pressed; a multiple choice's option toggled (not yet final).
        ``then``: what follows the answer (`_record`)."""
        current, q = await self._question(person, survey_id, question)
        if q is None:
            return current
        if q.kind == "multi":
            selection = toggle(q, current.answers.get(question), index)
            if selection is None:
                return AnswerResult("bad", current.survey)
            return await self._record(person, survey_id, question, selection, then)
        value = choice_value(q, index)
        if value is None:
            return AnswerResult("bad", current.survey)
        return await self._record(person, survey_id, question, value + 1 if q.kind == "scale" else value, then)

    async def typed(
        self, person: Person, survey_id: int, question: int, text: str, then: Then | None = None,
    ) -> AnswerResult:
        current, q = await self._question(person, survey_id, question)
        if q is None:
            return current
        value: Any = parse_number(text) if q.kind == "number" else parse_text(text) if q.kind == "text" else None
        if value is None:
            return AnswerResult("bad", current.survey)
        return await self._record(person, survey_id, question, value, then)

    async def skip(self, person: Person, survey_id: int, question: int, then: Then | None = None) -> AnswerResult:
        current, q = await self._question(person, survey_id, question)
        if q is None:
            return current
        if not q.optional:
            return AnswerResult("bad", current.survey)
        return await self._record(person, survey_id, question, None, then)

    # --- closing ----------------------------------------------------------------------------------

    def may_manage(self, person: Person, survey: SurveyRow) -> bool:
        return person.id == survey.author_id or person.has_role(*SURVEY_AUTHOR_ROLES)

    async def close(self, survey: SurveyRow, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await self.survey_repo.close(conn, survey, now)
        # The anonymised rows' old pages are overwritten (secure_delete); the write-ahead log that
        # still holds them is folded into the file and emptied.
        if survey.anonymous:
            await self.survey_repo.forget_overwritten()

    async def close_now(self, person: Person, survey_id: int) -> SurveyRow:
        survey = await self.survey(survey_id)
        if survey is None or not self.may_manage(person, survey):
            raise SurveyRefused("surveys.expired")
        if survey.closed_at is None:
            await self.close(survey, self.clock.now())
        closed = await self.survey(survey_id)
        assert closed is not None
        return closed

    async def close_due(self, now: datetime) -> list[SurveyRow]:
        """Close every survey past its deadline; returns them as closed."""
        closed = []
        for survey in await self.survey_repo.due_to_close(now):
            await self.close(survey, now)
            row = await self.survey(survey.id)
            assert row is not None
            closed.append(row)
        return closed
