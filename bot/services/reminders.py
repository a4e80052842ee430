"""Plan reminders: what is due at a moment, grouped into at most one message per person per day.

The database is the truth. For every (task, responsible person) the reminder moments are fixed
dates (7 days and 1 day before, the due day; the start day of a "from" item). At a given instant
one moment is relevant: the latest whose day has come, once its sending time (the first allowed
instant of that day or after) has come too. So after downtime only the most relevant missed reminder
goes out, once, and never "7 days before" when the due day has passed. Once a task is overdue it is
no longer a message of its own: it goes into the weekly digest, which every responsible person gets
for their own overdue tasks and the director and the IT officer get for the whole school.

Everything one person is to be told on a day - due reminders, snoozed ones, the week's digest - is
one message (`PlanMessage`); the reminder log, the digest log and the day's mark share its
transaction, so a restart neither repeats nor loses anything, and a second message the same day
is never sent (what falls due later that day waits for the next morning).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.access import ADMIN_ROLE
from bot.domain.calendar import deadline_words, overdue_moments, reminder_moments
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.repos import PlanRecords
from bot.services.tasks import Snapshot, Task, esc, shorten, task_label

if TYPE_CHECKING:

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

DIGEST_LIMIT = 30
# A "from <date>" item is announced once, on its start date; after downtime (or to someone linked
# later) the announcement is still worth sending within this many days, and stale after that.
START_RELEVANT_DAYS = 7


@dataclass(frozen=True)
class DueReminder:
    task: Task
    person: Person
    kind: str
    day: date
    not_before: datetime

    @property
    def dedupe_key(self) -> str:
        return f"task:{self.task.item.number}:{self.task.key}:{self.person.id}:{self.kind}"


@dataclass(frozen=True)
class DueDigest:
    week: str
    person: Person
    tasks: list[Task]
    not_before: datetime

    @property
    def dedupe_key(self) -> str:
        return f"tasks:digest:{self.week}:{self.person.id}"


def year_end(snap: Snapshot) -> date:
    return date(snap.year + 1, 8, 31)


def moments(task: Task, until: date) -> list[tuple[str, date]]:
    """(kind, day) of every reminder of a task, earliest first."""
    occ = task.occ
    if occ is None:
        return []  # whole period (monitored), per event, unset: no nagging
    if occ.due is not None:
        found = reminder_moments(occ.due)
        found += [(f"over-{day.isoformat()}", day) for day in overdue_moments(occ.due, until)]
        return found
    if occ.starts is not None:
        return [("start", occ.starts)]
    return []


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class PlanMessage:
    """Everything one person is told about the plan on one day, as one message."""

    person: Person
    day: date
    due: list[DueReminder]
    digest: DueDigest | None
    not_before: datetime

    @property
    def dedupe_key(self) -> str:
        return f"plan:{self.person.id}:{self.day.isoformat()}"


_WHEN = {"before7": "in_week", "before1": "tomorrow", "due": "today", "start": "start"}
BUTTON_LIMIT = 8


def _when_words(reminder: DueReminder, today: date, t: Translator) -> str:
    due = reminder.task.due
    # The due day itself may have been a weekend: by Monday the deadline has passed.
    key = "overdue" if due is not None and due < today else _WHEN.get(reminder.kind, "snooze")
    return t(f"tasks.plan.when.{key}")


@dataclass
class SweepPlan:
    reminders: list[DueReminder]
    digests: list[DueDigest]
    snap: Snapshot
    messages: list[PlanMessage]


@dataclass(kw_only=True, eq=False)
class Reminders:
    """The tasks capability's minute: deadline reminders, snoozes and the Monday digest."""

    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    plan_repo: PlanRecords
    school: SchoolConfig
    tasks: TasksService
    send_at_cache: dict[date, datetime] = field(default_factory=dict, init=False)


    def _send_at(self, day: date) -> datetime:
        cache = self.send_at_cache
        found = cache.get(day)
        if found is None:
            found = cache[day] = self.school.calendar.send_window(self.school.calendar.day_start(day))
        return found

    def due_reminders(
        self, snap: Snapshot, log: set[tuple[str, str, int, str]], now: datetime, *, linked_only: bool = True
    ) -> list[DueReminder]:
        today = self.school.calendar.local_date(now)
        until = year_end(snap)
        not_before = self.school.calendar.send_window(now)
        due: list[DueReminder] = []
        for item in snap.items:
            people = [p for p in snap.people_for(item) if p.reachable or not linked_only]
            if not people:
                continue
            for occ in snap.occurrences(item):
                task = Task(item, occ)
                # The relevant reminder is the latest whose day has come; if its sending time has not
                # (a weekend, before work), wait for it rather than send an older, superseded one.
                relevant = next(((k, d) for k, d in reversed(moments(task, until)) if d <= today), None)
                if relevant is None or self._send_at(relevant[1]) > now:
                    continue
                if relevant[0] == "start" and (today - relevant[1]).days > START_RELEVANT_DAYS:
                    continue
                kind, day = relevant
                if kind.startswith("over-"):
                    continue  # overdue: the weekly digest tells, not a message of its own
                for person in people:
                    if (item.number, task.key, person.id, kind) in log or snap.done_by(task, person.id):
                        continue
                    due.append(DueReminder(task, person, kind, day, not_before))
        return due

    def digest_moment(self, now: datetime) -> tuple[str, date] | None:
        """This ISO week's digest (week, school-local day it goes out), once its moment has come:
        Monday's start of work, or the first allowed time after it within the same week."""
        today = self.school.calendar.local_date(now)
        monday = today - timedelta(days=today.weekday())
        at = self._send_at(monday)
        if now < at or iso_week(at.astimezone(self.school.tz).date()) != iso_week(monday):
            return None
        return iso_week(monday), at.astimezone(self.school.tz).date()

    def due_digests(
        self, snap: Snapshot, sent: set[int], now: datetime, *, linked_only: bool = True
    ) -> list[DueDigest]:
        """This week's digests: each responsible person's own overdue tasks; the director and the IT
        officer also get every overdue task of the school (with who is responsible)."""
        moment = self.digest_moment(now)
        if moment is None:
            return []
        week, day = moment
        overdue = snap.overdue(day)
        if not overdue:
            return []
        not_before = self.school.calendar.send_window(now)
        reviewers = {p.id for p in snap.reviewers()}
        people: dict[int, Person] = {}
        for task in overdue:
            for person in snap.people_for(task.item):
                people.setdefault(person.id, person)
        for person in snap.reviewers():
            people.setdefault(person.id, person)
        found = []
        for person in sorted(people.values(), key=lambda p: p.id):
            if person.id in sent or not (person.reachable or not linked_only):
                continue
            if person.id in reviewers:
                tasks = overdue
            else:
                tasks = [
                    t for t in overdue if person.roles & set(t.item.responsible) and not snap.done_by(t, person.id)
                ]
            if tasks:
                found.append(DueDigest(week, person, tasks, not_before))
        return found

    def plan_payload(self, snap: Snapshot, message: PlanMessage) -> Payload:
        person = message.person
        t = self.catalog.translator_for(person)
        today = message.day
        parts = [t("tasks.plan.title", day=today.strftime("%d.%m.%Y"))]
        buttons: list[Task] = []
        if message.due:
            lines = [t("tasks.plan.due_h")]
            for r in sorted(message.due, key=lambda r: (r.task.due or r.day, r.task.item.number)):
                if r.task in buttons:
                    continue  # a snoozed task that is also due today is told once
                lines.append(
                    t(
                        "tasks.plan.due_line",
                        label=task_label(r.task, t),
                        when=_when_words(r, today, t),
                        text=esc(shorten(r.task.item.text, 200)),
                        deadline=deadline_words(r.task.item.deadline, r.task.occ, t.lang),
                        proof=esc(shorten(r.task.item.proof or t("tasks.proof_any"), 120)),
                    )
                )
                buttons.append(r.task)
            parts.append("\n".join(lines))
        digest = message.digest
        if digest is not None:
            # A task in today's reminders is not repeated in the digest part of the same message.
            reminded = {(r.task.item.number, r.task.key) for r in message.due}
            own = [task for task in digest.tasks if person.roles & set(task.item.responsible)
                   and not snap.done_by(task, person.id) and (task.item.number, task.key) not in reminded]
            others = [task for task in digest.tasks if task not in own
                      and (task.item.number, task.key) not in reminded]
            if own:
                lines = [t.plural("tasks.plan.overdue_h", len(own))]
                for task in own[:DIGEST_LIMIT]:
                    lines.append(
                        t(
                            "tasks.plan.overdue_line",
                            label=task_label(task, t),
                            text=esc(shorten(task.item.text, 160)),
                            deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                            days=(today - task.due).days if task.due else 0,
                        )
                    )
                    buttons.append(task)
                parts.append("\n".join(lines))
            if others:
                lines = [t.plural("tasks.plan.school_h", len(others))]
                for task in others[:DIGEST_LIMIT]:
                    people = snap.people_for(task.item)
                    names = ", ".join(p.full_name for p in people) if people else t("tasks.view.nobody")
                    lines.append(
                        t(
                            "tasks.plan.school_line",
                            label=task_label(task, t),
                            text=esc(shorten(task.item.text, 120)),
                            deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                            people=esc(shorten(names, 200)),
                        )
                    )
                if len(others) > DIGEST_LIMIT:
                    lines.append(t("tasks.digest.more", n=len(others) - DIGEST_LIMIT))
                parts.append("\n".join(lines))
        # Only someone who is not the IT officer is pointed to the IT officer.
        parts.append(t("tasks.plan.footer_admin" if person.has_role(ADMIN_ROLE) else "tasks.plan.footer"))
        return Payload(text="\n\n".join(parts), reply_markup=self.buttons.task_plan(buttons, t))

    async def plan_at(self, now: datetime, *, linked_only: bool = True) -> SweepPlan:
        """What the sweep would enqueue at `now` (reads only). With linked_only=False (the dry run) people
        not linked to Telegram are included, so the operator sees whom the bot cannot reach."""
        snap = await self.tasks.snapshot()
        moment = self.school.calendar.send_window(now)
        if moment != now:
            if linked_only:
                # Composed only at a sending moment, so the morning's one message holds everything
                # due by then (a message enqueued at night could not take in what comes due later).
                return SweepPlan([], [], snap, [])
            now = moment  # the dry run shows what the next sending moment will bring
        repo = self.plan_repo
        log = await repo.reminder_log()
        reminders = self.due_reminders(snap, log, now, linked_only=linked_only)
        not_before = self.school.calendar.send_window(now)
        people = {p.id: p for ps in snap.by_role.values() for p in ps}
        for snooze_id, number, key, person_id in await repo.due_snoozes(now):
            task = snap.task(number, key)
            person = people.get(person_id)
            if task is None or person is None or not person.reachable or snap.done_by(task, person_id):
                continue
            today = self.school.calendar.local_date(now)
            reminders.append(DueReminder(task, person, f"snooze-{snooze_id}", today, not_before))
        today = self.school.calendar.local_date(now)
        week = iso_week(today - timedelta(days=today.weekday()))
        digests = self.due_digests(snap, await repo.digest_sent(week), now, linked_only=linked_only)
        # One message per person per day: who already had theirs today waits for tomorrow.
        done_today = await repo.plan_days(today)
        grouped: dict[int, PlanMessage] = {}
        for r in reminders:
            if r.person.id in done_today:
                continue
            grouped.setdefault(r.person.id, PlanMessage(r.person, today, [], None, not_before)).due.append(r)
        for d in digests:
            if d.person.id in done_today:
                continue
            grouped.setdefault(d.person.id, PlanMessage(d.person, today, [], None, not_before)).digest = d
        messages = list(grouped.values())
        return SweepPlan(
            [r for m in messages for r in m.due], [m.digest for m in messages if m.digest], snap, messages
        )

    async def sweep(self, now: datetime) -> None:
        plan = await self.plan_at(now)
        if not plan.messages:
            return
        async with self.db.transaction() as conn:
            for m in plan.messages:
                if not await self.plan_repo.log_plan_day(conn, m.person.id, m.day, now):
                    continue
                for r in m.due:
                    await self.plan_repo.log_reminder(conn, r.task.item.number, r.task.key, r.person.id, r.kind, now)
                if m.digest is not None:
                    await self.plan_repo.log_digest(conn, m.digest.week, m.person.id, now)
                # The weekly digest names colleagues (whose tasks are overdue): personal data. The
                # reminders alone name only the person's own tasks: a public notice.
                await self.outbox.notify(
                    conn, m.person, data_class=DataClass.PERSONAL if m.digest is not None else DataClass.PUBLIC,
                    key=m.dedupe_key,
                    kind="text",
                    payload=self.plan_payload(plan.snap, m),
                    now=now,
                    not_before=m.not_before,
                )
        self.outbox.wake()

    # --- CLI: schoolbot reminders --dry-run [--at "YYYY-MM-DD HH:MM"] --------------------------------
    async def cmd_reminders(self, args: argparse.Namespace, t: Translator) -> int:
        if not args.dry_run:
            print(t("cli.reminders_dry_run_only"), file=sys.stderr)
            return 2
        tz = self.school.tz
        if args.at:
            try:
                moment = datetime.strptime(args.at, "%Y-%m-%d %H:%M").replace(tzinfo=tz)
            except ValueError:
                print(t("cli.reminders_bad_at", value=args.at), file=sys.stderr)
                return 2
        else:
            moment = self.clock.now()
        # Reads only: the plan is loaded if missing, but nothing is enqueued or logged.
        plan = await self.plan_at(moment.astimezone(UTC), linked_only=False)
        local = moment.astimezone(tz).strftime("%d.%m.%Y %H:%M %Z")
        print(t("cli.reminders_at", local=local, reminders=t.plural("cli.reminders", len(plan.reminders)),
                digests=t.plural("cli.digests", len(plan.digests))))
        for r in plan.reminders:
            send = r.not_before.astimezone(tz).strftime("%d.%m.%Y %H:%M")
            words = deadline_words(r.task.item.deadline, r.task.occ, t.lang)
            note = "" if r.person.reachable else t("cli.not_linked")
            print(t("cli.reminder_line", kind=r.kind, item=r.task.item.number, words=words, name=r.person.full_name,
                    send=send, note=note))
        for d in plan.digests:
            send = d.not_before.astimezone(tz).strftime("%d.%m.%Y %H:%M")
            numbers = ", ".join(f"{task.item.number} ({task.key})" for task in d.tasks)
            note = "" if d.person.reachable else t("cli.not_linked")
            print(t("cli.digest_line", week=d.week, name=d.person.full_name, send=send, numbers=numbers, note=note))
        return 0
