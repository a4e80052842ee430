"""The school calendar and deadline arithmetic: when a plan item is due, when to remind, and when a
message nobody waits for may be sent (working hours, quiet hours, holidays, quarters).

Pure code, no I/O and no clock: callers pass "now" in; `SchoolCalendar` is the one calendar every
capability asks (built from school.toml by `SchoolConfig.calendar`). Deadlines are
expected to be already moved to the running school year (``bot.services.plan.shift_plan``).
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.plan import Deadline

__all__ = [
    "Occurrence",
    "Quarter",
    "SchoolCalendar",
    "deadline_words",
    "next_allowed_time",
    "occurrences",
    "overdue_moments",
    "reminder_moments",
]


@dataclass(frozen=True)
class Quarter:
    number: int
    start: date
    end: date


@dataclass(frozen=True)
class Occurrence:
    """One time an item falls due. ``key`` is stable and unique among one item's occurrences, so
    storage can record "reminded / done" per (item, key) and a restart never repeats a nudge."""

    key: str
    due: date | None
    starts: date | None


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _year_of_month(school_year: int, month: int) -> int:
    # A school year runs September..August: September-December belong to school_year itself,
    # January-August to the next calendar year.
    return school_year if month >= 9 else school_year + 1


def occurrences(deadline: Deadline, *, school_year: int, quarters: Sequence[Quarter]) -> list[Occurrence]:
    """The dated occurrences of a deadline in the given school year.

    Kinds without a date to chase return []: "whole_period" is monitored rather than nagged,
    "per_event" items are driven by the events (meetings, trainings) themselves, "unset" has none.
    "from_date" yields one occurrence that starts on its date and has no due date: the work begins
    then and is reminded once, not nagged afterwards.
    """
    kind = deadline.kind
    if kind == "date":
        if deadline.date is None:
            raise ValueError("deadline of kind 'date' has no date")
        return [Occurrence(key=deadline.date.isoformat(), due=deadline.date, starts=None)]
    if kind == "month":
        if deadline.year is None or deadline.month is None:
            raise ValueError("deadline of kind 'month' needs year and month")
        due = _last_day(deadline.year, deadline.month)
        return [Occurrence(key=due.isoformat(), due=due, starts=None)]
    if kind == "from_date":
        if deadline.date is None:
            raise ValueError("deadline of kind 'from_date' has no date")
        return [Occurrence(key=f"from-{deadline.date.isoformat()}", due=None, starts=deadline.date)]
    if kind == "each_quarter":
        numbers = [q.number for q in quarters]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"quarter numbers repeat: {numbers}")
        return [
            Occurrence(key=f"q{q.number}-{school_year}", due=q.end, starts=q.start)
            for q in sorted(quarters, key=lambda q: q.end)
        ]
    if kind == "yearly_month":
        if deadline.month is None:
            raise ValueError("deadline of kind 'yearly_month' has no month")
        due = _last_day(_year_of_month(school_year, deadline.month), deadline.month)
        return [Occurrence(key=f"year-{school_year}", due=due, starts=None)]
    if kind in ("whole_period", "per_event", "unset"):
        return []
    raise ValueError(f"unknown deadline kind {kind!r}")


_RU_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
_RU_PREPOSITIONAL = (
    "январе", "феврале", "марте", "апреле", "мае", "июне",
    "июле", "августе", "сентябре", "октябре", "ноябре", "декабре",
)  # fmt: skip
# Spelled out rather than calendar.month_name, which follows the process locale.
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

_WORDS: dict[str, dict[str, str]] = {
    "ru": {
        "by": "до {d}",
        "from": "с {d}",
        "whole_period": "весь период",
        "each_quarter": "каждую четверть",
        "yearly_month": "ежегодно в {m}",
        "per_event": "по плану мероприятий",
        "unset": "срок не задан",
    },
    "en": {
        "by": "by {d}",
        "from": "from {d}",
        "whole_period": "whole period",
        "each_quarter": "every quarter",
        "yearly_month": "every {m}",
        "per_event": "per event",
        "unset": "no deadline set",
    },
}


def _lang(lang: str) -> str:
    # Russian is the bot's default; anything that is not English is spoken to in Russian.
    return "en" if lang.lower().startswith("en") else "ru"


def _day_words(day: date, lang: str) -> str:
    month = _EN_MONTHS[day.month - 1] if lang == "en" else _RU_GENITIVE[day.month - 1]
    return f"{day.day} {month} {day.year}"


def deadline_words(deadline: Deadline, occurrence: Occurrence | None, lang: str) -> str:
    """Human words for a deadline, e.g. "до 31 мая 2027" / "by 31 May 2027".

    With an occurrence of a recurring kind the concrete due date is appended
    ("каждую четверть, до 25 октября 2026") so a reminder says what is due now.
    """
    lang = _lang(lang)
    words = _WORDS[lang]
    kind = deadline.kind
    due = occurrence.due if occurrence is not None else None
    if kind == "date":
        day = due or deadline.date
        return words["by"].format(d=_day_words(day, lang)) if day else words["unset"]
    if kind == "month":
        if due is None and deadline.year is not None and deadline.month is not None:
            due = _last_day(deadline.year, deadline.month)
        return words["by"].format(d=_day_words(due, lang)) if due else words["unset"]
    if kind == "from_date":
        start = (occurrence.starts if occurrence is not None else None) or deadline.date
        return words["from"].format(d=_day_words(start, lang)) if start else words["unset"]
    if kind in ("each_quarter", "yearly_month"):
        if kind == "yearly_month" and deadline.month is not None:
            names = _EN_MONTHS if lang == "en" else _RU_PREPOSITIONAL
            text = words["yearly_month"].format(m=names[deadline.month - 1])
        else:
            text = words["each_quarter"]
        if due is not None:
            text = f"{text}, {words['by'].format(d=_day_words(due, lang))}"
        return text
    if kind in ("whole_period", "per_event"):
        return words[kind]
    return words["unset"]


def reminder_moments(due: date, *, before_days: Sequence[int] = (7, 1)) -> list[tuple[str, date]]:
    """Reminder kinds and dates for a due date, earliest first: ("before7", due-7), ("before1",
    due-1), ("due", due). The kind string doubles as a dedupe key suffix."""
    days = sorted(set(before_days), reverse=True)
    if any(d <= 0 for d in days):
        raise ValueError(f"before_days must be positive, got {tuple(before_days)}")
    moments = [(f"before{d}", due - timedelta(days=d)) for d in days]
    moments.append(("due", due))
    return moments


def overdue_moments(due: date, until: date) -> list[date]:
    """Weekly overdue nudges after the due date (due+7, due+14, ...) up to and including until."""
    moments: list[date] = []
    day = due + timedelta(days=7)
    while day <= until:
        moments.append(day)
        day += timedelta(days=7)
    return moments


_DAY_END = time.max  # stands for 24:00 as an exclusive interval end
_MAX_DAYS_AHEAD = 800


def _allowed_intervals(
    work_start: time, work_end: time, quiet_start: time, quiet_end: time
) -> list[tuple[time, time]]:
    """Half-open [a, b) local-time intervals of a working day that are outside quiet hours."""
    if quiet_start == quiet_end:
        open_parts = [(time.min, _DAY_END)]
    elif quiet_start < quiet_end:
        open_parts = [(time.min, quiet_start), (quiet_end, _DAY_END)]
    else:  # quiet hours wrap midnight, e.g. 21:00-08:00
        open_parts = [(quiet_end, quiet_start)]
    result = []
    for a, b in open_parts:
        lo, hi = max(a, work_start), min(b, work_end)
        if lo < hi:
            result.append((lo, hi))
    return result


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    """Whether a naive wall-clock time exists in tz (it does not inside a spring-forward gap)."""
    aware = local.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def next_allowed_time(
    moment: datetime,
    *,
    tz: ZoneInfo,
    work_start: time,
    work_end: time,
    working_days: set[int],
    quiet_start: time,
    quiet_end: time,
    holidays: Collection[date] = (),
) -> datetime:
    """The earliest instant >= moment that is within working hours [work_start, work_end) of a
    working day (0=Monday) that is not a holiday, and outside quiet hours [quiet_start, quiet_end)
    (which may wrap midnight; equal start and end mean no quiet hours). All wall-clock rules are
    taken in tz; moment must be aware and the result is aware UTC.

    DST: a wall-clock time skipped by a spring-forward gap is replaced by the first existing time
    after it; in a repeated fall-back hour the earliest instance not before moment is chosen.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be an aware datetime")
    if work_start >= work_end:
        raise ValueError(f"work_start {work_start} must be before work_end {work_end}")
    bad_days = sorted(d for d in working_days if not 0 <= d <= 6)
    if bad_days:
        raise ValueError(f"working days must be 0..6 (0=Monday), got {bad_days}")
    intervals = _allowed_intervals(work_start, work_end, quiet_start, quiet_end)
    if not working_days or not intervals:
        raise ValueError("no allowed sending time: working hours lie entirely within quiet hours")

    moment_utc = moment.astimezone(UTC)
    local_now = moment_utc.astimezone(tz).replace(tzinfo=None)
    holiday_set = set(holidays)
    for offset in range(_MAX_DAYS_AHEAD):
        day = local_now.date() + timedelta(days=offset)
        if day.weekday() not in working_days or day in holiday_set:
            continue
        for a, b in intervals:
            start = datetime.combine(day, a)
            end = (
                datetime.combine(day, b)
                if b != _DAY_END
                else datetime.combine(day + timedelta(days=1), time.min)
            )
            candidate = max(start, local_now)
            found = _first_instant(candidate, end, tz, moment_utc)
            if found is not None:
                return found
    raise ValueError(f"no allowed sending time within {_MAX_DAYS_AHEAD} days (holidays cover them all?)")


def _first_instant(candidate: datetime, end: datetime, tz: ZoneInfo, not_before: datetime) -> datetime | None:
    """The earliest aware UTC instant >= not_before whose wall time in tz lies in [candidate, end)."""
    # Step over a spring-forward gap minute by minute: transitions fall on whole minutes and gaps
    # last at most a day, so this is short and exact.
    step = candidate
    while step < end and not _exists(step, tz):
        step = (step + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if step >= end:
        return None
    # In a repeated fall-back hour fold=0 is the first instance; fold=1 of a wall time not before
    # the moment's own wall time is never before the moment, so one of the two always qualifies.
    for fold in (0, 1):
        instant = step.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant >= not_before:
            return instant
    return None  # pragma: no cover - unreachable, see above


@dataclass(frozen=True)
class SchoolCalendar:
    """The school's time: its zone, working days and hours, quiet hours, holidays and quarters."""

    tz: ZoneInfo
    work_start: time
    work_end: time
    working_days: frozenset[int]  # 0=Monday
    quiet_start: time
    quiet_end: time
    holidays: tuple[date, ...]
    year: int
    quarters: tuple[Quarter, ...]

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day` (n >= 1): a deadline "in n working days" of the school."""
        found = 0
        while found < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                found += 1
        return day

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Hours of the school's working time (working days, work_start..work_end, school time zone)
        between two moments: how long a question has waited, as the school counts it."""
        if end <= start:
            return 0.0
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = 0.0
        day = local_start.date()
        while day <= local_end.date():
            if self.is_working_day(day):
                open_at = datetime.combine(day, self.work_start, tzinfo=self.tz)
                close_at = datetime.combine(day, self.work_end, tzinfo=self.tz)
                lo, hi = max(open_at, local_start), min(close_at, local_end)
                if hi > lo:
                    total += (hi - lo).total_seconds() / 3600
            day += timedelta(days=1)
        return total

    def send_window(self, moment: datetime) -> datetime:
        """When a message nobody is waiting for may go out: the first instant >= moment inside
        working hours on a working day, outside quiet hours and holidays (school time zone)."""
        return next_allowed_time(
            moment, tz=self.tz, work_start=self.work_start, work_end=self.work_end,
            working_days=set(self.working_days), quiet_start=self.quiet_start, quiet_end=self.quiet_end,
            holidays=self.holidays,
        )

    def _quiet(self, local: datetime) -> bool:
        start, end, now = self.quiet_start, self.quiet_end, local.time()
        if start == end:
            return False
        if start < end:
            return start <= now < end
        return now >= start or now < end

    def in_quiet_hours(self, moment: datetime) -> bool:
        return self._quiet(moment.astimezone(self.tz))

    def outside_quiet_hours(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls into."""
        local = moment.astimezone(self.tz)
        if not self._quiet(local):
            return moment
        end = self.quiet_end
        day = local.date() if local.time() < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=self.tz).astimezone(UTC)

    def latest_allowed_before(self, moment: datetime) -> datetime:
        """`moment`, or the last minute before the quiet hours it falls into began."""
        local = moment.astimezone(self.tz)
        if not self._quiet(local):
            return moment
        start = self.quiet_start
        day = local.date() if local.time() >= start else local.date() - timedelta(days=1)
        return (datetime.combine(day, start, tzinfo=self.tz) - timedelta(minutes=1)).astimezone(UTC)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def day_start(self, day: date) -> datetime:
        """The start of working hours on `day` (school time zone)."""
        return datetime.combine(day, self.work_start, tzinfo=self.tz)

    def current_quarter(self, today: date) -> Quarter | None:
        """The quarter `today` falls in, or the next one to come (holidays between quarters)."""
        for q in self.quarters:
            if today <= q.end:
                return q
        return None
