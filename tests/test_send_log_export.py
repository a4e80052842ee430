"""`schoolbot export sends`: the send log for an inspector (issue #17, item 5). After real routed
sends over Telegram and MAX, the CSV and XLSX hold one row per send in words, the summary per channel
and data class with the explicit count of forbidden sends (0), no personal data, and are 0600."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import stat
import zipfile
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage
from openpyxl import load_workbook

from bot.channels import Channel, ChannelPolicy, DataClass
from bot.cli import main as cli_main
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.services.send_log_export import summarise
from bot.tg.callbacks import AdminAction
from storage.db import Database
from storage.messengers import MessengerRepo, SendRecord
from storage.outbox import Payload
from tests.codes_helpers import CODES, load_school
from tests.harness import DIRECTOR, PARENT_ONE, ROSTER_ROWS, TEACHER, Harness, roster_csv, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import MaxWire, TelegramWire, _eventually

OLEG_MAX = 77_006
CLASS_WORDS = {
    DataClass.PUBLIC: "общее уведомление",
    DataClass.PERSONAL: "личные данные",
    DataClass.CHILD_PERSONAL: "персональные данные ребёнка",
    DataClass.CREDENTIAL: "учётные данные (код приглашения)",
    DataClass.PERSONAL_FILE: "файл с персональными данными",
}
CHANNEL_WORDS = {"telegram": "Telegram", "max": "MAX", "paper": "бумага"}
OUTCOME_WORDS = {
    "sent": "отправлено", "pointer": "вместо сообщения отправлена отсылка", "paper": "передано на бумагу",
    "failed": "не доставлено",
}
HEADER = ["Дата и время", "Канал", "Класс данных", "Результат", "Кто отправил"]
VIOLATIONS_ZERO = "Учётных данных и персональных данных детей отправлено по каналу, который политика не разрешает: 0"
NOTICE = "Собрание в четверг в 18:00 для родителей Смирнова Коли"


@pytest.fixture
async def mx() -> AsyncIterator[FakeMax]:
    async with FakeMax() as server:
        yield server


def _secrets() -> list[str]:
    """Everything personal the sends carried or the roster holds: none of it may be in the export."""
    names = [row[0] for row in ROSTER_ROWS[1:]]
    phones = [row[3] for row in ROSTER_ROWS[1:] if row[3]] + list(PHONES.values())
    return [*names, *phones, *CODES.values(), NOTICE, "Смирнов", "Морозов"]


USER_IDS = [str(TEACHER), str(PARENT_ONE), str(OLEG_MAX)]


async def _routed_sends(tg: FakeTelegram, mx: FakeMax, tmp_path: Path) -> tuple[list[SendRecord], Path, Path]:
    """A teacher on Telegram only and a parent on MAX only; MAX is served, so the default policy holds
    (Telegram carries public notices only). Returns the send log and the database and school files."""
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app)
        teacher = TelegramWire(tg, TEACHER, "Игорь", "Морозов", PHONES[TEACHER])
        await teacher.send("/start")
        await teacher.share_contact(await teacher.wait(lambda text: "поделитесь своим номером" in text))
        # The code's pointer.
        await teacher.wait(lambda text: "Код приглашения" in text and "в боте школы в MAX" in text)
        oleg = MaxWire(mx, OLEG_MAX, "Олег", "Смирнов", PHONES[PARENT_ONE].lstrip("+"))
        await oleg.send("/start")
        await oleg.share_contact(await oleg.wait(lambda text: "поделитесь своим номером" in text))
        await oleg.wait(lambda text: "Ваши роли" in text)
        teacher_person = await app.people.by_account(Channel.TELEGRAM, TEACHER)
        parent = await app.people.by_account(Channel.MAX, OLEG_MAX)
        assert teacher_person is not None and parent is not None
        async with app.db.transaction() as conn:
            now = app.clock.now()
            await app.services.outbox.notify(conn, teacher_person, key="t:public", payload=Payload(
                text="Педсовет в 15:00"
            ),
                         now=now, data_class=DataClass.PUBLIC)
            await app.services.outbox.notify(conn, parent, key="t:child", payload=Payload(text=NOTICE), now=now,
                         data_class=DataClass.CHILD_PERSONAL)
            await app.services.outbox.notify(
                conn, teacher_person, key="t:personal", payload=Payload(text=NOTICE), now=now,
                         data_class=DataClass.PERSONAL)
        repo = MessengerRepo(app.db)
        wanted = {("telegram", DataClass.PUBLIC, "sent"), ("max", DataClass.CHILD_PERSONAL, "sent"),
                  ("telegram", DataClass.PERSONAL, "pointer"), ("telegram", DataClass.CREDENTIAL, "pointer")}

        async def logged() -> bool:
            return wanted <= {(r.channel, r.data_class, r.outcome) for r in await repo.send_log()}

        await _eventually(logged)
        db_path, school = app.settings.database_path, app.settings.school_config
    # Read once the bot has stopped: a send still in flight when the wanted rows appeared (the
    # outbox drains on) would otherwise be logged after this count and before the export's.
    db = Database(db_path)
    await db.open()
    try:
        records = await MessengerRepo(db).send_log()
    finally:
        await db.close()
    return records, db_path, school


def _cli(monkeypatch: pytest.MonkeyPatch, db: Path, school: Path, argv: list[str]) -> int:
    monkeypatch.setenv("DATABASE_PATH", str(db))
    monkeypatch.setenv("SCHOOL_CONFIG", str(school))
    return cli_main(argv)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_the_send_log_export_for_an_inspector(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records, db, school = await _routed_sends(tg, mx, tmp_path)
    n = len(records)
    assert n >= 4
    capsys.readouterr()
    out_csv, out_xlsx = tmp_path / "out" / "sends.csv", tmp_path / "out" / "sends.xlsx"
    out_csv.parent.mkdir()
    out_csv.write_bytes(b"")
    out_csv.chmod(0o644)  # an older export in the way must not keep its mode
    argv = ["export", "sends", "--since", "2020-01-01", "--format", "csv", "--out", str(out_csv)]
    assert await asyncio.to_thread(_cli, monkeypatch, db, school, argv) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith(f"Журнал отправок записан в {out_csv} ({n} строк")
    argv = ["export", "sends", "--format", "xlsx", "--out", str(out_xlsx)]
    assert await asyncio.to_thread(_cli, monkeypatch, db, school, argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(f"Журнал отправок записан в {out_xlsx}")
    assert _mode(out_csv) == 0o600 and _mode(out_xlsx) == 0o600

    # CSV: the header, one row per send in words, a blank line, the summary.
    rows = list(csv.reader(io.StringIO(out_csv.read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == HEADER
    body = rows[1 : 1 + n]
    assert [r[1:] for r in body] == [
        [CHANNEL_WORDS[r.channel], CLASS_WORDS[r.data_class], OUTCOME_WORDS[r.outcome], r.purpose] for r in records
    ]
    # Who sent: a handler or the outbox's notice kind, never a person.
    assert {r.purpose for r in records} >= {"start.start_newcomer", "outbox:t"}
    for row in body:
        assert datetime.strptime(row[0], "%d.%m.%Y %H:%M")  # dd.mm.yyyy hh:mm, the school's time
    assert rows[1 + n] == []
    summary = rows[2 + n :]
    assert summary[0] == ["Итого по каналам и классам данных"]
    assert summary[1] == ["Канал", "Класс данных", "Отправок"]
    counts = Counter((r.channel, r.data_class) for r in records)
    total_at = next(i for i, row in enumerate(summary) if row and row[0] == "Всего")
    assert {(row[0], row[1]): int(row[2]) for row in summary[2:total_at]} == {
        (CHANNEL_WORDS[c], CLASS_WORDS[d]): k for (c, d), k in counts.items()
    }
    assert summary[total_at] == ["Всего", "", str(n)]
    # Per data class: sent, replaced by the pointer, refused by the messenger.
    assert summary[total_at + 2] == ["По классам данных"]
    assert summary[total_at + 3] == ["Класс данных", "Отправлено", "Заменено отсылкой", "Не принято мессенджером"]
    by_class = {row[0]: [int(v) for v in row[1:]] for row in summary[total_at + 4 : -1]}
    messenger = [r for r in records if r.channel != "paper"]
    for data_class, words in CLASS_WORDS.items():
        wanted = [sum(1 for r in messenger if r.data_class is data_class and r.outcome == o)
                  for o in ("sent", "pointer", "failed")]
        assert by_class.get(words, [0, 0, 0]) == wanted, words
    assert by_class[CLASS_WORDS[DataClass.CREDENTIAL]][1] >= 1  # the code kept off Telegram
    assert summary[-1] == [VIOLATIONS_ZERO]

    # XLSX: the same rows, the time a real date cell.
    wb = load_workbook(io.BytesIO(out_xlsx.read_bytes()))
    ws = wb.active
    assert ws is not None
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert [v for v in values[2] if v is not None] == HEADER
    first = ws.cell(row=4, column=1)
    assert isinstance(first.value, datetime) and first.number_format == "DD.MM.YYYY HH:MM"
    assert [v[1:5] for v in values[3 : 3 + n]] == [
        [CHANNEL_WORDS[r.channel], CLASS_WORDS[r.data_class], OUTCOME_WORDS[r.outcome], r.purpose] for r in records
    ]
    assert values[-1][0] == VIOLATIONS_ZERO
    wb.close()

    # No personal data anywhere in either file (the XLSX read inside its zip).
    with zipfile.ZipFile(out_xlsx) as z:
        xlsx_text = "".join(z.read(name).decode("utf-8") for name in z.namelist())
    cells = [str(v) for row in values for v in row if v is not None]
    csv_text = out_csv.read_bytes().decode("utf-8-sig")
    for secret in _secrets():
        assert secret not in csv_text and secret not in xlsx_text, secret
    for user_id in USER_IDS:
        assert user_id not in csv_text and not any(user_id in c for c in cells), user_id


def test_a_forbidden_send_is_counted_and_a_bad_date_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    records = [SendRecord(at, "telegram", DataClass.CREDENTIAL, "sent"),
               SendRecord(at, "telegram", DataClass.CHILD_PERSONAL, "pointer"),
               SendRecord(at, "max", DataClass.CREDENTIAL, "sent"),
               SendRecord(at, "telegram", DataClass.PUBLIC, "sent")]
    assert summarise(records, ChannelPolicy()).violations == 1
    monkeypatch.chdir(tmp_path)
    argv = ["export", "sends", "--since", "01.09.2026", "--out", "x.xlsx"]
    assert _cli(monkeypatch, tmp_path / "db.sqlite3", EXAMPLE_SCHOOL_CONFIG, argv) == 2
    assert "--since" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()


async def test_the_it_officer_gets_the_send_log_from_admin(harness: Harness) -> None:
    """/admin offers the send log; pressing it answers "Готовлю файл…" at once, then sends the XLSX.
    Only the IT officer: the director's press sends nothing."""
    report = await harness.app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=harness.clock.now())
    assert report.ok, report.errors
    await harness.admin_start()
    async with harness.app.db.transaction() as conn:
        await MessengerRepo.log_send(conn, "max", DataClass.CREDENTIAL, "sent", harness.clock.now())
    calls = await harness.text(1, "/admin")
    menu = next(c for c in calls if isinstance(c, SendMessage))
    assert menu.reply_markup is not None
    labels = {b.text: b.callback_data for row in menu.reply_markup.inline_keyboard for b in row}  # type: ignore[union-attr]
    data = labels["📒 Журнал отправок (для проверяющего)"]
    assert data == AdminAction(action="sends").pack()
    calls = await harness.press(1, data)
    assert isinstance(calls[0], AnswerCallbackQuery) and calls[0].text == "Готовлю файл…"
    sent = next(c for c in calls if isinstance(c, SendDocument))
    wb = load_workbook(io.BytesIO(sent.document.data))  # type: ignore[union-attr]
    ws = wb.active
    assert ws is not None
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    # Every send is logged (the /start and /admin answers too); the MAX row is among them.
    assert ["MAX", "учётные данные (код приглашения)", "отправлено"] in [r[1:4] for r in rows[3:]]
    assert rows[-1][0] == VIOLATIONS_ZERO
    wb.close()
    refused = await harness.press(DIRECTOR, data)
    assert not any(isinstance(c, SendDocument) for c in refused)
