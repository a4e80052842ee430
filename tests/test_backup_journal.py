"""The quarterly journal backup (plan item 16) as a plan task closed by the backup log, and the
end-of-year reminder (item 19), moved through time with the ManualClock and app.tick()."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.services import backup as backup_service
from storage.ops import OpsRepo
from tests.delivery_helpers import TG_CHAT
from tests.harness import Harness
from tests.status_helpers import populate

MSK = ZoneInfo("Europe/Moscow")


async def _ops_rows(h: Harness) -> list[tuple[str, int, str]]:
    rows = await h.app.db.fetchall(
        f"SELECT dedupe_key, {TG_CHAT} AS chat_id, payload FROM outbox WHERE dedupe_key LIKE 'ops:%' ORDER BY id"
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def _at(h: Harness, *moment: int) -> list[str]:
    h.clock.set(datetime(*moment, tzinfo=MSK))  # type: ignore[misc]
    await h.app.tick()
    return [key for key, _, _ in await _ops_rows(h)]


async def _plan_rows(h: Harness) -> list[tuple[str, int, str]]:
    rows = await h.app.db.fetchall(
        f"SELECT dedupe_key, {TG_CHAT} AS chat_id, payload FROM outbox WHERE dedupe_key LIKE 'plan:%' ORDER BY id"
    )
    return [(r[0], r[1], json.loads(r[2])["text"]) for r in rows]


async def test_item_16_is_a_plan_task_and_a_logged_backup_closes_its_quarter(harness: Harness) -> None:
    """The quarterly backup is reminded like any plan task (one message a day at most, labelled by
    its quarter); "Done" on it logs the backup itself, which closes the quarter everywhere."""
    await populate(harness)
    await _at(harness, 2026, 12, 21, 9, 0)  # a week before the quarter's last day, Monday 28 December
    rows = await _plan_rows(harness)
    officer_rows = [r for r in rows if r[1] == 1001]
    assert len(officer_rows) == 1 and "Пункт 16 · II четверть" in officer_rows[0][2]
    assert not [key for key in await _ops_rows(harness) if ":journal:" in key[0]]  # no second nudge
    [(key, _, payload)] = [
        (r[0], r[1], r[2]) for r in await harness.app.db.fetchall(
            f"SELECT dedupe_key, {TG_CHAT} AS chat_id, payload FROM outbox"
            f" WHERE dedupe_key LIKE 'plan:%' AND {TG_CHAT} = 1001"
        )
    ]
    buttons = [b["callback_data"] for row in json.loads(payload)["reply_markup"]["inline_keyboard"] for b in row]
    assert "tsk:done:16:q2-2026" in buttons

    # "Done" on the quarter asks which medium, as the backup log does, and logs it.
    calls = await harness.press(1001, "tsk:done:16:q2-2026")
    assert any("Как подписан носитель" in (getattr(c, "text", "") or "") for c in calls)
    await harness.text(1001, "Внешний диск WD-1")
    [logged] = await OpsRepo(harness.app.db).journal_backups()
    assert logged.quarter == 2 and logged.medium_label == "Внешний диск WD-1"

    # Closed: no reminder of it on its last day, no digest lists it after.
    for moment in ((2026, 12, 28, 9, 0), (2027, 1, 11, 9, 0)):
        await _at(harness, *moment)
    assert not [r for r in await _plan_rows(harness) if "II четверть" in r[2] and r[0] != key]
    snap = await harness.app.services.tasks.snapshot()
    q2 = snap.task("16", "q2-2026")
    assert q2 is not None and snap.accepted(q2) and snap.status(q2, date(2027, 1, 11)) == "accepted"


async def test_a_backup_logged_from_status_also_closes_the_quarter(harness: Harness) -> None:
    await populate(harness)
    harness.clock.set(datetime(2026, 12, 14, 10, 0, tzinfo=MSK))
    await harness.press(1001, backup_service.journal_done_data(2026, 2))
    await harness.text(1001, "Внешний диск WD-1")
    for moment in ((2026, 12, 21, 9, 0), (2026, 12, 28, 9, 0), (2026, 12, 29, 10, 0)):
        await _at(harness, *moment)
    assert not [r for r in await _plan_rows(harness) if "Пункт 16 · II" in r[2]]


async def test_year_end_reminder_goes_out_once_in_may(harness: Harness) -> None:
    ids = await populate(harness)
    teacher = ids["Кузнецова Ольга Николаевна"]
    officer = ids["Петров Пётр Петрович"]
    assert harness.app.services.ops.year_end_day() == date(2027, 5, 20)
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
    data, name = await harness.app.renderers[register["renderer"]](register["args"])
    assert data.startswith(b"%PDF") and name.endswith(".pdf")
