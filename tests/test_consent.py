"""Consent through the real Dispatcher (handler level)."""

from __future__ import annotations

import html
import re

import pytest
from aiogram.methods import EditMessageText

from bot.channels import Channel
from bot.services import consent as svc
from storage.consent import ConsentRepo
from storage.db import INTEGRITY_ERRORS
from tests.consent_helpers import answer, buttons, consent_menu, last_with_buttons, school, sent, texts
from tests.delivery_helpers import TG_CHAT
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness


async def _menu(h: Harness, user: int) -> dict[str, str]:
    return await consent_menu(h, user)


async def test_parent_sees_each_child_and_the_acknowledgement(harness: Harness) -> None:
    await school(harness)
    calls = await harness.text(PARENT_TWO, "/consent")
    text = texts(calls)[0]
    assert "Иванов Миша Андреевич (5А) — ответа нет" in text
    assert "Иванова Маша Андреевна (6Б) — ответа нет" in text
    # Said plainly before any button: a press is an acknowledgement, not a signature, and where
    # the signed original goes.
    assert "записывает ваше подтверждение" in text and "Это не собственноручная подпись" in text
    assert "Подписанный бумажный экземпляр согласия сдаётся классному руководителю" in text
    keys = buttons(calls[0])
    # The agree buttons appear only once the document was opened (declining needs no reading).
    assert not [k for k in keys if k.startswith("✅")]
    assert "❌ Не согласна: Маша" in keys and "🖨 Бланк для подписи: Маша" in keys
    keys = buttons(last_with_buttons(await harness.press(PARENT_TWO, keys["📄 Прочитать документ: Миша"])))
    assert "✅ Согласна: Миша" in keys and "✅ Согласна: Маша" not in keys
    assert "✅ Согласна — за всех детей" not in keys
    keys = buttons(last_with_buttons(await harness.press(PARENT_TWO, keys["📄 Прочитать документ: Маша"])))
    assert "✅ Согласна: Маша" in keys and "✅ Согласна — за всех детей" in keys


async def test_read_document_is_split_and_filled(harness: Harness) -> None:
    # The handler sends the document whole; Telegram's wire cuts it (bot/tg/wire_text.py).
    await school(harness)
    keys = await _menu(harness, PARENT_TWO)
    calls = await harness.press(PARENT_TWO, keys["📄 Прочитать документ: Миша"])
    parts = [m.text for m in sent(calls)][:-1]  # the menu is sent again after the document
    assert len(parts) > 1 and all(len(p) < 4096 for p in parts)
    assert [p.rsplit("\n", 1)[-1] for p in parts] == [f"({i}/{len(parts)})" for i in range(1, len(parts) + 1)]
    whole = "\n".join(parts)
    assert "Иванова Елена Викторовна" in whole and "обучающегося Иванова Миши Андреевича" in whole and "5А" in whole
    assert "СОШ № 1" in whole or "Средняя общеобразовательная школа № 1" in whole
    assert "ООО «Дневник.ру»" in whole and "ул. Яблочкова" in whole
    assert "{" not in whole


async def test_agree_gives_receipt_and_the_same_press_twice_writes_one_row(harness: Harness) -> None:
    await school(harness)
    first = buttons(last_with_buttons(await harness.text(PARENT_TWO, "/consent")))
    shown = sent(await harness.press(PARENT_TWO, first["📄 Прочитать документ: Миша"]))[:-1]
    keys = await _menu(harness, PARENT_TWO)
    data = keys["✅ Согласна: Миша"]
    calls = await harness.press(PARENT_TWO, data)
    receipt = next(t for t in texts(calls) if "Квитанция" in t)
    version = await harness.app.services.consent.current()
    assert "согласие дано" in receipt and "Иванов Миша Андреевич" in receipt
    assert "13:00:00 (Europe/Moscow)" in receipt or "10:00:00 (Europe/Moscow)" in receipt
    assert "2026-11-30 07:00:00 UTC" in receipt
    rows = await ConsentRepo.ledger_rows(harness.app.db.conn)
    assert len(rows) == 1 and rows[0].receipt_id in receipt
    # The ledger and the receipt carry the hash of the exact text the parent was shown, names filled in.
    text = "\n\n".join(re.sub(r"\n\n\(\d+/\d+\)$", "", html.unescape(m.text)) for m in shown)
    assert "Иванова Елена Викторовна" in text and "{" not in text
    assert f"версия {version.number}" in receipt and rows[0].sha256 == svc.sha256_text(text) in receipt
    assert rows[0].sha256 != version.sha256
    # Same button again: a new callback query, same decision -> polite no-op.
    calls = await harness.press(PARENT_TWO, data)
    assert answer(calls).text == "Это решение уже записано, ничего не изменилось."
    # The very same update delivered twice: effects once.
    update = {
        "update_id": 9999,
        "callback_query": {
            "id": "dup-1", "from": {"id": PARENT_TWO, "is_bot": False, "first_name": "E"}, "chat_instance": "c",
            "data": keys["✅ Согласна: Маша"],
            "message": {"message_id": 5, "date": 0, "chat": {"id": PARENT_TWO, "type": "private"}, "text": "…"},
        },
    }
    await harness.feed(dict(update))
    await harness.feed(dict(update))
    assert len(await ConsentRepo.ledger_rows(harness.app.db.conn)) == 2
    assert await harness.app.services.consent_gate.is_covered(harness.app.db.conn, rows[0].child_id)
    ledger = await ConsentRepo.ledger_rows(harness.app.db.conn)
    assert await harness.app.services.consent_gate.covered_children(harness.app.db.conn) == {r.child_id for r in ledger}


async def test_forged_child_and_stale_version_are_refused(harness: Harness) -> None:
    await school(harness)
    await _menu(harness, PARENT_ONE)
    pupils = await harness.app.people.with_role("student")
    misha = next(c for c in pupils if c.full_name.startswith("Иванов Миша"))
    version = await harness.app.services.consent.current()
    calls = await harness.press(PARENT_ONE, f"cns:give:{misha.id}:{version.number}")
    assert answer(calls).show_alert and "не указаны законным представителем" in (answer(calls).text or "")
    calls = await harness.press(PARENT_ONE, f"cns:read:{misha.id}:{version.number}")
    assert not sent(calls)
    parent_one = await harness.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
    assert parent_one is not None
    kolya = (await harness.app.people.children(parent_one.id))[0]
    calls = await harness.press(PARENT_ONE, f"cns:give:{kolya.id}:{version.number + 5}")
    assert "обновился" in (answer(calls).text or "")
    # Staff callbacks are re-checked too: the class teacher of 5А cannot open 6Б.
    calls = await harness.press(CLASS_TEACHER, "cst:class:6Б:0:")
    assert answer(calls).show_alert
    assert await ConsentRepo.ledger_rows(harness.app.db.conn) == []


async def test_withdraw_needs_confirmation_and_alerts_staff(harness: Harness) -> None:
    await school(harness)
    keys = await _menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    keys = await _menu(harness, PARENT_ONE)
    calls = await harness.press(PARENT_ONE, keys["↩️ Отозвать согласие: Коля"])
    confirm = next(c for c in calls if isinstance(c, EditMessageText))
    assert "Отозвать согласие" in (confirm.text or "")
    assert len(await ConsentRepo.ledger_rows(harness.app.db.conn)) == 1
    calls = await harness.press(PARENT_ONE, buttons(confirm)["Да, отозвать"])
    assert any("согласие отозвано" in t and "Квитанция" in t for t in texts(calls))
    rows = await ConsentRepo.ledger_rows(harness.app.db.conn)
    assert [r.decision for r in rows] == ["given", "withdrawn"]
    alerts = await harness.app.db.fetchall(f"SELECT {TG_CHAT} FROM outbox WHERE dedupe_key LIKE 'consent-withdrawn:%'")
    assert sorted(r[0] for r in alerts) == sorted([IT_OFFICER, CLASS_TEACHER])
    assert not await harness.app.services.consent_gate.is_covered(harness.app.db.conn, rows[0].child_id)


async def test_ledger_refuses_update_and_delete(harness: Harness) -> None:
    await school(harness)
    keys = await _menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    conn = harness.app.db.conn
    with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        await conn.execute("UPDATE consent_ledger SET decision = 'declined'")
    with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        await conn.execute("DELETE FROM consent_ledger")
    with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        await conn.execute("DELETE FROM consent_versions")
    assert len(await ConsentRepo.ledger_rows(conn)) == 1
