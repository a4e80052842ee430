"""Reminders across restarts and downtime, and the `schoolbot reminders --dry-run` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.app import App
from bot.capabilities import CAPABILITIES
from bot.channels import Channel
from bot.cli import build_parser
from bot.clock import ManualClock
from bot.modpath import resolve
from bot.services import reminders
from scheduler.base import ManualScheduler
from storage.timefmt import from_db
from tests.harness import DEFAULT_START, DIRECTOR, IT_OFFICER, make_settings, pooled_app
from tests.test_tasks import local, outbox, seed


async def _open(tmp_path: Path) -> App:
    app = pooled_app(make_settings(tmp_path), clock=ManualClock(DEFAULT_START), scheduler=ManualScheduler())
    await app.open()
    return app


def _keys(rows: list[Any]) -> list[str]:
    return sorted(row["dedupe_key"] for row in rows)


async def test_sweep_is_registered() -> None:
    assert "tasks" in [spec.name for capability in CAPABILITIES for spec in capability.sweeps]


async def logged(app: App) -> list[str]:
    """The reminder log as "task:<item>:<occurrence>:<person>:<kind>" keys, sorted."""
    rows = await app.db.fetchall("SELECT item_number, occurrence_key, person_id, kind FROM task_reminders")
    return sorted(f"task:{r[0]}:{r[1]}:{r[2]}:{r[3]}" for r in rows)


async def test_restart_in_a_reminder_window_sends_each_reminder_once(tmp_path: Path) -> None:
    # Monday 26 October 2026: item 3 "7 days before" (Saturday's, postponed) for the director and
    # item 16's first quarter "due" (Saturday's) for the IT officer, with the first Monday digest:
    # one message each, grouping both.
    app = await _open(tmp_path)
    try:
        await seed(app)
        await app.services.reminders.sweep(local(app, "2026-10-26 08:30"))
        assert await outbox(app, "plan:") == []  # before work starts: nothing yet
        await app.services.reminders.sweep(local(app, "2026-10-26 09:00"))
        first = _keys(await outbox(app, "plan:"))
        first_log = await logged(app)
    finally:
        await app.close()
    assert len(first) == 2 and len(first_log) == 2

    app = await _open(tmp_path)  # the same database, a new process
    try:
        for moment in ("2026-10-26 09:00", "2026-10-26 09:01", "2026-10-26 13:00", "2026-10-27 09:00"):
            await app.services.reminders.sweep(local(app, moment))
        rows = await outbox(app, "plan:")
        assert _keys(rows) == first and await logged(app) == first_log
        assert {row["chat_id"] for row in rows} == {DIRECTOR, IT_OFFICER}
        officer = next(r for r in rows if r["chat_id"] == IT_OFFICER)
        # The quarter's due day has passed (Saturday): the message says so, once, not "today".
        assert "Пункт 16 · I четверть" in officer["payload"] and "срок прошёл" in officer["payload"]
        assert "ответственному по информатизации" not in officer["payload"]  # never "contact yourself"
        director = next(r for r in rows if r["chat_id"] == DIRECTOR)
        assert "через неделю" in director["payload"] and "Сводка за неделю" in director["payload"]
        # The weekly digest names colleagues: a message carrying it goes out as personal data (#22).
        assert director["data_class"] == "personal"
    finally:
        await app.close()


async def test_restart_before_the_window_then_resume(tmp_path: Path) -> None:
    app = await _open(tmp_path)
    try:
        await seed(app)
        await app.services.reminders.sweep(local(app, "2026-10-23 17:30"))  # Friday
        before = await logged(app)
    finally:
        await app.close()
    app = await _open(tmp_path)
    try:
        await app.services.reminders.sweep(local(app, "2026-10-26 11:15"))
        await app.services.reminders.sweep(local(app, "2026-10-26 11:16"))
        new = [k for k in await logged(app) if k not in before]
        assert new == sorted(
            [f"task:16:q1-2026:{_id}:due" for _id in [await _pid(app, IT_OFFICER)]]
            + [f"task:3:2026-10-31:{await _pid(app, DIRECTOR)}:before7"]
        )
        days = [k.rsplit(":", 1)[1] for k in _keys(await outbox(app, "plan:"))]
        assert sorted(days) == ["2026-10-23", "2026-10-26", "2026-10-26"]
    finally:
        await app.close()


async def _pid(app: App, tg: int) -> int:
    person = await app.people.by_account(Channel.TELEGRAM, tg)
    assert person is not None
    return person.id


async def test_after_downtime_overdue_tasks_go_into_the_digest_at_an_allowed_time(tmp_path: Path) -> None:
    app = await _open(tmp_path)
    try:
        await seed(app)
        await app.services.reminders.sweep(local(app, "2026-10-20 10:00"))  # Q1 "7 days before" went out
        sent_before = set(_keys(await outbox(app, "plan:")))
        log_before = await logged(app)
        # Down from 20 October until Tuesday 10 November, back at 22:00 (quiet hours): nothing is
        # composed before the next sending moment, Wednesday's start of work.
        await app.services.reminders.sweep(local(app, "2026-11-10 22:00"))
        assert set(_keys(await outbox(app, "plan:"))) == sent_before
        await app.services.reminders.sweep(local(app, "2026-11-11 09:00"))
        rows = [r for r in await outbox(app, "plan:") if r["dedupe_key"] not in sent_before]
        # No reminder of its own for an overdue task: this week's digest lists them.
        assert await logged(app) == log_before
        assert {r["chat_id"] for r in rows} == {DIRECTOR, IT_OFFICER}
        for row in rows:
            assert from_db(row["next_attempt_at"]) == local(app, "2026-11-11 09:00")
            assert "Пункт 3" in row["payload"] and "Пункт 16 · I четверть" in row["payload"]
            # Buttons acting on an item name it: no two alike, each snooze says which item it moves.
            labels = [b["text"] for line in json.loads(row["payload"])["reply_markup"]["inline_keyboard"] for b in line]
            assert len(labels) == len(set(labels)), labels
            snoozes = [label for label in labels if label.startswith("⏰")]
            assert snoozes and all(label.startswith("⏰ Завтра: Пункт ") for label in snoozes), labels
        # Nothing is repeated later that day or the next morning.
        await app.services.reminders.sweep(local(app, "2026-11-11 15:00"))
        await app.services.reminders.sweep(local(app, "2026-11-12 09:00"))
        assert len([r for r in await outbox(app, "plan:") if r["dedupe_key"] not in sent_before]) == 2
    finally:
        await app.close()


async def test_dry_run_prints_and_writes_nothing(tmp_path: Path, capsys: Any) -> None:
    app = await _open(tmp_path)
    try:
        await seed(app)
        args = argparse.Namespace(dry_run=True, at="2027-05-24 09:00")
        assert await app.services.reminders.cmd_reminders(args, app.catalog.bind("ru")) == 0
        out = capsys.readouterr().out
        assert "На 24.05.2027 09:00" in out and "будет отправлено" in out
        assert "before7" in out and "пункт 18" in out and "Петров Пётр Петрович" in out
        assert "сводка 2027-W21" in out
        assert await outbox(app, "plan:") == []
        assert await app.db.fetchval("SELECT count(*) FROM task_reminders") == 0
        bad = argparse.Namespace(dry_run=True, at="24.05.2027")
        assert await app.services.reminders.cmd_reminders(bad, app.catalog.bind("ru")) == 2
    finally:
        await app.close()


def test_cli_parses_reminders_command() -> None:

    args = build_parser().parse_args(["reminders", "--dry-run", "--at", "2027-05-20 09:00"])
    assert resolve(args.run) is reminders.Reminders.cmd_reminders
    assert args.dry_run and args.at == "2027-05-20 09:00"


async def test_start_announcement_is_not_sent_when_stale(tmp_path: Path) -> None:
    app = await _open(tmp_path)
    try:
        await seed(app)
        # Item 15 starts on Monday 1 February 2027; the bot was down until 1 March.
        await app.services.reminders.sweep(local(app, "2027-03-01 10:00"))
        assert not [r for r in await outbox(app) if r["dedupe_key"].startswith("task:15:")]
        plan = await app.services.reminders.plan_at(local(app, "2027-02-05 10:00"))  # within a week: still sent
        assert {r.kind for r in plan.reminders if r.task.item.number == "15"} == {"start"}
    finally:
        await app.close()
