"""Withdrawal ends in destruction (152-FZ art. 21 parts 4-5): a withdrawal revokes the child's codes,
delivered ones too; the IT officer gets a tracked task with reminders until it is confirmed; who
confirmed and when is appended; the parents are told; the destruction act is a PDF."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument

from bot import capabilities
from bot.channels import Channel
from bot.services.consent_pdf import plain_text
from scheduler.sweeps import run_sweeps
from storage.codes import CodeRepo
from storage.consent_destruction import DestructionRepo
from storage.db import INTEGRITY_ERRORS
from storage.delivery import DeliveryRepo
from tests.codes_helpers import load_school, person_id
from tests.consent_helpers import buttons, consent_menu, last_with_buttons, texts
from tests.delivery_helpers import TG_CHAT
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_ONE, Harness

KOLYA = "Смирнов Коля Олегович"
OLEG = "Смирнов Олег Павлович"


async def _withdrawn(h: Harness) -> int:
    """Олег agrees for Коля, Коля's code is delivered, then Олег withdraws. Returns Коля's id."""
    await load_school(h.app)
    for user, phone in ((IT_OFFICER, "+79000000001"), (CLASS_TEACHER, "+79000000003"), (PARENT_ONE, "+79000000006")):
        await h.contact(user, phone, user)
    keys = await consent_menu(h, PARENT_ONE)
    await h.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    kolya = await person_id(h.app, KOLYA)
    codes = await CodeRepo(h.app.db).active_for([kolya])
    assert len(codes) == 1
    # The card went out and reached the family (recorded as the sender records Telegram's answer,
    # under its lease: storage/delivery.py).
    delivery = DeliveryRepo(h.app.db)
    for n, (row_id, account_id) in enumerate(await h.app.db.fetchall(
        "SELECT o.id, a.id FROM outbox o JOIN accounts a ON a.person_id = o.person_id AND a.channel = 'telegram'"
        " WHERE o.dedupe_key LIKE 'code:%'"
    )):
        assert await delivery.claim([int(row_id)], h.clock.now(), h.clock.now())
        assert await delivery.mark_sent(int(row_id), 500 + n, h.clock.now(), account_id=int(account_id))
    assert await CodeRepo(h.app.db).was_delivered_to(codes[0].id, await person_id(h.app, OLEG))
    keys = buttons(last_with_buttons(await h.text(PARENT_ONE, "/consent")))
    confirm = last_with_buttons(await h.press(PARENT_ONE, keys["↩️ Отозвать согласие: Коля"]))
    await h.press(PARENT_ONE, buttons(confirm)["Да, отозвать"])
    return kolya


async def _payloads(h: Harness, like: str) -> list[tuple[int, dict[str, object]]]:
    rows = await h.app.db.fetchall(
        f"SELECT {TG_CHAT}, payload FROM outbox WHERE dedupe_key LIKE ? AND status != 'cancelled' ORDER BY id", (like,)
    )
    return [(int(r[0]), json.loads(r[1])) for r in rows]


async def test_withdrawal_revokes_delivered_codes_and_opens_a_destruction_task(harness: Harness) -> None:
    kolya = await _withdrawn(harness)
    # The delivered code no longer works: revoked, not merely "not sent again".
    history = await CodeRepo(harness.app.db).history(kolya)
    assert [c.status for c in history] == ["revoked"]
    # One task, due 30 days after the withdrawal's day (school time).
    tasks = await DestructionRepo.all_open(harness.app.db.conn)
    assert len(tasks) == 1 and tasks[0].child_id == kolya
    withdrawn_day = harness.app.school.calendar.local_date(harness.clock.now())
    assert tasks[0].due_on == withdrawn_day + timedelta(days=30)
    # The IT officer has the task with its buttons; the parent hears what happens next and by when.
    officer = await _payloads(harness, "consent-destroy:%")
    assert [chat for chat, _ in officer] == [IT_OFFICER]
    text = str(officer[0][1]["text"])
    assert "Заблокируйте учётную запись" in text and tasks[0].due_on.strftime("%d.%m.%Y") in text
    status = " ".join(texts(await harness.text(IT_OFFICER, "/status")))
    assert "данные к уничтожению — 1, из них просрочено: 0" in status
    parent = await _payloads(harness, "consent-destroy-parent:%")
    assert [chat for chat, _ in parent] == [PARENT_ONE]
    assert "уничтожит данные не позднее" in str(parent[0][1]["text"])


async def test_reminders_until_confirmed_then_the_act(harness: Harness, tmp_path: Path) -> None:
    kolya = await _withdrawn(harness)
    sweeps = capabilities.sweeps(harness.app.services)
    task = (await DestructionRepo.all_open(harness.app.db.conn))[0]

    async def at(days: float) -> list[int]:
        harness.clock.set(task.opened_at + timedelta(days=days))
        await run_sweeps(harness.clock.now(), sweeps)
        return [int(k[0].split(":")[2]) for k in await harness.app.db.fetchall(
            "SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE 'consent-destroy:%' ORDER BY id")]

    assert await at(6) == [0]
    assert await at(7) == [0, 1]              # weekly while the term runs
    assert await at(8) == [0, 1]
    assert await at(14) == [0, 1, 2]
    assert await at(31) == [0, 1, 2, 3]       # past the due day: now daily, as "overdue"
    assert await at(31.5) == [0, 1, 2, 3]
    assert await at(32) == [0, 1, 2, 3, 4]
    overdue = await _payloads(harness, f"consent-destroy:{task.id}:4:%")
    assert "просрочена" in str(overdue[0][1]["text"])
    # The IT officer confirms with the button on the reminder.
    markup = overdue[0][1]["reply_markup"]
    assert isinstance(markup, dict)
    done = next(b["callback_data"] for row in markup["inline_keyboard"] for b in row if "уничтожены" in b["text"])
    # Nobody else may: the class teacher's press is refused.
    refused = await harness.press(CLASS_TEACHER, done)
    assert not any(isinstance(c, SendDocument) for c in refused)
    calls = await harness.press(IT_OFFICER, done)
    assert any(isinstance(c, AnswerCallbackQuery) and "подтверждено" in (c.text or "") for c in calls)
    act = next(c for c in calls if isinstance(c, SendDocument))
    data = getattr(act.document, "data", b"")
    assert isinstance(data, bytes) and data.startswith(b"%PDF")
    # Who confirmed and when: appended, and the first confirmation stands.
    confirmed = (await DestructionRepo.get(harness.app.db.conn, task.id))
    assert confirmed is not None and confirmed.confirmed is not None
    officer = await harness.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None and confirmed.confirmed.by == officer.id
    assert confirmed.confirmed.channel == "telegram" and confirmed.confirmed.at == harness.clock.now()
    again = await harness.press(IT_OFFICER, done)
    assert any(isinstance(c, AnswerCallbackQuery) and "уже подтверждена" in (c.text or "") for c in again)
    with pytest.raises(INTEGRITY_ERRORS):
        async with harness.app.db.transaction() as conn:
            await conn.execute("DELETE FROM consent_destruction_events")
    # No more reminders. (Confirmed past the term: the bot's own copy of the family was purged on
    # day 30, so there is nobody to tell now; the act still names them.)
    assert await at(40) == [0, 1, 2, 3, 4]
    # The act carries what Roskomnadzor's order asks, and opening it is logged.
    t = harness.app.catalog.bind("ru")
    paras = await harness.app.services.consent_withdrawal.act_paragraphs(task.id, t)
    assert paras is not None
    text = plain_text(paras)
    for expected in (
        "об уничтожении персональных данных", KOLYA, OLEG, "ч. 5 ст. 21", task.receipt_id,
        "Петров Пётр Петрович", harness.app.school.platform.name, "Способ уничтожения",
        confirmed.confirmed.at.astimezone(harness.app.school.tz).strftime("%d.%m.%Y"),
    ):
        assert expected in text, expected
    logged = await harness.app.db.fetchall("SELECT actor, object_id FROM access_log WHERE kind = 'destruction_act'")
    assert (officer.id, str(task.id)) in [(r[0], r[1]) for r in logged]
    pdftotext = shutil.which("pdftotext")
    if pdftotext:
        path = tmp_path / "act.pdf"
        path.write_bytes(data)
        out = await asyncio.to_thread(
            subprocess.run, [pdftotext, str(path), "-"], capture_output=True, check=True, text=True
        )
        flat = " ".join(out.stdout.split())
        assert KOLYA in flat and task.receipt_id in flat
    assert kolya


async def test_the_cli_confirms_and_writes_the_act(harness: Harness, tmp_path: Path) -> None:
    await _withdrawn(harness)
    task = (await DestructionRepo.all_open(harness.app.db.conn))[0]
    service = harness.app.services.consent_withdrawal
    t = harness.app.catalog.bind("ru")
    import argparse

    assert await service.cmd_destroyed(argparse.Namespace(task=task.id), t) == 0
    done = await DestructionRepo.get(harness.app.db.conn, task.id)
    assert done is not None and done.confirmed is not None and done.confirmed.channel == "cli"
    # Confirmed within the term: the parent is told.
    told = await _payloads(harness, "consent-destroyed-parent:%")
    assert [chat for chat, _ in told] == [PARENT_ONE] and "уничтожены" in str(told[0][1]["text"])
    out = tmp_path / "act.pdf"
    assert await service.cmd_act(argparse.Namespace(task=task.id, out=str(out)), t) == 0
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_mode & 0o777 == 0o600
    assert await service.cmd_destroyed(argparse.Namespace(task=999), t) == 1


async def test_a_paper_withdrawal_takes_the_same_path(harness: Harness) -> None:
    """Staff enter a signed withdrawal on paper: the same writer revokes the codes, opens the task
    and tells the family."""
    await load_school(harness.app)
    for user, phone in ((IT_OFFICER, "+79000000001"), (CLASS_TEACHER, "+79000000003"), (PARENT_ONE, "+79000000006")):
        await harness.contact(user, phone, user)
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    kolya = await person_id(harness.app, KOLYA)
    teacher = await harness.app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
    assert teacher is not None
    result = await harness.app.services.consent_paper.record_paper(
        staff=teacher, child_id=kolya, decision="withdrawn", paper_date=harness.clock.now().date()
    )
    assert result.row is not None and result.row.channel == "paper"
    assert [c.status for c in await CodeRepo(harness.app.db).history(kolya)] == ["revoked"]
    [task] = await DestructionRepo.all_open(harness.app.db.conn)
    assert task.child_id == kolya and task.receipt_id == result.row.receipt_id
    assert task.subject_name == KOLYA and task.representatives == OLEG
    assert [chat for chat, _ in await _payloads(harness, "consent-destroy-parent:%")] == [PARENT_ONE]
