"""Who looked (#24 item 5): every register, code sheet, report, person search and export writes one
access-log row naming who (a person id, or the command line), through which channel, what and when;
the log refuses edits and deletions; the IT officer exports it for an inspector (bot and CLI, 0600).
Driven as users do: real updates through the real Dispatcher, and the real `schoolbot` command."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import SendDocument, TelegramMethod
from openpyxl import load_workbook

from bot.cli import main as cli_main
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.i18n import Catalog
from bot.services.access_log import AccessKind
from bot.services.imports import ImportOptions
from bot.services.training import SessionSpec
from bot.tg.callbacks import AdminAction, ArchiveView, CodePrint, StaffCb, TrAdm
from storage.access_log import AccessLogRepo, AccessRow
from storage.db import INTEGRITY_ERRORS
from tests.codes_helpers import codes_csv, person_id
from tests.consent_helpers import school
from tests.harness import CLASS_TEACHER, IT_OFFICER, ROSTER_ROWS, Harness, handler_harness, roster_csv
from tests.servers import query_test_database

Step = Callable[[], Awaitable[list[TelegramMethod[Any]]]]


async def _rows(h: Harness) -> list[AccessRow]:
    return await AccessLogRepo(h.app.db).rows()


async def _one_new_row(h: Harness, step: Step) -> tuple[AccessRow, list[TelegramMethod[Any]]]:
    before = len(await _rows(h))
    calls = await step()
    after = await _rows(h)
    assert len(after) == before + 1, [(r.kind, r.object_id) for r in after[before:]]
    return after[-1], calls


async def test_every_register_sheet_report_search_and_export_in_the_bot_writes_one_row(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, backup_passphrase="correct horse battery staple") as h:
        await school(h)
        outcome = await h.app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
        assert outcome.ok, outcome.errors
        officer = await person_id(h.app, "Петров Пётр Петрович")
        teacher = await person_id(h.app, "Кузнецова Ольга Николаевна")
        await h.app.services.backup.take_backup()
        officer_person = await h.app.people.get(officer)
        assert officer_person is not None
        session, _, _ = await h.app.services.training.create_session(officer_person, SessionSpec(
            "Работа с журналом", "teachers", None, h.clock.now() + timedelta(days=7), "каб. 214"))
        adm = AdminAction
        steps: list[tuple[int, Step, str, str | None, bool]] = [
            # (user, action, kind, object, a file is sent)
            (IT_OFFICER, lambda: h.press(IT_OFFICER, StaffCb(action="class", cls="5А").pack()), "register", "5А",
             False),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, StaffCb(action="export", cls="5А", decision="xlsx").pack()),
             "register_export", "5А", True),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, StaffCb(action="export", cls="", decision="pdf").pack()),
             "register_export", "*", True),
            # No family has consented yet: the sheet lists who is left out and why (names), no PDF.
            (CLASS_TEACHER, lambda: h.press(CLASS_TEACHER, CodePrint().pack()), "code_sheet", "5А:pupils", False),
            (IT_OFFICER, lambda: h.text(IT_OFFICER, "/report"), "report", None, True),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, adm(action="sends").pack()), "send_log", None, True),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, ArchiveView(action="pdf").pack()), "archive_checklist", None,
             True),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, ArchiveView(action="register").pack()), "register_export", "*",
             True),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, "st:archive"), "backup_export", None, True),
            (IT_OFFICER, lambda: h.press(IT_OFFICER, TrAdm(action="xlsx", sid=session).pack()), "training_attendance",
             str(session), True),
        ]
        for user, step, kind, obj, file_sent in steps:
            row, calls = await _one_new_row(h, step)
            who = officer if user == IT_OFFICER else teacher
            assert (row.kind, row.actor, row.channel) == (kind, who, "telegram"), (kind, row)
            if obj is not None:
                assert row.object_id == obj
            assert any(isinstance(c, SendDocument) for c in calls) == file_sent, kind

        # Person searches (the codes admin and linking): the log keeps the ids found, never the name typed.
        await h.press(IT_OFFICER, adm(action="codes").pack())
        row, _ = await _one_new_row(h, lambda: h.text(IT_OFFICER, "Смирнов"))
        assert row.kind == "person_search" and row.actor == officer
        found = {int(x) for x in (row.object_id or "").split(",")}
        assert found and all(isinstance(x, int) for x in found)
        assert "Смирнов" not in str(row)
        await h.press(IT_OFFICER, adm(action="link").pack())
        row, _ = await _one_new_row(h, lambda: h.text(IT_OFFICER, "Иванова"))
        assert row.kind == "person_search"

        # The IT officer's own export of the log: itself logged, a file naming people by id only.
        row, calls = await _one_new_row(h, lambda: h.press(IT_OFFICER, adm(action="access").pack()))
        assert row.kind == "access_log"
        doc = next(c for c in calls if isinstance(c, SendDocument))
        text = _xlsx_text(doc.document.data)  # type: ignore[union-attr]
        assert "реестр согласий (файл)" in text and "лист кодов приглашения для печати" in text
        assert f"запись № {officer}" in text
        for name in [r[0] for r in ROSTER_ROWS[1:]]:
            assert name not in text
        # Somebody else's press of the same button is refused and writes nothing.
        before = len(await _rows(h))
        assert not any(isinstance(c, SendDocument) for c in await h.press(CLASS_TEACHER, adm(action="access").pack()))
        assert len(await _rows(h)) == before


def _xlsx_text(data: bytes) -> str:
    wb = load_workbook(io.BytesIO(data))
    try:
        return "\n".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                         if c.value is not None)
    finally:
        wb.close()


async def test_the_log_refuses_edits_and_deletions(tmp_path: Path) -> None:
    async with handler_harness(tmp_path) as h:
        await h.app.services.access_log.record("report", "x")  # type: ignore[arg-type]
        for sql in ("UPDATE access_log SET actor = 5", "DELETE FROM access_log"):
            with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
                async with h.app.db.transaction() as conn:
                    await conn.execute(sql)
        assert len(await _rows(h)) == 1


def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]) -> int:
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.chdir(tmp_path)
    return cli_main(argv)


def test_cli_exports_are_logged_as_the_command_line_and_the_log_exports_0600(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    (tmp_path / "codes.csv").write_bytes(codes_csv())
    assert _cli(monkeypatch, tmp_path, ["import", "roster", "roster.csv"]) == 0
    assert _cli(monkeypatch, tmp_path, ["import", "codes", "codes.csv"]) == 0
    for argv in (["export", "consents", "--format", "xlsx"], ["export", "report"], ["export", "sends"],
                 ["analysis"], ["print", "cards", "--class", "5А", "--all"], ["link", "Иванова Елена"]):
        _cli(monkeypatch, tmp_path, argv)
    assert _cli(monkeypatch, tmp_path, ["export", "access", "--out", "access.xlsx"]) == 0
    out = tmp_path / "access.xlsx"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    text = _xlsx_text(out.read_bytes())
    for words in ("реестр согласий (файл)", "отчёт о внедрении (XLSX)", "журнал отправок", "анализ внедрения (PDF)",
                  "лист кодов приглашения для печати", "поиск человека по имени", "журнал доступа"):
        assert words in text, words
    rows = query_test_database(tmp_path / "db.sqlite3", "SELECT kind, actor, channel FROM access_log ORDER BY id")
    assert [k for k, _, _ in rows] == ["register_export", "report", "send_log", "analysis", "code_sheet",
                                       "person_search", "access_log"]
    assert {(a, c) for _, a, c in rows} == {(None, "cli")}
    assert _cli(monkeypatch, tmp_path, ["export", "access", "--since", "вчера"]) == 2
    assert "--since" in capsys.readouterr().err


def test_every_kind_has_words_in_both_languages() -> None:
    """The export names each kind in words: a kind another capability adds needs its words too."""
    catalog = Catalog.load()
    for lang in ("ru", "en"):
        keys = catalog.keys(lang)
        missing = [k.value for k in AccessKind if f"access.kind.{k.value}" not in keys]
        assert missing == [], (lang, missing)
