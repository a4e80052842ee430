from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.domain.calendar import (
    Occurrence,
    Quarter,
    deadline_words,
    next_allowed_time,
    occurrences,
    overdue_moments,
    reminder_moments,
)
from bot.domain.plan import Deadline
from bot.services.plan import PLAN_PATH, load_plan, shift_plan

QUARTERS = (
    Quarter(1, date(2026, 9, 1), date(2026, 10, 24)),
    Quarter(2, date(2026, 11, 5), date(2026, 12, 28)),
    Quarter(3, date(2027, 1, 12), date(2027, 3, 20)),
    Quarter(4, date(2027, 4, 1), date(2027, 5, 26)),
)


def dl(kind: str, *, day: date | None = None, year: int | None = None, month: int | None = None) -> Deadline:
    return Deadline(kind, day, year, month, "src")


def occ(deadline: Deadline) -> list[Occurrence]:
    return occurrences(deadline, school_year=2026, quarters=QUARTERS)


# --- occurrences ----------------------------------------------------------------------------------


def test_occurrences_date() -> None:
    assert occ(dl("date", day=date(2027, 5, 31))) == [Occurrence("2027-05-31", date(2027, 5, 31), None)]


@pytest.mark.parametrize(
    ("year", "month", "due"),
    [(2026, 10, date(2026, 10, 31)), (2027, 2, date(2027, 2, 28)), (2028, 2, date(2028, 2, 29))],
)
def test_occurrences_month_due_last_day(year: int, month: int, due: date) -> None:
    assert occ(dl("month", year=year, month=month)) == [Occurrence(due.isoformat(), due, None)]


def test_occurrences_from_date_starts_without_due() -> None:
    assert occ(dl("from_date", day=date(2027, 2, 1))) == [
        Occurrence("from-2027-02-01", None, date(2027, 2, 1))
    ]


def test_occurrences_each_quarter() -> None:
    result = occ(dl("each_quarter"))
    assert [o.key for o in result] == ["q1-2026", "q2-2026", "q3-2026", "q4-2026"]
    assert [o.due for o in result] == [q.end for q in QUARTERS]
    assert [o.starts for o in result] == [q.start for q in QUARTERS]
    # Order of the input does not matter; keys are per school year.
    shuffled = occurrences(dl("each_quarter"), school_year=2027, quarters=list(reversed(QUARTERS)))
    assert [o.key for o in shuffled] == ["q1-2027", "q2-2027", "q3-2027", "q4-2027"]
    assert occurrences(dl("each_quarter"), school_year=2026, quarters=()) == []
    with pytest.raises(ValueError, match="repeat"):
        occurrences(dl("each_quarter"), school_year=2026, quarters=(QUARTERS[0], QUARTERS[0]))


def test_occurrences_yearly_month_inside_school_year() -> None:
    assert occ(dl("yearly_month", month=5)) == [Occurrence("year-2026", date(2027, 5, 31), None)]
    assert occ(dl("yearly_month", month=12)) == [Occurrence("year-2026", date(2026, 12, 31), None)]
    assert occurrences(dl("yearly_month", month=5), school_year=2027, quarters=QUARTERS)[0].key == "year-2027"


@pytest.mark.parametrize("kind", ["whole_period", "per_event", "unset"])
def test_occurrences_not_nagged(kind: str) -> None:
    assert occ(dl(kind)) == []


def test_occurrences_reject_incomplete_or_unknown() -> None:
    with pytest.raises(ValueError, match="date"):
        occ(dl("date"))
    with pytest.raises(ValueError, match="unknown"):
        occ(dl("someday"))


def test_occurrences_of_the_shipped_plan() -> None:
    plan = shift_plan(load_plan(PLAN_PATH), 2026)
    dues = {item.number: [o.due for o in occ(item.deadline)] for item in plan.items}
    assert dues["3"] == [date(2026, 10, 31)]
    assert dues["8"] == [date(2027, 5, 31)]
    assert dues["11"] == [date(2027, 1, 31)]
    assert dues["15"] == [None]
    assert dues["16"] == [q.end for q in QUARTERS]
    assert dues["18"] == [date(2027, 5, 31)]
    assert dues["19"] == [date(2027, 5, 31)]
    assert dues["14"] == dues["17"] == dues["4"] == []
    for item in plan.items:
        keys = [o.key for o in occ(item.deadline)]
        assert len(keys) == len(set(keys))


# --- words ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "ru", "en"),
    [
        (dl("date", day=date(2027, 5, 31)), "до 31 мая 2027", "by 31 May 2027"),
        (dl("month", year=2026, month=10), "до 31 октября 2026", "by 31 October 2026"),
        (dl("whole_period"), "весь период", "whole period"),
        (dl("each_quarter"), "каждую четверть", "every quarter"),
        (dl("from_date", day=date(2027, 2, 1)), "с 1 февраля 2027", "from 1 February 2027"),
        (dl("yearly_month", month=5), "ежегодно в мае", "every May"),
        (dl("per_event"), "по плану мероприятий", "per event"),
        (dl("unset"), "срок не задан", "no deadline set"),
    ],
)
def test_deadline_words_without_occurrence(deadline: Deadline, ru: str, en: str) -> None:
    assert deadline_words(deadline, None, "ru") == ru
    assert deadline_words(deadline, None, "en") == en


def test_deadline_words_with_occurrence() -> None:
    quarter = occ(dl("each_quarter"))[0]
    assert deadline_words(dl("each_quarter"), quarter, "ru") == "каждую четверть, до 24 октября 2026"
    assert deadline_words(dl("each_quarter"), quarter, "en") == "every quarter, by 24 October 2026"
    may = occ(dl("yearly_month", month=5))[0]
    assert deadline_words(dl("yearly_month", month=5), may, "ru") == "ежегодно в мае, до 31 мая 2027"
    assert deadline_words(dl("yearly_month", month=5), may, "en") == "every May, by 31 May 2027"
    month = dl("month", year=2027, month=1)
    assert deadline_words(month, occ(month)[0], "ru") == "до 31 января 2027"
    start = dl("from_date", day=date(2027, 2, 1))
    assert deadline_words(start, occ(start)[0], "en") == "from 1 February 2027"


def test_deadline_words_month_names_and_language_fallback() -> None:
    genitive = [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ]
    for number, name in enumerate(genitive, start=1):
        assert deadline_words(dl("date", day=date(2027, number, 1)), None, "ru") == f"до 1 {name} 2027"
    assert deadline_words(dl("unset"), None, "de") == "срок не задан"  # Russian is the default
    assert deadline_words(dl("unset"), None, "en-GB") == "no deadline set"


# --- reminders ------------------------------------------------------------------------------------


def test_reminder_moments() -> None:
    due = date(2027, 5, 31)
    assert reminder_moments(due) == [
        ("before7", date(2027, 5, 24)),
        ("before1", date(2027, 5, 30)),
        ("due", due),
    ]
    assert reminder_moments(due, before_days=(1, 3)) == [
        ("before3", date(2027, 5, 28)),
        ("before1", date(2027, 5, 30)),
        ("due", due),
    ]
    assert reminder_moments(due, before_days=()) == [("due", due)]
    with pytest.raises(ValueError, match="positive"):
        reminder_moments(due, before_days=(0,))


def test_overdue_moments_weekly() -> None:
    due = date(2027, 5, 31)
    assert overdue_moments(due, date(2027, 6, 6)) == []
    assert overdue_moments(due, date(2027, 6, 7)) == [date(2027, 6, 7)]
    assert overdue_moments(due, date(2027, 6, 30)) == [
        date(2027, 6, 7),
        date(2027, 6, 14),
        date(2027, 6, 21),
        date(2027, 6, 28),
    ]
    assert overdue_moments(due, date(2027, 5, 1)) == []


# --- next_allowed_time ----------------------------------------------------------------------------

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = {0, 1, 2, 3, 4}


def allowed(moment: datetime, tz: ZoneInfo = MSK, /, **overrides: object) -> datetime:
    params: dict[str, object] = {
        "tz": tz,
        "work_start": time(8, 0),
        "work_end": time(20, 0),
        "working_days": WEEKDAYS,
        "quiet_start": time(21, 0),
        "quiet_end": time(8, 0),
    }
    params.update(overrides)
    return next_allowed_time(moment, **params)  # type: ignore[arg-type]


def local(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold).astimezone(UTC)  # type: ignore[arg-type,misc]


def test_moscow_07_59_vs_08_00() -> None:
    # 2026-10-05 is a Monday. Moscow is UTC+3 all year.
    assert allowed(local(MSK, 2026, 10, 5, 7, 59)) == datetime(2026, 10, 5, 5, 0, tzinfo=UTC)
    at_eight = local(MSK, 2026, 10, 5, 8, 0)
    assert allowed(at_eight) == at_eight
    result = allowed(local(MSK, 2026, 10, 5, 12, 34, 56))
    assert result == datetime(2026, 10, 5, 9, 34, 56, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_moscow_after_work_and_across_weekend() -> None:
    # Friday 20:00 is past working hours -> Monday 08:00.
    assert allowed(local(MSK, 2026, 10, 9, 20, 0)) == local(MSK, 2026, 10, 12, 8, 0)
    assert allowed(local(MSK, 2026, 10, 10, 11, 0)) == local(MSK, 2026, 10, 12, 8, 0)  # Saturday
    assert allowed(local(MSK, 2026, 10, 11, 23, 30)) == local(MSK, 2026, 10, 12, 8, 0)  # Sunday night
    # Monday is a holiday -> Tuesday.
    assert allowed(local(MSK, 2026, 10, 10, 11, 0), holidays={date(2026, 10, 12)}) == local(
        MSK, 2026, 10, 13, 8, 0
    )
    # A UTC moment that is already Monday in Moscow (Sunday 23:30 UTC = Monday 02:30 MSK).
    assert allowed(datetime(2026, 10, 11, 23, 30, tzinfo=UTC)) == local(MSK, 2026, 10, 12, 8, 0)


def test_quiet_hours_wrapping_midnight() -> None:
    wide = {"work_start": time(6, 0), "work_end": time(23, 0)}
    assert allowed(local(MSK, 2026, 10, 5, 21, 30), **wide) == local(MSK, 2026, 10, 6, 8, 0)
    assert allowed(local(MSK, 2026, 10, 5, 6, 30), **wide) == local(MSK, 2026, 10, 5, 8, 0)
    assert allowed(local(MSK, 2026, 10, 5, 20, 59), **wide) == local(MSK, 2026, 10, 5, 20, 59)
    assert allowed(local(MSK, 2026, 10, 5, 21, 0), **wide) == local(MSK, 2026, 10, 6, 8, 0)


def test_quiet_hours_inside_the_day_and_none() -> None:
    lunch = {"quiet_start": time(13, 0), "quiet_end": time(14, 0)}
    assert allowed(local(MSK, 2026, 10, 5, 13, 15), **lunch) == local(MSK, 2026, 10, 5, 14, 0)
    assert allowed(local(MSK, 2026, 10, 5, 12, 59), **lunch) == local(MSK, 2026, 10, 5, 12, 59)
    no_quiet = {
        "quiet_start": time(0, 0),
        "quiet_end": time(0, 0),
        "work_start": time(0, 0),
        "work_end": time(23, 0),
    }
    assert allowed(local(MSK, 2026, 10, 5, 3, 0), **no_quiet) == local(MSK, 2026, 10, 5, 3, 0)


def test_berlin_across_dst_start() -> None:
    # Europe/Berlin goes CET -> CEST on Sunday 2026-03-29 at 02:00 local.
    friday_evening = local(BERLIN, 2026, 3, 27, 20, 30)  # CET, after work
    assert allowed(friday_evening, BERLIN) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # Monday 08:00 CEST
    assert allowed(local(BERLIN, 2026, 3, 23, 7, 0), BERLIN) == datetime(
        2026, 3, 23, 7, 0, tzinfo=UTC
    )  # 08:00 CET


def test_berlin_nonexistent_wall_time_moves_to_end_of_gap() -> None:
    every_day = {"working_days": set(range(7)), "quiet_start": time(0), "quiet_end": time(0)}
    # 02:30 does not exist on 2026-03-29: the first existing time after it is 03:00 CEST = 01:00 UTC.
    result = allowed(
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        BERLIN,
        work_start=time(2, 30),
        work_end=time(5, 0),
        **every_day,
    )
    assert result == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # If the whole window falls into the gap, the next day is used.
    result = allowed(
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        BERLIN,
        work_start=time(2, 10),
        work_end=time(2, 50),
        **every_day,
    )
    assert result == local(BERLIN, 2026, 3, 30, 2, 10)


def test_berlin_repeated_hour_at_dst_end() -> None:
    every_day = {"working_days": set(range(7)), "quiet_start": time(0), "quiet_end": time(0)}
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00-03:00 happens twice.
    first = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST, first pass
    assert allowed(first, BERLIN, work_start=time(2, 20), work_end=time(2, 40), **every_day) == datetime(
        2026, 10, 25, 0, 20, tzinfo=UTC
    )
    second = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, second pass
    assert allowed(second, BERLIN, work_start=time(2, 20), work_end=time(2, 40), **every_day) == datetime(
        2026, 10, 25, 1, 20, tzinfo=UTC
    )
    assert allowed(second, BERLIN, work_start=time(2, 0), work_end=time(2, 40), **every_day) == second


def test_next_allowed_time_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="aware"):
        allowed(datetime(2026, 10, 5, 12, 0))
    with pytest.raises(ValueError, match="work_start"):
        allowed(local(MSK, 2026, 10, 5, 12, 0), work_start=time(20), work_end=time(8))
    with pytest.raises(ValueError, match="quiet"):
        allowed(local(MSK, 2026, 10, 5, 12, 0), quiet_start=time(7), quiet_end=time(21))
    with pytest.raises(ValueError, match=r"0\.\.6"):
        allowed(local(MSK, 2026, 10, 5, 12, 0), working_days={7})
