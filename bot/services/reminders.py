"""Deadline reminders and the Monday escalation digest: what is due at a moment, and enqueueing it.

The database is the truth. For every (task, responsible person) the reminder moments are fixed
dates (7 days and 1 day before, the due day, then weekly while overdue; the start day of a "from"
item). At a given instant one moment is relevant, and it is sent unless the reminder log already
holds it. That is: the latest moment whose day has come, once its sending time (the first allowed
instant of that day or after) has come too. So after downtime only the most relevant missed reminder
goes out, once, and never "7 days before" when the due day has passed. The log row and the outbox
message share one transaction.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.services.deadlines import deadline_words, overdue_moments, reminder_moments
from bot.services.tasks import (
    Snapshot,
    Task,
    _esc,
    _fit,
    day_start,
    reminder_markup,
    send_window,
    shorten,
    snapshot,
    today_local,
)
from storage.outbox import Payload, enqueue
from storage.people import Person
from storage.tasks import TaskRepo

if TYPE_CHECKING:
    from bot.app import App
    from bot.i18n import Translator

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


def _send_at(app: App, day: date) -> datetime:
    cache: dict[date, datetime] = app.extras.setdefault("tasks.send_at", {})
    found = cache.get(day)
    if found is None:
        found = cache[day] = send_window(app, day_start(app, day))
    return found


def due_reminders(
    app: App, snap: Snapshot, log: set[tuple[str, str, int, str]], now: datetime, *, linked_only: bool = True
) -> list[DueReminder]:
    today = today_local(app, now)
    until = year_end(snap)
    not_before = send_window(app, now)
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
            if relevant is None or _send_at(app, relevant[1]) > now:
                continue
            if relevant[0] == "start" and (today - relevant[1]).days > START_RELEVANT_DAYS:
                continue
            kind, day = relevant
            for person in people:
                if (item.number, task.key, person.id, kind) in log or snap.done_by(task, person.id):
                    continue
                due.append(DueReminder(task, person, kind, day, not_before))
    return due


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def due_digests(
    app: App, snap: Snapshot, sent: set[int], now: datetime, *, linked_only: bool = True
) -> list[DueDigest]:
    """This ISO week's digest, from Monday's start of work (or the first allowed time after it)."""
    today = today_local(app, now)
    monday = today - timedelta(days=today.weekday())
    at = _send_at(app, monday)
    if now < at or iso_week(at.astimezone(app.school.tz).date()) != iso_week(monday):
        return []
    overdue = snap.overdue(at.astimezone(app.school.tz).date())
    if not overdue:
        return []
    not_before = send_window(app, now)
    return [
        DueDigest(iso_week(monday), p, overdue, not_before)
        for p in snap.reviewers()
        if (p.reachable or not linked_only) and p.id not in sent
    ]


def reminder_payload(app: App, reminder: DueReminder) -> Payload:
    t = app.translator_for(reminder.person)
    task = reminder.task
    kind = reminder.kind
    key = "overdue" if kind.startswith("over-") else "snooze" if kind.startswith("snooze-") else kind
    text = t(
        f"tasks.reminder.{key}",
        number=task.item.number,
        text=_esc(shorten(task.item.text, 1000)),
        deadline=deadline_words(task.item.deadline, task.occ, t.lang),
        proof=_esc(task.item.proof or t("tasks.proof_any")),
    )
    return Payload(text=_fit(text), reply_markup=reminder_markup(task, t))


def digest_payload(app: App, snap: Snapshot, digest: DueDigest) -> Payload:
    t = app.translator_for(digest.person)
    lines = [t.plural("tasks.digest.title", len(digest.tasks))]
    for task in digest.tasks[:DIGEST_LIMIT]:
        people = snap.people_for(task.item)
        names = ", ".join(p.full_name for p in people) if people else t("tasks.view.nobody")
        lines.append(
            t(
                "tasks.digest.line",
                number=task.item.number,
                text=_esc(shorten(task.item.text, 120)),
                deadline=deadline_words(task.item.deadline, task.occ, t.lang),
                people=_esc(names),
            )
        )
    if len(digest.tasks) > DIGEST_LIMIT:
        lines.append(t("tasks.digest.more", n=len(digest.tasks) - DIGEST_LIMIT))
    return Payload(text=_fit("\n\n".join(lines)))


@dataclass
class SweepPlan:
    reminders: list[DueReminder]
    digests: list[DueDigest]
    snap: Snapshot


async def plan_at(app: App, now: datetime, *, linked_only: bool = True) -> SweepPlan:
    """What the sweep would enqueue at `now` (reads only). With linked_only=False (the dry run) people
    not linked to Telegram are included, so the operator sees whom the bot cannot reach."""
    snap = await snapshot(app)
    repo = TaskRepo(app.db)
    log = await repo.reminder_log()
    reminders = due_reminders(app, snap, log, now, linked_only=linked_only)
    not_before = send_window(app, now)
    people = {p.id: p for ps in snap.by_role.values() for p in ps}
    for snooze_id, number, key, person_id in await repo.due_snoozes(now):
        task = snap.task(number, key)
        person = people.get(person_id)
        if task is None or person is None or not person.reachable or snap.done_by(task, person_id):
            continue
        reminders.append(DueReminder(task, person, f"snooze-{snooze_id}", today_local(app, now), not_before))
    today = today_local(app, now)
    week = iso_week(today - timedelta(days=today.weekday()))
    digests = due_digests(app, snap, await repo.digest_sent(week), now, linked_only=linked_only)
    return SweepPlan(reminders, digests, snap)


async def sweep(app: App, now: datetime) -> None:
    plan = await plan_at(app, now)
    if not plan.reminders and not plan.digests:
        return
    async with app.db.transaction() as conn:
        for r in plan.reminders:
            assert r.person.tg_user_id is not None
            if await TaskRepo.log_reminder(conn, r.task.item.number, r.task.key, r.person.id, r.kind, now):
                await enqueue(
                    conn,
                    dedupe_key=r.dedupe_key,
                    chat_id=r.person.tg_user_id,
                    person_id=r.person.id,
                    kind="text",
                    payload=reminder_payload(app, r),
                    now=now,
                    not_before=r.not_before,
                )
        for d in plan.digests:
            assert d.person.tg_user_id is not None
            if await TaskRepo.log_digest(conn, d.week, d.person.id, now):
                await enqueue(
                    conn,
                    dedupe_key=d.dedupe_key,
                    chat_id=d.person.tg_user_id,
                    person_id=d.person.id,
                    kind="text",
                    payload=digest_payload(app, plan.snap, d),
                    now=now,
                    not_before=d.not_before,
                )
    app.wake_sender()


# --- CLI: schoolbot reminders --dry-run [--at "YYYY-MM-DD HH:MM"] --------------------------------


async def cmd_reminders(app: App, args: argparse.Namespace, t: Translator) -> int:
    if not args.dry_run:
        print("only --dry-run is supported: the running bot sends reminders itself", file=sys.stderr)
        return 2
    tz = app.school.tz
    if args.at:
        try:
            moment = datetime.strptime(args.at, "%Y-%m-%d %H:%M").replace(tzinfo=tz)
        except ValueError:
            print(f'--at: expected "YYYY-MM-DD HH:MM" (school time), got {args.at!r}', file=sys.stderr)
            return 2
    else:
        moment = app.clock.now()
    # Reads only: the plan is loaded if missing, but nothing is enqueued or logged.
    plan = await plan_at(app, moment.astimezone(UTC), linked_only=False)
    local = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    print(f"At {local}: {len(plan.reminders)} reminder(s), {len(plan.digests)} digest(s) would be sent.")
    for r in plan.reminders:
        send = r.not_before.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        words = deadline_words(r.task.item.deadline, r.task.occ, t.lang)
        note = "" if r.person.reachable else "  (not linked to Telegram: not sent)"
        print(f"  reminder {r.kind:<18} item {r.task.item.number:<4} [{words}] -> {r.person.full_name} at {send}{note}")
    for d in plan.digests:
        send = d.not_before.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        numbers = ", ".join(f"{task.item.number} ({task.key})" for task in d.tasks)
        note = "" if d.person.reachable else "  (not linked to Telegram: not sent)"
        print(f"  digest {d.week} -> {d.person.full_name} at {send}: overdue items {numbers}{note}")
    return 0


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("reminders", help="show the plan reminders and digests due at a moment")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; write nothing")
    p.add_argument("--at", default=None, help='school-time moment, e.g. "2027-05-20 09:00" (default: now)')
    p.set_defaults(func=cmd_reminders)
