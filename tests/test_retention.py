"""Retention (#24 item 3): `purge` on a year-walk database removes exactly what [retention] says,
the dry run names the same and removes nothing, every purge writes a destruction record, and the
consent ledger still verifies. The daily sweep carries out a withdrawal 30 days after it; backups
past the term are deleted. school.toml's [retention] is validated with clear Russian errors."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main as cli_main
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG, ConfigError, load_school_config
from bot.fakeapi import FakeTelegram
from bot.services import ledger
from bot.services.access_log import CLI, acting_as
from bot.services.imports import ImportOptions
from storage import dialect
from storage.consent import ConsentRepo
from storage.db import INTEGRITY_ERRORS, Database
from storage.retention import RetentionRepo
from tests import year_walk
from tests.codes_helpers import codes_csv
from tests.consent_helpers import buttons, consent_menu, last_with_buttons
from tests.consent_helpers import school as consent_school
from tests.harness import PARENT_ONE, PARENT_TWO, ROSTER_ROWS, Harness, csv_bytes, handler_harness, running_bot
from tests.servers import query_test_database

GRADUATE = year_walk.GRADUATE
MASHA = "Иванова Маша Андреевна"


async def graduate_has_data(w: year_walk.Walk) -> None:
    """The graduate got a code and asked a question during the year (what a purge must find)."""
    rows = [["Пользователь", "Класс", "Тип пользователя", "Код приглашения"],
            [GRADUATE, "11А", "ученик", "ORL8-STU1-H08"]]
    outcome = await w.app.importers["codes"].run(csv_bytes(rows), "codes-11.csv", ImportOptions())
    assert outcome.ok and outcome.applied, outcome.errors
    grad = await _pid(w, GRADUATE)
    person = await w.app.people.get(grad)
    assert person is not None
    await w.app.services.tickets.open_ticket(person, "Как восстановить пароль?")


async def withdraw_masha(w: year_walk.Walk) -> None:
    """Елена withdraws her consent for Маша through the bot."""
    user = w.users[PARENT_TWO]
    n = len(w.tg.sent(PARENT_TWO))
    await user.send("/consent")
    label = "↩️ Отозвать согласие: Маша"
    menu = await w.tg.wait_for(PARENT_TWO, lambda m: any(label in b for row in m.buttons() for b in row), after=n)
    n = len(w.tg.sent(PARENT_TWO))
    await user.press(w.tg.message(PARENT_TWO, menu.message_id), label)
    # The confirmation replaces the menu (an edit of the same message).
    confirm = await w.tg.wait_for(PARENT_TWO, lambda m: any("Да, отозвать" in b for row in m.buttons() for b in row),
                                  after=n - 1)
    n = len(w.tg.sent(PARENT_TWO))
    await user.press(w.tg.message(PARENT_TWO, confirm.message_id), "Да, отозвать")
    await w.tg.wait_for(PARENT_TWO, lambda m: "согласие отозвано" in (m.plain or ""), after=n - 1, timeout=30)
    w.notes["withdrawn_at"] = w.clock.now()


def backup_at(day: date) -> year_walk.Action:
    async def act(w: year_walk.Walk) -> None:
        result = await w.app.services.backup.take_backup(rotate_after=False)
        assert result.ok, result.detail
        w.notes.setdefault("backups", []).append((day, result.path))
    return act


async def _pid(w: year_walk.Walk, name: str) -> int:
    row = await w.app.db.fetchone("SELECT id FROM persons WHERE full_name = ?", (name,))
    assert row is not None, name
    return int(row[0])


async def _dump(db: Database) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of every table, by its primary key (all its columns where a table has none): the
    database as a whole, to diff, read as the bot reads it (either backend)."""
    out = {}
    for table in sorted(await dialect.tables(db.conn)):
        key = await dialect.primary_key(db.conn, table) or await dialect.columns(db.conn, table)
        rows = await db.fetchall(f'SELECT * FROM "{table}"')
        out[table] = {tuple(r[k] for k in key): {k: r[k] for k in r.keys()} for r in rows}  # noqa: SIM118
    return out


def _diff(before: dict[str, dict[Any, dict[str, Any]]], after: dict[str, dict[Any, dict[str, Any]]]) -> dict[
        str, tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]]:
    """table -> (removed rows, added rows, (old, new) changed rows); unchanged tables left out."""
    out = {}
    for table in before.keys() | after.keys():
        b, a = before.get(table, {}), after.get(table, {})
        removed = [b[k] for k in b.keys() - a.keys()]
        added = [a[k] for k in a.keys() - b.keys()]
        changed = [(b[k], a[k]) for k in b.keys() & a.keys() if b[k] != a[k]]
        if removed or added or changed:
            out[table] = (removed, added, changed)
    return out


async def test_purge_on_a_year_walk_removes_exactly_what_the_retention_says(tg: FakeTelegram, tmp_path: Path) -> None:
    clock = ManualClock(datetime.combine(year_walk.START, time(6, 0), tzinfo=UTC))
    extra: dict[date, list[year_walk.Action]] = {
        date(2026, 9, 4): [graduate_has_data],
        date(2026, 10, 1): [backup_at(date(2026, 10, 1))],
        date(2027, 3, 1): [withdraw_masha],
        date(2027, 8, 20): [backup_at(date(2027, 8, 20))],
    }
    async with running_bot(tg, tmp_path, clock=clock) as app:
        year_walk.lift_pace(app, tg)
        w = year_walk.Walk(tg, app, clock)
        await year_walk.run_year(w, extra)
        masha, grad = await _pid(w, MASHA), await _pid(w, GRADUATE)
        repo = RetentionRepo(app.db)

        # The daily sweep carried out the withdrawal 30 days after it, once, as the bot's schedule:
        # Маша's code (delivered to Елена as a card) is gone, the card's payload emptied, her name kept.
        records = await repo.records()
        withdrawal = [r for r in records if r.reason == "withdrawal"]
        assert [(r.person_id, r.channel, r.actor) for r in withdrawal] == [(masha, "system", None)]
        withdrawn_at: datetime = w.notes["withdrawn_at"]
        assert withdrawal[0].at - withdrawn_at >= timedelta(days=30)
        assert withdrawal[0].at - withdrawn_at < timedelta(days=34)  # the first working-day tick after
        assert withdrawal[0].what["codes"] == 1 and int(str(withdrawal[0].what["messages"])) >= 1
        assert await app.db.fetchval("SELECT count(*) FROM codes WHERE person_id = ?", (masha,)) == 0
        assert await app.db.fetchval("SELECT full_name FROM persons WHERE id = ?", (masha,)) == MASHA
        # The October backup passed its 30 days in the year and the sweep deleted it, with a record.
        october = w.notes["backups"][0][1]
        assert not october.exists()
        assert [r.what for r in records if r.reason == "backup"] == [{"file": october.name}]

        # 1 October 2027: the graduate left on 25 August (new-year), 37 days ago.
        clock.set(datetime(2027, 10, 1, 8, 0, tzinfo=UTC))
        svc = app.services.retention
        before = await _dump(app.db)
        plan = await svc.plan(clock.now())
        assert await _dump(app.db) == before  # the dry run writes nothing
        assert [(p.candidate.person_id, p.candidate.reason) for p in plan.people] == [(grad, "left")]
        counts = plan.people[0].counts
        assert counts["codes"] == 1 and counts["tickets"] == 1 and counts["name"] == 1
        august = w.notes["backups"][1][1]
        assert plan.backups == [august]
        t = app.catalog.bind("ru")
        text = svc.describe(plan, t, applied=False)
        assert f"Запись № {grad}, выбыл(а) 25.08.2027" in text and "пригласительные коды: 1" in text
        assert "вопросы: 1" in text and august.name in text and "schoolbot purge --apply" in text
        assert GRADUATE not in text

        with acting_as(CLI):
            assert await svc.cmd_purge(argparse.Namespace(apply=True), t) == 0
        after = await _dump(app.db)
        changes = _diff(before, after)
        # What changed is exactly the graduate's data and the destruction records.
        assert set(changes) <= {"persons", "codes", "code_deliveries", "code_requests", "code_nudges", "tickets",
                                "outbox", "fsm", "link_tokens", "guardians", "destruction_records", "faq_extra",
                                "accounts"}, \
            set(changes)
        removed, added, changed = changes["persons"]
        assert not removed and not added and [old["id"] for old, _ in changed] == [grad]
        _, new = changed[0]
        assert new["full_name"] == f"Запись № {grad} (данные удалены)" and new["roster_key"] == f"purged:{grad}"
        assert new["phone"] is None and new.get("tg_user_id") is None and new.get("max_user_id") is None
        assert new["purged_at"] is not None and new["class_label"] is None
        assert [r["person_id"] for r in changes["codes"][0]] == [grad] and not changes["codes"][2]
        assert [r["asker_id"] for r in changes["tickets"][0]] == [grad]
        for table in ("outbox", "fsm", "link_tokens", "guardians", "code_deliveries", "code_requests", "code_nudges"):
            if table in changes:
                gone, _, edited = changes[table]
                assert all(grad in row.values() or table in ("outbox", "code_deliveries", "code_nudges")
                           for row in gone), table
                if table == "outbox":
                    assert all(old["person_id"] == grad for old, _ in edited)
        new_records = changes["destruction_records"][1]
        assert sorted((r["reason"], r["person_id"], r["channel"]) for r in new_records) == [
            ("backup", None, "cli"), ("left", grad, "cli")]
        left = next(r for r in new_records if r["reason"] == "left")
        assert json.loads(left["what"]) == counts
        assert not august.exists() and w.notes["backups"][1][0] == date(2027, 8, 20)

        # The ledger is untouched and still verifies; nothing is left to purge.
        assert "consent_ledger" not in changes
        verdict = await ledger.check(app.db, ConsentRepo())
        assert verdict.ok and verdict.rows >= 3
        assert (await svc.plan(clock.now())).empty
        assert "Удалять нечего" in svc.describe(await svc.plan(clock.now()), t, applied=False)
        # Destruction records are append-only.
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            async with app.db.transaction() as conn:
                await conn.execute("DELETE FROM destruction_records")


def _school(tmp_path: Path, key: str, value: str) -> Path:
    """The shipped example with one [retention] key set to `value`."""
    lines = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8").splitlines()
    lines = [f"{key} = {value}" if line.startswith(f"{key} =") else line for line in lines]
    path = tmp_path / "school.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_retention_defaults_follow_the_consent_term_and_bad_values_are_named(tmp_path: Path) -> None:
    shipped = load_school_config(EXAMPLE_SCHOOL_CONFIG).retention
    assert (shipped.after_leaving_days, shipped.after_withdrawal_days, shipped.backup_days) == (30, 30, 30)
    with pytest.raises(ConfigError) as err:
        load_school_config(_school(tmp_path, "after_withdrawal_days", "90"))
    message = str(err.value)
    assert "[retention]" in message and "after_withdrawal_days" in message
    assert "90 — слишком долго" in message and "ч. 5 ст. 21 152-ФЗ" in message
    with pytest.raises(ConfigError) as err:
        load_school_config(_school(tmp_path, "backup_days", "0"))
    assert "backup_days" in str(err.value) and "не меньше 1" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_school_config(_school(tmp_path, "after_leaving_days", '"месяц"'))
    assert "after_leaving_days" in str(err.value)


def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]) -> int:
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(tmp_path / "school.toml"))
    monkeypatch.chdir(tmp_path)
    return cli_main(argv)


def test_schoolbot_purge_is_a_dry_run_unless_applied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A school that removes data at once (after_leaving_days = 0): Олег leaves the roster; `purge`
    names his record and what it holds and removes nothing; `purge --apply` removes it."""
    _school(tmp_path, "after_leaving_days", "0")
    (tmp_path / "roster.csv").write_bytes(csv_bytes(ROSTER_ROWS))
    leaving = "Смирнов Олег Павлович"
    (tmp_path / "roster2.csv").write_bytes(csv_bytes([r for r in ROSTER_ROWS if r[0] != leaving]))
    assert _cli(monkeypatch, tmp_path, ["import", "roster", "roster.csv"]) == 0
    assert _cli(monkeypatch, tmp_path, ["import", "roster", "roster2.csv", "--confirm-deactivations"]) == 0
    db = tmp_path / "db.sqlite3"
    [(oleg, phone)] = query_test_database(db, "SELECT id, phone FROM persons WHERE full_name = ?", (leaving,))
    assert phone
    capsys.readouterr()
    assert _cli(monkeypatch, tmp_path, ["purge"]) == 0
    out = capsys.readouterr().out
    assert "ничего не удалено" in out and f"Запись № {oleg}" in out and "телефон" in out
    assert "связи родитель — ребёнок: 1" in out and "schoolbot purge --apply" in out and leaving not in out
    assert query_test_database(db, "SELECT full_name, phone FROM persons WHERE id = ?", (oleg,)) == [(leaving, phone)]
    assert query_test_database(db, "SELECT count(*) FROM destruction_records") == [(0,)]
    assert _cli(monkeypatch, tmp_path, ["purge", "--apply"]) == 0
    out = capsys.readouterr().out
    assert "Удаление данных" in out and f"Запись № {oleg}" in out
    assert query_test_database(db, "SELECT full_name, phone FROM persons WHERE id = ?", (oleg,)) == [
        (f"Запись № {oleg} (данные удалены)", None)]
    assert query_test_database(db, "SELECT reason, person_id, channel FROM destruction_records") == [
        ("left", oleg, "cli")]
    assert query_test_database(db, "SELECT count(*) FROM guardians WHERE parent_id = ?", (oleg,)) == [(0,)]
    assert _cli(monkeypatch, tmp_path, ["purge"]) == 0
    assert "Удалять нечего" in capsys.readouterr().out


async def _account_ids(db: Database, person_id: int) -> list[int]:
    """The messenger user ids linked to a person, wherever the schema keeps them (columns, or
    rows of `accounts` once #23 lands)."""
    if "accounts" in await dialect.tables(db.conn):
        rows = await db.fetchall("SELECT user_id FROM accounts WHERE person_id = ?", (person_id,))
    else:
        rows = await db.fetchall(
            "SELECT tg_user_id FROM persons WHERE id = ? AND tg_user_id IS NOT NULL"
            " UNION ALL SELECT max_user_id FROM persons WHERE id = ? AND max_user_id IS NOT NULL",
            (person_id, person_id),
        )
    return [int(r[0]) for r in rows]


async def _agree_then_withdraw(h: Harness, user: int, child: str, agree: str) -> None:
    keys = await consent_menu(h, user)
    await h.press(user, keys[f"{agree}: {child}"])
    keys = await consent_menu(h, user)
    confirm = buttons(last_with_buttons(await h.press(user, keys[f"↩️ Отозвать согласие: {child}"])))
    await h.press(user, confirm["Да, отозвать"])


async def test_a_withdrawal_purges_the_child_and_a_parent_left_with_no_child_under_consent(tmp_path: Path) -> None:
    """Олег withdraws for his only child: 30 days later both Коля's and Олег's data go (the consent
    covered Олег's data in the bot too), their names stay. Елена withdraws for Маша but Миша stays
    covered: Маша's data go, Елена keeps hers."""
    async with handler_harness(tmp_path) as h:
        await consent_school(h)
        outcome = await h.app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
        assert outcome.ok, outcome.errors
        await _agree_then_withdraw(h, PARENT_ONE, "Коля", "✅ Согласен")
        keys = await consent_menu(h, PARENT_TWO)
        await h.press(PARENT_TWO, keys["✅ Согласна: Миша"])
        await _agree_then_withdraw(h, PARENT_TWO, "Маша", "✅ Согласна")
        people = {p.full_name: p for p in await h.app.people.active()}
        oleg, kolya = people["Смирнов Олег Павлович"], people["Смирнов Коля Олегович"]
        elena, masha = people["Иванова Елена Викторовна"], people[MASHA]
        svc = h.app.services.retention

        h.clock.advance(timedelta(days=29))
        assert (await svc.plan(h.clock.now())).people == []  # not yet: the term is 30 days
        h.clock.advance(timedelta(days=2))
        plan = await svc.plan(h.clock.now())
        assert sorted((p.candidate.person_id, p.candidate.reason) for p in plan.people) == sorted(
            [(kolya.id, "withdrawal"), (masha.id, "withdrawal"), (oleg.id, "withdrawal")])
        by_id = {p.candidate.person_id: p.counts for p in plan.people}
        assert by_id[oleg.id]["phone"] == 1 and by_id[oleg.id]["accounts"] == 1 and by_id[oleg.id]["codes"] == 1
        assert "name" not in by_id[oleg.id]

        with acting_as(CLI):
            done = await svc.apply(h.clock.now())
        assert {p.candidate.person_id: p.counts for p in done.people} == by_id
        after = {p.id: p for p in await h.app.people.get_many([oleg.id, kolya.id, elena.id, masha.id])}
        assert after[oleg.id].phone is None and await _account_ids(h.app.db, oleg.id) == []
        assert after[oleg.id].full_name == oleg.full_name and after[kolya.id].full_name == kolya.full_name
        assert after[elena.id].phone == elena.phone and await _account_ids(h.app.db, elena.id) == [PARENT_TWO]
        for pid in (oleg.id, kolya.id, masha.id):
            assert await h.app.db.fetchval("SELECT count(*) FROM codes WHERE person_id = ?", (pid,)) == 0
        assert await h.app.db.fetchval("SELECT count(*) FROM codes WHERE person_id = ?", (elena.id,)) == 1
        assert (await ledger.check(h.app.db, ConsentRepo())).ok
        # Carried out once: the next day's plan is empty, and the records say who, why and by which door.
        assert (await svc.plan(h.clock.now() + timedelta(days=1))).people == []
        records = await RetentionRepo(h.app.db).records()
        assert sorted((r.person_id, r.reason, r.channel) for r in records) == sorted(
            [(kolya.id, "withdrawal", "cli"), (masha.id, "withdrawal", "cli"), (oleg.id, "withdrawal", "cli")])
