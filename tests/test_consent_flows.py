"""Consent nudges, class reminders, paper permissions, versions and the CLI."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.channels import Channel
from bot.cli import main as cli_main
from bot.services import consent as svc
from bot.services.consent_paper import parse_paper_date
from storage.consent import ConsentRepo
from storage.timefmt import from_db
from tests.consent_helpers import answer, buttons, consent_menu, last_with_buttons, school, texts
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness, handler_harness, make_settings


async def _nudges(h: Harness) -> list[tuple[str, int, datetime]]:
    rows = await h.app.db.fetchall(
        "SELECT dedupe_key, person_id, next_attempt_at FROM outbox WHERE dedupe_key LIKE 'consent-nudge:%' ORDER BY id"
    )
    return [(r[0], r[1], from_db(r[2])) for r in rows]


async def test_two_nudges_three_days_apart_in_working_hours_and_none_after_decline(harness: Harness) -> None:
    await school(harness)
    # Friday 18:30 Moscow: outside working hours, so the first nudge waits for Monday 09:00.
    friday_evening = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    harness.clock.set(friday_evening)
    await harness.app.tick()
    first = await _nudges(harness)
    version = await harness.app.services.consent.current()
    assert {(k, c) for k, c, _ in first} == {
        (f"consent-nudge:{version.number}:{p.id}:1", p.id)
        for p in await harness.app.people.with_role("parent")
    }
    monday_9 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    assert {when for _, _, when in first} == {monday_9}
    # PARENT_ONE declines: never nagged again.
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["❌ Не согласен: Коля"])
    # Two days later: nothing new; four days after the first: the second, to PARENT_TWO only.
    harness.clock.set(monday_9 + timedelta(days=2))
    await harness.app.tick()
    assert len(await _nudges(harness)) == 2
    harness.clock.set(monday_9 + timedelta(days=3, hours=1))
    await harness.app.tick()
    nudges = await _nudges(harness)
    assert len(nudges) == 3
    parent_two = await harness.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert parent_two is not None
    assert nudges[-1][0] == f"consent-nudge:{version.number}:{parent_two.id}:2" and nudges[-1][1] == parent_two.id
    # Never a third.
    harness.clock.set(monday_9 + timedelta(days=10))
    await harness.app.tick()
    assert len(await _nudges(harness)) == 3
    # A declined parent's still-queued first nudge was cancelled with the decision.
    parent_one = await harness.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
    assert parent_one is not None
    status = await harness.app.db.fetchval(
        "SELECT status FROM outbox WHERE person_id = ? AND dedupe_key LIKE 'consent-nudge:%'", (parent_one.id,)
    )
    assert status == "cancelled"


async def test_new_version_asks_again_and_keeps_old_decisions(harness: Harness) -> None:
    await school(harness)
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    kolya = (await ConsentRepo.ledger_rows(harness.app.db.conn))[0].child_id
    assert await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    old = await harness.app.services.consent.current()
    new = await harness.app.services.consent.publish(svc.shipped_template("ru") + "\n\nДополнение: новый пункт.")
    assert new.number == old.number + 1 and new.sha256 != old.sha256
    assert new.sha256 == svc.sha256_text(svc.shipped_template("ru") + "\n\nДополнение: новый пункт.")
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, kolya)
    text = texts(await harness.text(PARENT_ONE, "/consent"))[0]
    assert f"версия {new.number}" in text and "ответа нет" in text
    # The old press now names a version that is not current.
    calls = await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    assert "обновился" in (answer(calls).text or "")
    assert len(await ConsentRepo.ledger_rows(harness.app.db.conn)) == 1


async def test_paper_only_for_own_class_unless_it_officer(harness: Harness) -> None:
    await school(harness)
    teacher = await harness.app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
    admin = await harness.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert teacher is not None and admin is not None
    masha = next(c for c in await harness.app.people.with_role("student") if c.class_label == "6Б")
    result = await harness.app.services.consent_paper.record_paper(staff=teacher, child_id=masha.id, decision="given",
                                    paper_date=date(2026, 11, 20))
    assert result.outcome is svc.Outcome.FORBIDDEN
    calls = await harness.press(CLASS_TEACHER, f"cst:child:6Б:{masha.id}:")
    assert answer(calls).show_alert
    result = await harness.app.services.consent_paper.record_paper(staff=admin, child_id=masha.id, decision="declined",
                                    paper_date=date(2026, 11, 20))
    assert result.outcome is svc.Outcome.RECORDED and result.row is not None
    assert result.row.parent_id is not None  # one parent: the signer is known
    assert parse_paper_date("31.12.2026", date(2026, 11, 30)) is None
    assert parse_paper_date("1.2.2026", date(2026, 11, 30)) == date(2026, 2, 1)
    assert parse_paper_date("2026-02-01", date(2026, 11, 30)) is None


async def test_class_teacher_sees_class_and_sends_one_reminder(harness: Harness) -> None:
    await school(harness)
    calls = await harness.text(CLASS_TEACHER, "/consent")
    view = last_with_buttons(calls)
    assert "Класс 5А" in view.text  # type: ignore[attr-defined]
    assert "Ждут ответа: 2" in view.text  # type: ignore[attr-defined]
    assert "Иванов Миша Андреевич: ответа нет — родитель: Иванова Елена Викторовна" in view.text  # type: ignore[attr-defined]
    calls = await harness.press(CLASS_TEACHER, buttons(view)["🔔 Напомнить ожидающим"])
    assert answer(calls).text == "Напоминание отправлено 2 родителям."
    reminders = await harness.app.db.fetchall(
        "SELECT a.user_id FROM outbox o JOIN accounts a ON a.person_id = o.person_id AND a.channel = 'telegram'"
        " WHERE o.dedupe_key LIKE 'consent-remind:%'"
    )
    assert sorted(r[0] for r in reminders) == [PARENT_TWO, PARENT_ONE]
    calls = await harness.press(CLASS_TEACHER, buttons(view)["🔔 Напомнить ожидающим"])
    assert "уже отправлялось" in (answer(calls).text or "")


async def test_it_officer_sees_counts_and_drills_down(harness: Harness) -> None:
    await school(harness)
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    view = last_with_buttons(await harness.text(IT_OFFICER, "/consent"))
    assert "5А: ✅ 1 · ⏳ 1 · ❌ 0" in view.text  # type: ignore[attr-defined]
    assert "6Б: ✅ 0 · ⏳ 1 · ❌ 0" in view.text  # type: ignore[attr-defined]
    calls = await harness.press(IT_OFFICER, buttons(view)["5А: ✅ 1 · ⏳ 1 · ❌ 0"])
    drill = texts(calls)[-1]
    assert "Смирнов Коля Олегович: согласие дано — Смирнов Олег Павлович" in drill and "Telegram, в. 1" in drill
    calls = await harness.press(IT_OFFICER, "adm:consent")
    assert "Согласия по классам" in texts(calls)[-1]


def test_cli_publish_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(settings.database_path))
    monkeypatch.setenv("SCHOOL_CONFIG", str(settings.school_config))
    monkeypatch.chdir(tmp_path)
    doc = tmp_path / "v2.md"
    doc.write_text("Согласие, версия 2.\n\nТекст {parent_name}.", encoding="utf-8")
    assert cli_main(["consent", "publish", str(doc)]) == 0
    for fmt in ("csv", "xlsx", "pdf"):
        out = tmp_path / f"reg.{fmt}"
        assert cli_main(["export", "consents", "--format", fmt, "--out", str(out)]) == 0
        assert out.stat().st_size > 0
    assert (tmp_path / "reg.pdf").read_bytes().startswith(b"%PDF")
    wb = load_workbook(io.BytesIO((tmp_path / "reg.xlsx").read_bytes()))
    assert wb.active is not None and wb.active["A3"].value == "Класс"


async def test_versions_table_after_cli(tmp_path: Path) -> None:
    async with handler_harness(tmp_path) as h:
        v1 = await h.app.services.consent.current()
        assert v1.number == 1 and v1.sha256 == svc.sha256_text(svc.shipped_template("ru"))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
async def test_pdf_renders_to_an_image(harness: Harness, tmp_path: Path) -> None:

    await school(harness)
    data, _, _ = await harness.app.services.consent_export.export("pdf", harness.app.catalog.bind("ru"))
    pdf = tmp_path / "reg.pdf"
    pdf.write_bytes(data)
    tool = shutil.which("pdftoppm")
    assert tool is not None
    await asyncio.to_thread(
        subprocess.run, [tool, "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 2
    from PIL import Image

    with Image.open(pages[0]) as img:
        assert img.size[0] > img.size[1]  # landscape
        darkest = img.convert("L").getextrema()[0]
        assert isinstance(darkest, int) and darkest < 100  # something dark was drawn


async def test_given_hooks_run_once_per_decision(harness: Harness) -> None:
    # What a withdrawal cancels is decided by the consent gate for real codes:
    # tests/test_code_gate.py walks every path after a withdrawal.
    await school(harness)
    seen: list[tuple[int, int | None]] = []

    async def hook(conn: object, child_id: int, parent_id: int | None, now: datetime) -> None:
        seen.append((child_id, parent_id))

    harness.app.services.consent.consent_listeners[:] = [hook]  # type: ignore[index]
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    parent = await harness.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
    assert parent is not None
    kolya = (await harness.app.people.children(parent.id))[0]
    assert seen == [(kolya.id, parent.id)]
    keys = await consent_menu(harness, PARENT_ONE)
    calls = await harness.press(PARENT_ONE, keys["↩️ Отозвать согласие: Коля"])
    await harness.press(PARENT_ONE, buttons(last_with_buttons(calls))["Да, отозвать"])
    assert seen == [(kolya.id, parent.id)]  # a withdrawal runs no "given" hook


async def test_registers_are_sent_as_files_in_the_bot(harness: Harness) -> None:
    from aiogram.methods import SendDocument

    await school(harness)
    view = last_with_buttons(await harness.text(IT_OFFICER, "/consent"))
    calls = await harness.press(IT_OFFICER, buttons(view)["📥 Реестр PDF"])
    doc = next(c for c in calls if isinstance(c, SendDocument))
    assert doc.document.filename is not None and doc.document.filename.endswith(".pdf")  # type: ignore[union-attr]
    view = last_with_buttons(await harness.text(CLASS_TEACHER, "/consent"))
    calls = await harness.press(CLASS_TEACHER, buttons(view)["📥 Реестр XLSX"])
    doc = next(c for c in calls if isinstance(c, SendDocument))
    assert "5А" in (doc.document.filename or "")  # type: ignore[union-attr]
    # The whole school's register is not the class teacher's.
    calls = await harness.press(CLASS_TEACHER, "cst:export::0:xlsx")
    assert answer(calls).show_alert
    assert not any(isinstance(c, SendDocument) for c in calls)
