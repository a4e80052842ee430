"""A whole school year with the seed plan and the small roster, on a ManualClock: the exact set of
reminders and weekly digests, each once, each at an allowed time, at most one plan message per
person per day, and nothing overdue left out of a digest.

The expected set is computed here independently of the bot's code, from the rules as the issue
states them: 7 days and 1 day before and on the day, each postponed to the first working,
non-holiday day at work_start; when two reminders of one task fall on the same sending moment only
the later (more relevant) one goes out; once overdue, a task is no message of its own but is in
the weekly digest. "From" items get one reminder on their start date. Digests: every ISO week whose
Monday start of work (or the next allowed moment in that week) sees something overdue, to the
director and the IT officer (the whole school) and to each responsible person with overdue tasks
of their own. The second test runs the year end to end through the bot and the fake Bot API server
and prints the messages per role per month.
"""

from __future__ import annotations

import json
import time as timer
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from bot.channels import Channel
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from storage.timefmt import from_db
from tests import year_walk
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, TEACHER, handler_harness, running_bot
from tests.test_tasks import seed

START = date(2026, 9, 1)
END = date(2027, 8, 31)

# The seed plan moved to school year 2026/27, as the issue reads it (see content/plan.toml).
DUE_TASKS: list[tuple[str, str, date, set[int]]] = [
    ("3", "2026-10-31", date(2026, 10, 31), {DIRECTOR}),
    ("11", "2027-01-31", date(2027, 1, 31), {IT_OFFICER, CLASS_TEACHER}),
    ("16", "q1-2026", date(2026, 10, 24), {IT_OFFICER}),
    ("16", "q2-2026", date(2026, 12, 28), {IT_OFFICER}),
    ("16", "q3-2026", date(2027, 3, 20), {IT_OFFICER}),
    ("16", "q4-2026", date(2027, 5, 26), {IT_OFFICER}),
    ("18", "2027-05-31", date(2027, 5, 31), {IT_OFFICER}),
    ("19", "year-2026", date(2027, 5, 31), {IT_OFFICER, CLASS_TEACHER}),
    # Item 8 (site administrator) has nobody with that role on the small roster: no reminders.
]
START_TASKS = [("15", "from-2027-02-01", date(2027, 2, 1), {CLASS_TEACHER, TEACHER})]


def expected(holidays: set[date]) -> tuple[dict[tuple[str, str, int, str], date], dict[tuple[str, int], date]]:
    def sending_day(day: date) -> date:
        while day.weekday() >= 5 or day in holidays:
            day += timedelta(days=1)
        return day

    result: dict[tuple[str, str, int, str], date] = {}
    for number, key, due, people in DUE_TASKS:
        moments = [("before7", due - timedelta(days=7)), ("before1", due - timedelta(days=1)), ("due", due)]
        for i, (kind, day) in enumerate(moments):
            send = sending_day(day)
            if send > END:
                continue
            if i + 1 < len(moments) and sending_day(moments[i + 1][1]) <= send:
                continue  # superseded by a more relevant reminder at the same moment
            for person in people:
                result[(number, key, person, kind)] = send
    for number, key, start, people in START_TASKS:
        for person in people:
            result[(number, key, person, "start")] = sending_day(start)

    digests: dict[tuple[str, int], date] = {}
    monday = START - timedelta(days=START.weekday())
    while monday <= END:
        send = sending_day(monday)
        year, week, _ = monday.isocalendar()
        in_week = send.isocalendar()[:2] == (year, week) and send <= END
        if in_week and any(due < send for _, _, due, _ in DUE_TASKS):
            for person in (DIRECTOR, IT_OFFICER):
                digests[(f"{year}-W{week:02d}", person)] = send
            if any(due < send and CLASS_TEACHER in people for _, _, due, people in DUE_TASKS):
                digests[(f"{year}-W{week:02d}", CLASS_TEACHER)] = send
        monday += timedelta(days=7)
    return result, digests


def overdue_on(day: date, person: int) -> list[tuple[str, str]]:
    """(item, occurrence) overdue on `day` that a digest to `person` must mention."""
    reviewer = person in (DIRECTOR, IT_OFFICER)
    return [(n, k) for n, k, due, people in DUE_TASKS if due < day and (reviewer or person in people)]


def label(number: str, key: str) -> str:
    roman = {"q1": "I", "q2": "II", "q3": "III", "q4": "IV"}
    quarter = key.split("-")[0]
    return f"<b>Пункт {number} · {roman[quarter]} четверть</b>" if quarter in roman else f"<b>Пункт {number}</b>"


async def test_school_year_walk(tmp_path: Path) -> None:
    began = timer.perf_counter()
    start = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)
    async with handler_harness(tmp_path, start=start) as h:
        app = h.app
        tz = app.school.tz
        hours = app.school.hours
        holidays = set(hours.holidays)
        await seed(app)
        want, want_digests = expected(holidays)

        # Hour by hour on the days where something is due or sent, every few hours otherwise.
        busy = set(want.values()) | set(want_digests.values())
        sweeps = 0
        day = START
        while day <= END:
            hours_of_day = range(24) if day in busy else (3, 10, 15)
            for hour in hours_of_day:
                now = datetime.combine(day, time(hour, 0), tzinfo=tz).astimezone(UTC)
                h.clock.set(now)
                await app.services.reminders.sweep(now)
                sweeps += 1
            day += timedelta(days=1)

        people = {p.id: p.user_id(Channel.TELEGRAM) for p in await app.people.active()}
        messages: dict[tuple[int, date], str] = {}
        for row in await app.db.fetchall(
            "SELECT dedupe_key, person_id, payload, next_attempt_at, created_at FROM outbox ORDER BY id"
        ):
            assert row["dedupe_key"].startswith("plan:"), row["dedupe_key"]
            not_before = from_db(row["next_attempt_at"]).astimezone(tz)
            created = from_db(row["created_at"]).astimezone(tz)
            # Never outside working hours, on a weekend, on a holiday, or in quiet hours.
            assert hours.work_start <= not_before.time() < hours.work_end, row["dedupe_key"]
            assert not_before.isoweekday() in hours.working_days and not_before.date() not in holidays
            assert not (not_before.time() >= hours.quiet_start or not_before.time() < hours.quiet_end)
            assert created <= not_before + timedelta(minutes=1)
            assert not_before == datetime.combine(not_before.date(), hours.work_start, tzinfo=tz)
            _, person_id, day_text = row["dedupe_key"].split(":")
            assert int(person_id) == row["person_id"] and people[int(person_id)] is not None
            assert date.fromisoformat(day_text) == not_before.date()
            # Keyed by the Telegram id, as `want` (built from the walk's users) names its readers.
            key = (people[row["person_id"]], not_before.date())
            assert key not in messages, f"two plan messages to {key}"  # at most one per person per day
            messages[key] = json.loads(row["payload"])["text"]

        got: Counter[tuple[str, str, int, str]] = Counter()
        got_at: dict[tuple[str, str, int, str], date] = {}
        for r in await app.db.fetchall("SELECT item_number, occurrence_key, person_id, kind, enqueued_at"
                                       " FROM task_reminders"):
            key4 = (r[0], r[1], people[r[2]], r[3])
            got[key4] += 1
            got_at[key4] = from_db(r[4]).astimezone(tz).date()
        assert set(got) - set(want) == set(), "unexpected reminders"
        assert set(want) - set(got) == set(), "missing reminders"
        assert all(n == 1 for n in got.values())
        for key, day in want.items():
            assert got_at[key] == day, key
            assert label(key[0], key[1]) in messages[(key[2], day)], key  # told in that day's message
        got_digests = {}
        for r in await app.db.fetchall("SELECT week, person_id, enqueued_at FROM task_digests"):
            got_digests[(r[0], people[r[1]])] = from_db(r[2]).astimezone(tz).date()
        assert got_digests == want_digests
        # Nothing overdue is left unmentioned: every digest names every overdue task of its reader.
        for (_, person), day in want_digests.items():
            for number, key in overdue_on(day, person):
                assert label(number, key) in messages[(person, day)], (person, day, number, key)
        # No message tells the IT officer to contact the IT officer.
        assert not [text for (chat, _), text in messages.items()
                    if chat == IT_OFFICER and "ответственному по информатизации" in text]
        # Every message is a reminder day or a digest day: nothing else is sent.
        days = {(p, d) for (_, _, p, _), d in want.items()} | {(p, d) for (_, p), d in want_digests.items()}
        assert set(messages) == days

        # Spot checks a reader can verify by hand.
        assert want[("3", "2026-10-31", DIRECTOR, "before7")] == date(2026, 10, 26)  # Sat 24th -> Mon
        assert want[("3", "2026-10-31", DIRECTOR, "before1")] == date(2026, 10, 30)  # Friday
        # Q2 of item 16 is due Monday 28 December: "1 day before" (Sunday) is superseded by "due".
        assert ("16", "q2-2026", IT_OFFICER, "before1") not in want
        assert want[("16", "q2-2026", IT_OFFICER, "due")] == date(2026, 12, 28)
        assert want[("3", "2026-10-31", DIRECTOR, "due")] == date(2026, 11, 2)  # Sat 31st -> Mon
        assert want[("15", "from-2027-02-01", TEACHER, "start")] == date(2027, 2, 1)
        assert want_digests[("2027-W10", DIRECTOR)] == date(2027, 3, 9)  # Monday 8 March is a holiday
        assert ("2026-W43", DIRECTOR) not in want_digests  # nothing overdue yet
        counts = Counter(chat for chat, _ in messages)
    elapsed = timer.perf_counter() - began
    print(f"year walk: {sweeps} sweeps, {len(got)} reminders, {len(got_digests)} digests, "
          f"plan messages per person {dict(counts)}, {elapsed:.1f}s")


async def test_school_year_end_to_end(tg: FakeTelegram, tmp_path: Path) -> None:
    """1 September to the next 1 September through the running bot and the fake Bot API server;
    prints the messages per role per month and the timing."""
    began = timer.perf_counter()
    clock = ManualClock(datetime.combine(year_walk.START, time(6, 0), tzinfo=UTC))
    async with running_bot(tg, tmp_path, clock=clock) as app:
        year_walk.lift_pace(app, tg)
        w = year_walk.Walk(tg, app, clock)
        await year_walk.run_year(w)
        table = await w.table()
        print()
        print(year_walk.format_table(table))
        # No code of the family that never consented reached anyone.
        assert year_walk.uncovered_code_leaks(w) == []
        officer, director = year_walk.dec_may(table, "it_officer"), year_walk.dec_may(table, "director")
        print(f"Dec-May: it_officer {officer}, director {director}")
        # Measured with this walk on main before the nudges were grouped (93d4de0): 106 and 29.
        assert officer <= 106 // 4 and director <= 29 // 4
        # Every role that has something to do hears from the bot; parents got their cards in September.
        assert all(sum(table.get(role, {}).values()) > 0 for role in ("it_officer", "director", "class_teacher",
                                                                        "teacher", "parent"))
    elapsed = timer.perf_counter() - began
    print(f"school year end to end: {w.ticks} ticks, {len(tg.sent())} messages sent, {elapsed:.1f}s")
