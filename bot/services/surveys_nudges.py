"""The surveys' minute: close what is past its deadline (and hand the result to the plan item it
serves), and remind who has not answered.

Reminders keep to the nudge budget the bot already has: at most one nudge a person a day across
capabilities. Staff get at most one plan message a day (bot/services/reminders.py, task_plan_days),
a family at most one consent or activation reminder a day (consent_nudges / codes_nudges). A survey
reminder is composed only at a sending moment (working hours, working day), after those sweeps have
run (its rank is later), and waits for another day when the person already had any of them today,
or another survey's reminder. Two reminders at most: two working days after the invitation, and on
the last day. Who has answered every required question is never reminded (and a reminder still
waiting in the outbox is cancelled when they finish: bot/services/surveys.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.domain.surveys import SurveyRow, questions_of
from bot.services.repos import ConsentLedger, InvitationCodes, People, PlanRecords, Surveys
from bot.services.task_actions import ProofInput, Refused
from bot.unit_of_work import Connection

if TYPE_CHECKING:
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.services.surveys import SurveysService
    from bot.services.surveys_results import SurveyResults
    from bot.services.task_actions import TaskActions
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

FIRST_AFTER_DAYS = 2  # working days after the invitation
MAX_REMINDERS = 2


@dataclass(kw_only=True, eq=False)
class SurveyNudges:
    buttons: Buttons
    catalog: Catalog
    code_repo: InvitationCodes
    consent_ledger: ConsentLedger
    db: UnitOfWork
    outbox: Outbox
    people: People
    plan_repo: PlanRecords
    school: SchoolConfig
    surveys: SurveysService
    survey_repo: Surveys
    survey_results: SurveyResults
    task_actions: TaskActions
    tasks: TasksService

    async def sweep(self, now: datetime) -> None:
        for survey in await self.surveys.close_due(now):
            await self.to_plan(survey)
        await self.remind(now)

    async def close_now(self, person: Person, survey_id: int) -> SurveyRow:
        """The author (or another author) closes the survey before its deadline: as at the deadline,
        the result goes to the plan item it serves."""
        before = await self.surveys.survey(survey_id)
        survey = await self.surveys.close_now(person, survey_id)
        if before is not None and before.closed_at is None:
            await self.to_plan(survey)
        return survey

    # --- into the plan ----------------------------------------------------------------------------

    async def to_plan(self, survey: SurveyRow) -> int | None:
        """A closed survey that serves a plan item becomes its author's proof for that item's current
        task (a text: how many answered, the main figures), waiting for the reviewer as any proof.
        None when there is nothing to hand over (no item, the author is not responsible for it, or
        it is accepted already)."""
        if survey.plan_item is None or survey.author_id is None:
            return None
        author = await self.people.get(survey.author_id)
        snap = await self.tasks.snapshot()
        item = snap.item(survey.plan_item)
        if author is None or item is None:
            return None
        today = self.school.calendar.local_date(survey.closed_at or survey.deadline)
        t = self.catalog.translator_for(author)
        body = await self.survey_results.summary_text(survey, t)
        for task in snap.current_tasks(item, today):
            if snap.accepted(task):
                continue
            try:
                return await self.task_actions.submit_proof(author, item.number, task.key, ProofInput("text", body))
            except Refused:
                return None
        return None

    # --- reminders --------------------------------------------------------------------------------

    async def _nudged_today(self, conn: Connection, person_id: int, today: date) -> bool:
        cal = self.school.calendar
        if await self.survey_repo.reminded_on(conn, person_id, today):
            return True
        if person_id in await self.plan_repo.on(conn).plan_days(today):
            return True
        last_code = await self.code_repo.last_nudge_to(conn, person_id)
        if last_code is not None and cal.local_date(last_code) == today:
            return True
        version = await self.consent_ledger.current_version(conn)
        if version is not None:
            for due in (await self.consent_ledger.nudges_of(conn, version.number, person_id)).values():
                if cal.local_date(due) == today:
                    return True
        return False

    def due_n(self, survey: SurveyRow, sent: set[int], today: date) -> int | None:
        """Which reminder is due today: 2 on the last day, 1 from two working days after the invitation."""
        cal = self.school.calendar
        last_day = cal.local_date(survey.deadline)
        if today >= last_day:
            return 2 if 2 not in sent else None
        if 1 not in sent and today >= cal.add_working_days(cal.local_date(survey.created_at), FIRST_AFTER_DAYS):
            return 1
        return None

    async def remind(self, now: datetime) -> int:
        cal = self.school.calendar
        if cal.send_window(now) != now:
            return 0  # composed only at a sending moment, as the plan's reminders are
        today = cal.local_date(now)
        repo = self.survey_repo
        queued = 0
        for survey in await repo.open_at(now):
            pending = [r for r in await repo.respondents(survey.id) if r.finished_at is None]
            if not pending:
                continue
            counts = await repo.reminders(survey.id)
            due = {r.person_id: n for r in pending
                   if (n := self.due_n(survey, counts.get(r.person_id, set()), today)) is not None}
            people = [p for p in await self.people.get_many(due) if p.active and p.reachable]
            total = len(questions_of(survey.spec))
            for person in people:
                answered = len(await repo.answers_of(survey.id, person.id))
                async with self.db.transaction() as conn:
                    if await self._nudged_today(conn, person.id, today):
                        continue
                    n = due[person.id]
                    if not await self.survey_repo.record_reminder(conn, survey.id, person.id, n, today, now):
                        continue
                    t = self.catalog.translator_for(person)
                    queued += await self.outbox.notify(
                        conn, person, key=f"survey:{survey.id}:remind:{person.id}:{n}",
                        data_class=DataClass(survey.data_class),
                        payload=Payload(
                            text=t(f"surveys.reminder_{n}", title=escape(survey.title), answered=answered,
                                   total=total, deadline=self.surveys.format_day(survey.deadline)),
                            reply_markup=self.buttons.survey_open(survey.id, t("surveys.btn_continue")),
                        ),
                        now=now,
                    )
        return queued
