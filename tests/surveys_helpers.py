"""A school big enough for anonymous surveys (groups of five or more) and helpers to read what the
bot queued."""

from __future__ import annotations

from typing import Any

from bot.channels import Channel
from bot.services.imports import ImportOptions
from storage.outbox import Payload
from tests.delivery_helpers import TG_CHAT
from tests.harness import ROSTER_ROWS, Harness, csv_bytes

# The small school of tests.harness plus six teachers and six parents of 6Б: Telegram ids 2001-2006
# (teachers) and 3001-3006 (parents).
EXTRA_TEACHERS = [(2000 + i, f"Учителева{i} Мария Петровна", f"+7900100000{i}") for i in range(1, 7)]
EXTRA_PARENTS = [(3000 + i, f"Родителев{i} Павел Ильич", f"+7900200000{i}") for i in range(1, 7)]
EXTRA_PUPILS = [f"Ученик{i} Артём Павлович" for i in range(1, 7)]


def big_roster() -> list[list[str]]:
    rows = [list(r) for r in ROSTER_ROWS]
    rows += [[name, "учитель", "", phone, ""] for _, name, phone in EXTRA_TEACHERS]
    rows += [[pupil, "ученик", "6Б", "", ""] for pupil in EXTRA_PUPILS]
    rows += [[name, "родитель", "", phone, f"{pupil} (6Б)"]
             for (_, name, phone), pupil in zip(EXTRA_PARENTS, EXTRA_PUPILS, strict=True)]
    return rows


PHONES = {1001: "+79000000001", 1002: "+79000000002", 1003: "+79000000003", 1004: "+79000000004",
          1005: "+79000000005", 1006: "+79000000006"}
PHONES.update({tg: phone for tg, _, phone in EXTRA_TEACHERS + EXTRA_PARENTS})


async def big_school(h: Harness) -> None:
    outcome = await h.app.importers["roster"].run(csv_bytes(big_roster()), "roster.csv", ImportOptions())
    assert outcome.ok and outcome.applied, outcome.errors
    for tg_id, phone in PHONES.items():
        await h.contact(tg_id, phone, tg_id)
        assert await h.app.people.by_account(Channel.TELEGRAM, tg_id) is not None, tg_id


async def queued(h: Harness, pattern: str) -> list[tuple[str, int | None, Payload, str]]:
    """(dedupe key, chat id, payload, status) of outbox rows whose key matches `pattern` (SQL LIKE)."""
    rows = await h.app.db.fetchall(
        f"SELECT dedupe_key, {TG_CHAT}, payload, status FROM outbox WHERE dedupe_key LIKE ? ORDER BY id", (pattern,)
    )
    return [(r[0], r[1], Payload.from_json(r[2]), r[3]) for r in rows]


def markup_data(payload: Payload) -> list[str]:
    markup: Any = payload.reply_markup or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
