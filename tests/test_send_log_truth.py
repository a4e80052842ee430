"""The send log is the truth (issue #22, item 5): every request that put content before a person,
direct answer or outbox notice, allowed or replaced, has its row, with the channel, the data class,
the purpose and the outcome. Compared with the fake servers' own record of every call."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from bot.channels import Channel, DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.tg.limiter import SEND_METHODS
from bot.tg.policy import EDIT_METHODS
from storage.messengers import MessengerRepo, SendRecord
from storage.outbox import Payload
from tests.codes_helpers import load_school
from tests.harness import IT_OFFICER, PARENT_TWO, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import TelegramWire


def _content_calls(tg: FakeTelegram) -> Counter[str]:
    """The fake's record: content requests it answered (200) and refused (anything else), by outcome."""
    found: Counter[str] = Counter()
    for record in tg.requests:
        method = record.method
        content = method in SEND_METHODS or method in EDIT_METHODS or (
            method == "answerCallbackQuery" and record.params.get("text")
        )
        if content and record.status is not None:
            found["ok" if record.status == 200 else "failed"] += 1
    return found


def _logged(records: list[SendRecord]) -> Counter[str]:
    found: Counter[str] = Counter()
    for r in records:
        if r.channel == "telegram":
            found["failed" if r.outcome == "failed" else "ok"] += 1
    return found


async def _drive(tg: FakeTelegram, app: Any) -> None:
    """People use the bot: link by contact, codes, consent, the admin menu, a question; notices."""
    await load_school(app)
    officer = TelegramWire(tg, IT_OFFICER, "Пётр", "Петров", PHONES[IT_OFFICER])
    parent = TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO])
    for who in (officer, parent):
        await who.send("/start")
        await who.share_contact(await who.wait(lambda text: "поделитесь своим номером" in text))
        await who.wait(lambda text: "Ваши роли" in text or "🔒" in text)
    mark = parent.count()
    await parent.send("/codes")
    menu = await parent.wait(lambda text: bool(text), after=mark)
    labels = parent.labels(menu)
    if labels:
        await parent.press(menu, labels[0])
    mark = parent.count()
    await parent.send("/consent")
    await parent.wait(lambda text: "Согласие" in text or "🔒" in text, after=mark)
    await officer.send("/admin")
    await officer.wait(lambda text: "Администрирование" in text)
    person = await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    async with app.db.transaction() as conn:
        await app.services.outbox.notify(
            conn, person, key="t:notice", payload=Payload(text="Собрание в четверг"), now=app.clock.now(),
            data_class=DataClass.PUBLIC,
        )
    app.wake_sender()
    await parent.wait(lambda text: "Собрание в четверг" in text)


async def _settled(tg: FakeTelegram, app: Any) -> tuple[Counter[str], Counter[str], list[SendRecord]]:
    """The fake's count and the log's, once both stop changing (the log row follows the answer)."""
    repo = MessengerRepo(app.db)
    last: tuple[Counter[str], Counter[str]] | None = None
    for _ in range(300):
        await asyncio.sleep(0.05)
        records = await repo.send_log()
        now = (_content_calls(tg), _logged(records))
        if now == last and now[0] == now[1]:
            break
        last = now
    records = await repo.send_log()
    return _content_calls(tg), _logged(records), records


async def test_every_call_the_fake_saw_is_in_the_send_log(tg: FakeTelegram, tmp_path: Path) -> None:
    """A school that may use Telegram for everything: one log row per content call, not one missing."""
    async with running_bot(tg, tmp_path) as app:
        await _drive(tg, app)
        calls, logged, records = await _settled(tg, app)
    assert calls["ok"] >= 5
    assert logged == calls
    assert {r.outcome for r in records} <= {"sent", "failed"}
    assert "outbox:t" in {r.purpose for r in records}
    assert all(r.purpose for r in records)


async def test_under_the_municipal_rules_every_replacement_is_logged(tg: FakeTelegram, tmp_path: Path) -> None:
    """Telegram carries public notices only: what it may not carry went out as the pointer, and each
    such call is in the log as replaced (a pointer already given in the same answer is logged too)."""
    async with running_bot(tg, tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await _drive(tg, app)
        repo = MessengerRepo(app.db)
        for _ in range(300):
            await asyncio.sleep(0.05)
            records = await repo.send_log()
            if _logged(records)["ok"] >= _content_calls(tg)["ok"] and any(r.purpose == "outbox:t" for r in records):
                break
        calls = _content_calls(tg)
        records = await repo.send_log()
    logged = _logged(records)
    assert logged["ok"] >= calls["ok"] >= 5 and logged["failed"] == calls["failed"]
    pointers = [r for r in records if r.outcome == "pointer"]
    assert pointers and all(r.data_class is not DataClass.PUBLIC for r in pointers)
    assert all(not (r.channel == "telegram" and r.outcome == "sent" and r.data_class is not DataClass.PUBLIC)
               for r in records)
