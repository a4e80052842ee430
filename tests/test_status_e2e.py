"""End to end: the bot as `schoolbot run` builds it, long-polling the fake Bot API server: the IT
officer imports the roster, asks for /status, the chart, the report and the latest backup, and
logs a journal backup from a nudge."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyzipper
from openpyxl import load_workbook
from PIL import Image

from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from storage.ops import OpsRepo
from tests.harness import DEFAULT_START, roster_csv, running_bot

PASSPHRASE = "e2e passphrase, long enough"

MSK = ZoneInfo("Europe/Moscow")


async def test_status_chart_report_and_journal_nudge_end_to_end(tg: FakeTelegram, tmp_path: Path) -> None:
    clock = ManualClock(DEFAULT_START)
    async with running_bot(tg, tmp_path, clock=clock, backup_passphrase=PASSPHRASE) as app:
        await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=clock.now())
        officer = tg.user(1001, "Пётр", "Петров", phone="+79000000001")
        await officer.send("/start")
        ask = await tg.wait_for(1001)
        await officer.press_reply(ask, "📱 Поделиться номером телефона")
        await tg.wait_for(1001, lambda m: "Петров Пётр Петрович" in (m.plain or ""))

        await officer.send("📊 Статус")
        status = await tg.wait_for(1001, lambda m: "Статус внедрения" in (m.plain or ""))
        assert "Людей в составе: 9, подключились к боту: 1" in (status.plain or "")
        assert "5А: 0/2 (0%)" in (status.plain or "")
        await officer.press(status, "📈 График")
        # The first chart imports matplotlib in a worker thread: seconds on a loaded machine.
        chart = await tg.wait_for(1001, lambda m: m.method == "sendPhoto", timeout=30)
        assert chart.file is not None
        with Image.open(io.BytesIO(chart.file)) as img:
            assert img.format == "PNG" and img.width > 800

        await officer.send("/report")
        report = await tg.wait_for(1001, lambda m: m.method == "sendDocument")
        assert report.file is not None and (report.filename or "").endswith(".xlsx")
        assert len(load_workbook(io.BytesIO(report.file)).sheetnames) == 7  # the analysis (item 18) first

        # A week before the end of the second quarter the plan reminder comes; "Done" logs the backup.
        clock.set(datetime(2026, 12, 21, 10, 0, tzinfo=MSK))
        await app.tick()
        nudge = await tg.wait_for(1001, lambda m: "Пункт 16 · II четверть" in (m.plain or ""))
        await officer.press(nudge, "✅ Пункт 16 · II четверть")
        await tg.wait_for(1001, lambda m: "Как подписан носитель" in (m.plain or ""))
        await officer.send("Флешка №3")
        saved = await tg.wait_for(1001, lambda m: "Записано" in (m.plain or ""))
        await officer.press(saved, "Без фото")
        await tg.wait_for(1001, lambda m: "Готово, спасибо" in (m.plain or ""))
        [logged] = await OpsRepo(app.db).journal_backups()
        assert logged.medium_label == "Флешка №3" and logged.quarter == 2

        # The nightly backup; /backup reports it and sends it only as an encrypted archive.
        clock.set(datetime(2026, 12, 15, 3, 0, tzinfo=MSK))
        await app.tick()
        await officer.send("/backup")
        status = await tg.wait_for(1001, lambda m: "Копии базы бота хранятся" in (m.plain or ""))
        await officer.press(status, "🔐 Прислать зашифрованный архив")
        copy = await tg.wait_for(1001, lambda m: m.method == "sendDocument" and "schoolbot-" in (m.filename or ""))
        assert copy.file is not None and copy.file.startswith(b"PK")
        assert b"SQLite format 3" not in copy.file
        with pyzipper.AESZipFile(io.BytesIO(copy.file)) as zf:
            zf.setpassword(PASSPHRASE.encode())
            # The backend's own copy: the SQLite file, or PostgreSQL's pg_dump archive.
            magic = b"PGDMP" if app.db.dialect == "postgres" else b"SQLite format 3\x00"
            assert zf.read(zf.namelist()[0]).startswith(magic)
