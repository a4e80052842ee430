"""An update delivered twice (same update_id, as after a crash while polling) has its effects once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiogram.methods import SendMessage

from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from bot.tg.callbacks import BcAudience, BcConfirm
from tests.harness import PARENT_TWO, Harness, roster_csv, running_bot


def _contact_update(update_id: int, user_id: int, phone: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Елена", "language_code": "ru"},
            "contact": {"phone_number": phone, "first_name": "Елена", "user_id": user_id},
        },
    }


async def _roster(h: Harness) -> None:

    report = await h.app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=h.clock.now())
    assert report.ok


async def test_repeated_update_is_skipped(harness: Harness) -> None:
    await _roster(harness)
    first = await harness.feed(_contact_update(9001, PARENT_TWO, "+79000000005"))
    assert any(isinstance(c, SendMessage) for c in first)
    again = await harness.feed(_contact_update(9001, PARENT_TWO, "+79000000005"))
    assert again == []
    assert await harness.app.db.fetchval("SELECT count(*) FROM processed_updates WHERE update_id = 9001") == 1


def _press_update(update_id: int, user_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Пётр", "language_code": "ru"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 5,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": 42, "is_bot": True, "first_name": "SchoolBot"},
                "text": "…",
            },
        },
    }


async def test_concurrent_duplicates_have_effects_once(harness: Harness) -> None:
    """Both copies pass the "already processed?" read before either writes: the processed-update
    insert inside the first write transaction makes the second roll back its effects."""
    await _roster(harness)
    await harness.admin_start()
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await harness.text(1, "/broadcast")
    await harness.press(1, BcAudience(kind="parents").pack())
    await harness.text(1, "Собрание")
    await asyncio.gather(
        harness.feed(_press_update(7001, 1, BcConfirm(ok=True).pack())),
        harness.feed(_press_update(7001, 1, BcConfirm(ok=True).pack())),
    )
    assert await harness.app.db.fetchval("SELECT count(*) FROM broadcasts") == 1
    assert await harness.app.db.fetchval("SELECT count(*) FROM outbox") == 1

    await harness.app.watchers.stop()


async def test_duplicate_update_from_the_server(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path, admin_ids=[1]) as app:

        assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
        tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")
        update = _contact_update(0, PARENT_TWO, "+79000000005")
        del update["update_id"]
        update_id = tg.push_update(update)
        await tg.wait_for(PARENT_TWO, lambda m: "Иванова Елена Викторовна" in (m.plain or ""))
        replies = len(tg.sent(PARENT_TWO))
        tg.push_update({**update, "update_id": update_id})  # the same update again
        # A later update proves the duplicate was consumed (updates are handled in order).
        admin = tg.user(1, "Пётр")
        await admin.send("/start")
        await tg.wait_for(1)
        await asyncio.sleep(0.2)
        assert len(tg.sent(PARENT_TWO)) == replies
        assert await app.db.fetchval("SELECT count(*) FROM processed_updates WHERE update_id = ?", (update_id,)) == 1
        person = await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
        assert person is not None
