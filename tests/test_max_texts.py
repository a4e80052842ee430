"""What MAX users and the operator read about MAX: texts written for the wire they travel on."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.max.limited import build_limited_max_bot
from bot.tg.limiter import SendLimiter
from tests.codes_helpers import load_school
from tests.harness import TEACHER, running_bot
from tests.help_helpers import PHONES


async def test_a_send_max_refuses_is_logged_as_refused_by_max(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The staff member's code card goes out through the outbox on MAX; MAX refuses its upload."""
    caplog.set_level(logging.ERROR, logger="bot.tg.sender_row")
    mx.fail_operation["getUploadUrl"] = [400]
    async with running_bot(tg, tmp_path, mx=mx) as app:
        await load_school(app)
        teacher = mx.user(TEACHER, "Игорь", "Морозов", phone=PHONES[TEACHER].lstrip("+"))
        await teacher.start()
        ask = await mx.wait_for(TEACHER, lambda m: "поделитесь своим номером" in m.plain)
        await teacher.press(ask, "📱 Поделиться номером телефона")
        await mx.wait_for(TEACHER, lambda m: "Ваши роли" in m.plain)
        for _ in range(400):
            if any("refused by" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    refusals = [r.getMessage() for r in caplog.records if "refused by" in r.getMessage()]
    assert refusals and all("refused by MAX: MAX 400" in line for line in refusals), refusals


async def test_a_direct_answer_throttled_by_max_is_logged_as_max(
    mx: FakeMax, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.tg.limiter")
    mx.user(7401, "Ольга")
    mx.fail_operation["sendMessage"] = [429]
    bot = build_limited_max_bot(mx.token, mx.base_url, SendLimiter(), max_retries=0)
    try:
        await bot.send_message(7401, "Ответ")  # an interactive answer: paused, then sent again
    finally:
        await bot.session.close()
    assert [m.plain for m in mx.sent(7401)] == ["Ответ"]
    waits = [r.getMessage() for r in caplog.records if "asks to wait" in r.getMessage()]
    assert waits and all(line.startswith("MAX asks to wait") for line in waits), waits
