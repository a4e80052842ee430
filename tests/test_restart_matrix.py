"""A restart in the middle loses and repeats nothing (issue #23, "Done when"): the bot built as
`schoolbot run` builds it, for a Telegram-only school, a MAX-only school and a school on both, each
receiving updates by long polling and by webhook.

On every wire a staff member links by contact; the bot stops; while it is down the staff member asks
for /help and a parent opens the bot; the bot starts again on the same database (and, for webhooks,
the same port): each of those is answered exactly once, the parent links, and nothing answered before
the stop is answered again. The outbox across a restart: a notice sent before the stop is not sent
again, one that came due while the bot was down goes out once.

Polling resumes where it stopped (Telegram: the unconfirmed updates; MAX: the marker kept in the
database, without which MAX gives only the newest update). Webhooks: both platforms keep the updates
and post them again until the restarted bot answers 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.channels import DataClass
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from storage.outbox import Payload
from tests.codes_helpers import load_school, person_id
from tests.harness import (
    CLASS_TEACHER,
    DEFAULT_START,
    PARENT_ONE,
    PARENT_TWO,
    TEACHER,
    free_port,
    running_bot,
)
from tests.help_helpers import PHONES
from tests.test_max_e2e import MaxWire, TelegramWire, Wire

ASK = "Чтобы бот узнал вас"
ROLES = "Ваши роли"
# Where the policy keeps personal data off Telegram (a school on both), the welcome arrives as a
# pointer to MAX naming what it holds back.
POINTER = "Персональные данные"


def linked(text: str) -> bool:
    return ROLES in text or POINTER in text
HELP = "Вам доступно"


@dataclass
class Pair:
    """A staff member and a parent on one wire (roster names, ids on that wire)."""

    staff: Wire
    staff_name: str
    parent: Wire



def pairs(wires: str, tg: FakeTelegram, mx: FakeMax) -> list[Pair]:
    found: list[Pair] = []
    if wires in ("telegram", "both"):
        found.append(Pair(
            TelegramWire(tg, TEACHER, "Игорь", "Морозов", PHONES[TEACHER]), "Морозов Игорь Сергеевич",
            TelegramWire(tg, PARENT_TWO, "Елена", "Иванова", PHONES[PARENT_TWO]),
        ))  # fmt: skip
    if wires in ("max", "both"):
        # Other people than on Telegram: in a school on both, each wire carries its own.
        found.append(Pair(
            MaxWire(mx, 88_003, "Ольга", "Кузнецова", PHONES[CLASS_TEACHER].lstrip("+")),
            "Кузнецова Ольга Николаевна",
            MaxWire(mx, 88_006, "Олег", "Смирнов", PHONES[PARENT_ONE].lstrip("+")),
        ))  # fmt: skip
    return found


async def notify(app: App, full_name: str, text: str, *, not_before: datetime | None = None) -> None:
    person = await app.people.get(await person_id(app, full_name))
    assert person is not None
    async with app.db.transaction() as conn:
        await app.services.outbox.notify(
            conn, person, key=f"restart:{person.id}:{text}", payload=Payload(text=text), now=app.clock.now(),
            not_before=not_before, data_class=DataClass.PUBLIC,
        )  # fmt: skip


def count(texts: list[str], needle: str) -> int:
    if needle == ROLES:
        return len([t for t in texts if linked(t)])
    return len([t for t in texts if needle in t])


def texts_of(wire: Wire) -> list[str]:
    """Everything the bot sent this person, in order."""
    if isinstance(wire, MaxWire):
        return [m.plain for m in wire.mx.sent(wire.id)]
    assert isinstance(wire, TelegramWire)
    return [m.plain or "" for m in wire.tg.sent(wire.id)]


async def link(pair: Pair) -> None:
    await pair.staff.send("/start")
    await pair.staff.share_contact(await pair.staff.wait(lambda text: ASK in text))
    await pair.staff.wait(linked)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize("wires", ["telegram", "max", "both"])
async def test_a_restart_in_the_middle_loses_and_repeats_nothing(
    wires: str, mode: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    served: dict[str, Any] = {
        "mx": mx if wires != "telegram" else None,
        "telegram": wires != "max",
        "webhook_port": free_port() if mode == "webhook" else None,
    }
    people = pairs(wires, tg, mx)

    async with running_bot(tg, tmp_path, **served) as app:
        await load_school(app, with_codes=False)
        for pair in people:
            await link(pair)
        before = {id(pair): pair.staff.count() for pair in people}

    # The bot is down: what people do now waits at the platform.
    for pair in people:
        await pair.staff.send("/help")
        await pair.parent.send("/start")

    async with running_bot(tg, tmp_path, **served):
        for pair in people:
            await pair.staff.wait(lambda text: HELP in text, after=before[id(pair)])
            ask = await pair.parent.wait(lambda text: ASK in text)
            await pair.parent.share_contact(ask)
            await pair.parent.wait(linked)
            # A later update on each wire proves everything before it was consumed.
            await pair.parent.send("/help")
            await pair.parent.wait(lambda text: HELP in text)

    for pair in people:
        staff, parent = texts_of(pair.staff), texts_of(pair.parent)
        for needle in (ASK, ROLES, HELP):
            assert count(staff, needle) == 1, (needle, staff)
            assert count(parent, needle) == 1, (needle, parent)


@pytest.mark.parametrize("wires", ["telegram", "max", "both"])
async def test_the_outbox_loses_and_repeats_nothing_across_a_restart(
    wires: str, tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    """A notice sent before the stop is not sent again; one due while the bot was down goes out after
    the restart, once. (The outbox does not depend on how updates arrive: polling only.)"""
    served: dict[str, Any] = {"mx": mx if wires != "telegram" else None, "telegram": wires != "max"}
    clock = ManualClock(DEFAULT_START)
    people = pairs(wires, tg, mx)
    async with running_bot(tg, tmp_path, clock=clock, **served) as app:
        await load_school(app, with_codes=False)
        for pair in people:
            await link(pair)
            await notify(app, pair.staff_name, "Собрание в четверг в 18:00")
            await pair.staff.wait(lambda text: "Собрание в четверг" in text)
            await notify(app, pair.staff_name, "Педсовет в пятницу", not_before=clock.now() + timedelta(hours=1))

    clock.advance(timedelta(hours=2))
    async with running_bot(tg, tmp_path, clock=clock, **served) as app:
        app.wake_sender()
        for pair in people:
            await pair.staff.wait(lambda text: "Педсовет" in text)

    for pair in people:
        staff = texts_of(pair.staff)
        assert count(staff, "Собрание в четверг") == 1 and count(staff, "Педсовет") == 1, staff
