"""A MAX-only school (#23): MAX_TOKEN and no Telegram token, as docs/max.md describes for a school
that may not use Telegram, built exactly as `schoolbot run` builds it against the fake MAX server.

Before accounts were rows, the outbox stored `chat_id = tg_user_id` and -person_id for everyone else,
and without a Telegram bot no channel policy routed the rows: the QR cards after consent, a
question to the IT officer, its answer and the consent nudges all went to `chat -7`, which MAX
answered with 404, and were lost. Here every one of them arrives at the fake MAX.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.max import channel_of
from storage.timefmt import to_db
from tests.codes_helpers import CODES, decode_qr, load_school, person_id
from tests.harness import IT_OFFICER, PARENT_ONE, PARENT_TWO, TEACHER, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import ELENA, MISHA, TEACHER_NAME, MaxWire

OLEG = "Смирнов Олег Павлович"



async def _eventually(check: Callable[[], Awaitable[bool] | bool], what: str, attempts: int = 500) -> None:
    # Real sends over a real socket to the fake: the condition is polled, time itself is the ManualClock.
    for _ in range(attempts):
        result = check()
        if await result if asyncio.iscoroutine(result) else result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not within 10 s")


def agree_label(label: str) -> bool:
    return label.startswith("✅") and "Миша" in label


def _person(mx: FakeMax, user_id: int, first: str, last: str) -> MaxWire:
    return MaxWire(mx, user_id, first, last, PHONES[user_id].lstrip("+"))


async def _by_contact(who: MaxWire) -> None:
    await who.send("/start")
    await who.share_contact(await who.wait(lambda text: "поделитесь своим номером" in text))
    await who.wait(lambda text: "Ваши роли" in text)


async def test_a_max_only_school_delivers_every_outbox_message(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_bot(tg, tmp_path, mx=mx, telegram=False) as app:
        assert app.bot is not None and channel_of(app.bot) is Channel.MAX and app.max_bot is None
        await load_school(app)

        # Onboarding by contact: a teacher gets their card on linking, through the outbox, on MAX.
        teacher = _person(mx, TEACHER, "Игорь", "Морозов")
        await _by_contact(teacher)
        await _eventually(lambda: len(teacher.photos()) == 1, "the teacher's card")
        assert decode_qr(teacher.photos()[0]) == [CODES[TEACHER_NAME]]
        officer = _person(mx, IT_OFFICER, "Пётр", "Петров")
        await _by_contact(officer)

        # Consent by the buttons, on MAX: the QR cards of the family follow through the outbox.
        elena = _person(mx, PARENT_TWO, "Елена", "Иванова")
        await _by_contact(elena)
        mark = elena.count()
        await elena.send("/consent")
        menu = await elena.wait(lambda text: "Согласие" in text or "согласие" in text, after=mark)
        read = next(label for label in elena.labels(menu) if label.startswith("📄") and "Миша" in label)
        await elena.press(menu, read)  # the agree button appears once the document was opened

        def agree(message: Any) -> bool:
            return any(agree_label(label) for label in message.buttons())

        holder = await mx.wait_for(PARENT_TWO, agree)
        await elena.press(holder, next(label for label in holder.buttons() if agree_label(label)))
        await _eventually(lambda: len(elena.photos()) == 2, "the family's two QR cards")
        assert sorted(decode_qr(p)[0] for p in elena.photos()) == sorted([CODES[MISHA], CODES[ELENA]])

        # Onboarding by a one-time link.
        oleg = _person(mx, PARENT_ONE, "Олег", "Смирнов")
        token = await app.services.onboarding.create_token(
            purpose="link", person_id=await person_id(app, OLEG), created_by=None
        )
        await oleg.send(f"/start {token}")
        await oleg.wait(lambda text: "Ваши роли" in text)
        linked = await app.people.by_account(Channel.MAX, PARENT_ONE)
        assert linked is not None and linked.full_name == OLEG
        assert [a.channel for a in linked.accounts] == ["max"]

        # A question to the IT officer and its answer, both through the outbox, both on MAX.
        mark = oleg.count()
        await oleg.send("Где взять справку для бассейна?")
        offer = await oleg.wait(lambda text: "Возможно, ответ здесь" in text, after=mark)
        await oleg.press(offer, oleg.labels(offer)[-1])
        notice = await officer.wait(lambda text: "Вопрос №1" in text)
        assert OLEG in str(notice.plain)

        async def notice_recorded() -> bool:  # the sender has written down which message the notice is
            key = "ticket:1:%"
            return bool(await app.db.fetchval(
                "SELECT count(*) FROM outbox WHERE status = 'sent' AND account_id IS NOT NULL AND dedupe_key LIKE ?",
                (key,),
            ))

        await _eventually(notice_recorded, "the notice recorded as sent")
        mark = oleg.count()
        await officer.send("Справку выдаёт медсестра, кабинет 3.", reply_to=notice)
        answer = await oleg.wait(lambda text: "медсестра" in text, after=mark)
        assert "Где взять справку для бассейна?" in str(answer.plain)

        # A consent nudge to the parent who has not decided, days later, in working hours.
        mark = oleg.count()
        start = app.clock.now()
        for day in range(1, 8):
            app.clock.set(start + timedelta(days=day))  # type: ignore[attr-defined]
            await app.tick()
            app.wake_sender()
            if any("Школа просит вас прочитать согласие" in (m.plain or "") for m in mx.sent(PARENT_ONE)[mark:]):
                break
        await oleg.wait(lambda text: "Школа просит вас прочитать согласие" in text, after=mark)

        # Nothing was lost on the way: every outbox row went out, to an account, on MAX.
        async def drained() -> bool:
            left = await app.db.fetchval(
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?",
                (to_db(app.clock.now()),),
            )
            return int(left or 0) == 0

        await _eventually(drained, "the outbox drained")
        rows = await app.db.fetchall(
            "SELECT o.status, a.channel FROM outbox o LEFT JOIN accounts a ON a.id = o.account_id"
            " WHERE o.status != 'pending'"
        )
        assert rows and {(r["status"], r["channel"]) for r in rows} == {("sent", "max")}
    logged = [r.getMessage() for r in caplog.records]
    assert not [line for line in logged if "refused by" in line]
    # The start-up log says the school works through MAX, and does not warn about Telegram.
    assert "Бот работает через MAX: сообщения идут людям в этих мессенджерах." in logged
    assert not [line for line in logged if "работает только через Telegram" in line]
