"""A parent's own data (152-FZ art. 14, #24 item 4): «🗂 Мои данные» in the bot and
`schoolbot subject-report` list everything the database holds about the person, checked here
against the tables themselves: every table that names the parent (found from the schema), and each
fact of the person, children, codes (masked), receipts, questions and sends. Each request is in the
access log with its legal deadline (10 working days); a channel that may not carry the file gets the
pointer and nothing else."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from aiogram.methods import SendDocument

from bot.channels import Channel
from bot.cli import main as cli_main
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.services.imports import ImportOptions
from storage import dialect
from storage.access_log import AccessLogRepo
from storage.sql import SqlDatabase
from tests.codes_helpers import codes_csv, load_school
from tests.consent_helpers import consent_menu, school
from tests.harness import PARENT_TWO, Harness, handler_harness, roster_csv, running_bot
from tests.help_helpers import PHONES
from tests.servers import query_test_database
from tests.test_channel_policy_direct import _link
from tests.test_max_e2e import MaxWire, TelegramWire

ELENA = "Иванова Елена Викторовна"


@pytest.fixture
async def mx() -> AsyncIterator[FakeMax]:
    async with FakeMax() as server:
        yield server


async def _references(db: SqlDatabase, person_id: int) -> dict[tuple[str, str], int]:
    """(table, column) -> rows naming the person, straight from the schema and the data."""
    pairs = await dialect.references_to(db.conn, "persons")
    pairs += [("access_log", "actor"), ("destruction_records", "person_id"), ("persons", "id")]
    found = {}
    for table, column in pairs:
        n = await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = ?", (person_id,))
        if n:
            found[(table, column)] = int(n)
    return found


async def _parent_with_a_history(h: Harness) -> int:
    """Елена: linked, agreed for Миша in the bot, declined for Маша, asked a question; codes imported."""
    await school(h)
    outcome = await h.app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
    assert outcome.ok, outcome.errors
    keys = await consent_menu(h, PARENT_TWO)
    await h.press(PARENT_TWO, keys["✅ Согласна: Миша"])
    keys = await consent_menu(h, PARENT_TWO)
    await h.press(PARENT_TWO, keys["❌ Не согласна: Маша"])
    elena = await h.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert elena is not None
    await h.app.services.tickets.open_ticket(elena, "Где найти расписание?")
    return elena.id


async def test_my_data_lists_everything_the_database_holds_about_the_parent(tmp_path: Path) -> None:
    async with handler_harness(tmp_path) as h:
        elena = await _parent_with_a_history(h)
        calls = await h.text(PARENT_TWO, "🗂 Мои данные")
        doc = next(c for c in calls if isinstance(c, SendDocument))
        assert doc.protect_content is True
        text = doc.document.data.decode("utf-8")  # type: ignore[union-attr]
        db = h.app.db

        # Every table that names her, with the number of rows.
        refs = await _references(db, elena)
        assert ("consent_ledger", "parent_id") in refs and ("tickets", "asker_id") in refs
        assert ("guardians", "parent_id") in refs and ("outbox", "person_id") in refs
        for (table, column), n in refs.items():
            if table == "access_log":
                continue  # this request itself adds a row after the document is built
            assert f"({table}.{column}): {n}" in text, (table, column, n)

        me = await db.fetchone("SELECT * FROM persons WHERE id = ?", (elena,))
        assert me is not None
        for value in (me["full_name"], me["phone"], str(PARENT_TWO)):  # her Telegram account's id
            assert value in text, value
        assert "Роли: родитель" in text
        children = await db.fetchall("SELECT p.full_name, p.id FROM guardians g JOIN persons p ON p.id = g.child_id"
                                     " WHERE g.parent_id = ?", (elena,))
        assert len(children) == 2
        for child in children:
            assert child["full_name"] in text
        owners = [elena, *(c["id"] for c in children)]
        codes = await db.fetchall(f"SELECT code FROM codes WHERE person_id IN ({','.join('?' * len(owners))})", owners)
        assert len(codes) == 3
        for (code,) in codes:
            assert "••••••" + code[-3:] in text and code not in text  # masked, never whole
        ledger = await db.fetchall("SELECT receipt_id, sha256, decision FROM consent_ledger WHERE parent_id = ?",
                                   (elena,))
        assert {r["decision"] for r in ledger} == {"given", "declined"}
        for r in ledger:
            assert f"квитанция № {r['receipt_id']}" in text and r["sha256"] in text
        for (question,) in await db.fetchall("SELECT text FROM tickets WHERE asker_id = ?", (elena,)):
            assert f"«{question}»" in text
        sent = await db.fetchval("SELECT count(*) FROM outbox WHERE person_id = ?", (elena,))
        section = text.split("6. Что бот вам отправлял\n", 1)[1].split("\n\n", 1)[0]
        assert sent > 0 and len(section.splitlines()) == sent
        for words in ("8. Цели обработки", "9. Кто получает данные", "ООО «Дневник.ру»", "10. Срок хранения",
                      "30 дн. после выбытия", "11. Ваши права"):
            assert words in text, words

        # The request is in the access log with its deadline: 10 working days from Monday 30.11.2026.
        rows = await AccessLogRepo(h.app.db).about("subject_report", str(elena))
        assert [(r.actor, r.channel, r.due_on) for r in rows] == [(elena, "telegram", date(2026, 12, 14))]
        assert "не позднее 14.12.2026" in (doc.caption or "")
        assert "не позднее 14.12.2026" in text

        # Only parents have the button; staff get the menu's fallback, no file, no log row.
        assert "🗂 Мои данные" not in str([c for c in await h.text(1003, "/menu")])


async def test_a_channel_that_may_not_carry_the_file_gets_the_pointer(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    """With MAX served the municipal policy holds: on Telegram the parent gets the pointer, not the
    file (the request is logged all the same: its deadline runs); in MAX the same parent gets it."""
    # The example as shipped: a municipal school (Telegram carries public notices only).
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        on_tg = TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO])
        await _link(on_tg)
        elena = await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
        assert elena is not None
        mark = len(tg.sent(PARENT_TWO))
        await on_tg.send("/my_data")
        await on_tg.wait(lambda text: "Файл с персональными данными" in text and "MAX" in text, after=mark)
        assert all(m.method != "sendDocument" for m in tg.sent(PARENT_TWO))
        rows = await AccessLogRepo(app.db).about("subject_report", str(elena.id))
        assert [(r.actor, r.channel) for r in rows] == [(elena.id, "telegram")]

        on_max = MaxWire(mx, 88_005, "Елена", "Иванова", PHONES[PARENT_TWO].lstrip("+"))
        await _link(on_max)
        mark = on_max.count()
        await on_max.send("🗂 Мои данные")
        await on_max.wait(lambda text: "Сведения о ваших персональных данных" in text, after=mark)
        rows = await AccessLogRepo(app.db).about("subject_report", str(elena.id))
        assert [(r.actor, r.channel) for r in rows] == [(elena.id, "telegram"), (elena.id, "max")]


def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]) -> int:
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.chdir(tmp_path)
    return cli_main(argv)


def test_cli_subject_report_writes_a_private_file_and_logs_the_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    assert _cli(monkeypatch, tmp_path, ["import", "roster", "roster.csv"]) == 0
    assert _cli(monkeypatch, tmp_path, ["subject-report", "Иванов"]) == 1  # four matches: which one?
    assert "найдено записей — 4" in capsys.readouterr().err
    assert _cli(monkeypatch, tmp_path, ["subject-report", ELENA, "--out", "elena.txt"]) == 0
    assert "Срок ответа по закону" in capsys.readouterr().out
    out = tmp_path / "elena.txt"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    text = out.read_text(encoding="utf-8")
    assert ELENA in text and "Иванов Миша Андреевич" in text and "Иванова Маша Андреевна" in text
    rows = query_test_database(
        tmp_path / "db.sqlite3", "SELECT kind, actor, channel, object_id, due_on FROM access_log ORDER BY id"
    )
    # The ambiguous name listed four people to pick from (a person search, ids only); then the report.
    assert [r[:3] for r in rows] == [("person_search", None, "cli"), ("subject_report", None, "cli")]
    assert len(rows[0][3].split(",")) == 4 and rows[1][4]
