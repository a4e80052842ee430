"""Quarterly journal backup nudges (plan item 16), their escalation, and the end-of-year reminder
(item 19), moved through time with the ManualClock and app.tick()."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.services import backup as backup_service
from bot.services.status import quarters
from scheduler import ops_sweep
from tests.conftest_status import populate
from tests.harness import Harness

MSK = ZoneInfo("Europe/Moscow")


async def _ops_rows(h: Harness) -> list[tuple[str, int, str]]:
    rows = await h.app.db.fetchall(
        "SELECT dedupe_key, chat_id, payload FROM outbox WHERE dedupe_key LIKE 'ops:%' ORDER BY id"
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def _at(h: Harness, *moment: int) -> list[str]:
    h.clock.set(datetime(*moment, tzinfo=MSK))  # type: ignore[misc]
    await h.app.tick()
    return [key for key, _, _ in await _ops_rows(h)]


async def test_quarter_nudges_and_escalation_fire_at_the_right_moments(harness: Harness) -> None:
    ids = await populate(harness)
    officer = ids["Петров Пётр Петрович"]
    director = ids["Сидорова Анна Ивановна"]
    assert await _at(harness, 2026, 12, 13, 12, 0) == []  # Sunday, 15 days before the end
    assert await _at(harness, 2026, 12, 14, 8, 59) == []  # two weeks before, not yet working hours
    keys = await _at(harness, 2026, 12, 14, 9, 0)
    assert keys == [f"ops:journal:2026:q2:before14:{officer}"]
    assert await _at(harness, 2026, 12, 14, 9, 1) == keys  # deduped
    [(_, chat_id, payload)] = await _ops_rows(harness)
    body = json.loads(payload)
    assert chat_id == 1001 and "Через две недели, 28.12.2026" in body["text"]
    assert body["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "jbk:2026:2"

    keys = await _at(harness, 2026, 12, 25, 10, 0)
    assert keys[-1] == f"ops:journal:2026:q2:before3:{officer}"
    keys = await _at(harness, 2026, 12, 28, 17, 59)
    assert keys[-1] == f"ops:journal:2026:q2:due:{officer}"
    assert len(keys) == 3
    assert await _at(harness, 2026, 12, 28, 23, 0) == keys  # after the end of the day: nothing new
    keys = await _at(harness, 2026, 12, 29, 9, 0)  # the next working day after the quarter
    assert keys[-1] == f"ops:journal:2026:q2:escalate:{director}"
    _, chat_id, payload = (await _ops_rows(harness))[-1]
    assert chat_id == 1002
    assert "2 четверть закончилась 28.12.2026" in json.loads(payload)["text"]
    assert "Петров Пётр Петрович" in json.loads(payload)["text"]
    assert await _at(harness, 2026, 12, 30, 9, 0) == keys


async def test_a_logged_backup_stops_nudges_and_escalation(harness: Harness) -> None:
    ids = await populate(harness)
    officer = ids["Петров Пётр Петрович"]
    assert await _at(harness, 2026, 12, 14, 10, 0) == [f"ops:journal:2026:q2:before14:{officer}"]
    # The IT officer presses "Done" and names the medium.
    await harness.press(1001, backup_service.journal_done_data(2026, 2))
    await harness.text(1001, "Внешний диск WD-1")
    for moment in ((2026, 12, 25, 10, 0), (2026, 12, 28, 10, 0), (2026, 12, 29, 10, 0)):
        assert len(await _at(harness, *moment)) == 1


async def test_moments_on_weekends_move_to_the_working_day_before(harness: Harness) -> None:
    app = harness.app
    q1 = quarters(app)[0]
    assert q1.end == date(2026, 10, 24)  # a Saturday
    assert ops_sweep.journal_nudge_kind(app, q1, date(2026, 10, 8)) is None
    # 14 days before is Saturday 10 October: the nudge moves to Friday.
    assert ops_sweep.journal_nudge_kind(app, q1, date(2026, 10, 9)) == "before14"
    assert ops_sweep.journal_nudge_kind(app, q1, date(2026, 10, 20)) == "before14"
    assert ops_sweep.journal_nudge_kind(app, q1, date(2026, 10, 21)) == "before3"
    assert ops_sweep.journal_nudge_kind(app, q1, date(2026, 10, 23)) == "due"  # Friday before the Saturday end
    assert ops_sweep.journal_nudge_kind(app, q1, date(2026, 10, 25)) is None


async def test_year_end_reminder_goes_out_once_in_may(harness: Harness) -> None:
    ids = await populate(harness)
    teacher = ids["Кузнецова Ольга Николаевна"]
    officer = ids["Петров Пётр Петрович"]
    assert ops_sweep.year_end_day(harness.app) == date(2027, 5, 20)
    before = [k for k in await _at(harness, 2027, 5, 19, 10, 0) if "yearend" in k]
    assert before == []
    keys = [k for k in await _at(harness, 2027, 5, 20, 9, 30) if "yearend" in k]
    assert keys == [
        f"ops:yearend:2026:{teacher}",
        f"ops:yearend:2026:{officer}",
        f"ops:yearend:2026:{officer}:register",
    ]
    assert [k for k in await _at(harness, 2027, 5, 21, 9, 30) if "yearend" in k] == keys
    rows = {key: json.loads(payload) for key, _, payload in await _ops_rows(harness)}
    assert "прошнуруйте" in rows[f"ops:yearend:2026:{teacher}"]["text"]
    register = rows[f"ops:yearend:2026:{officer}:register"]
    data, name = await harness.app.renderers[register["renderer"]](harness.app, register["args"])
    assert data.startswith(b"%PDF") and name.endswith(".pdf")
