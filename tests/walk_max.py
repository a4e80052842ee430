"""The walk's MAX side (issue #22, item 6): the same Dispatcher fed updates that arrive through a Bot
whose session is a MAX session, so ``channel_of`` says MAX, the accounts linked through it are MAX
accounts, the SendGuard applies MAX's rules and the wire's text middleware fits texts to MAX's
limits. Its requests are recorded in-process like the Telegram mock's (the walk makes hundreds of
steps: over the fake MAX server's sockets it would take minutes); what MAX's HTTP protocol does with
them is tests/test_max_*.py's business."""

from __future__ import annotations

import itertools
from collections import deque

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import User

from bot.channels import Channel
from bot.max import MaxSession, channel_of
from bot.tg.wire_text import WireText
from tests.harness import Harness
from tests.mocked_bot import MockedBot, RecordingSession

MAX_BOT_ID = 77
MAX_USERNAME = "school_max_bot"


class RecordingMaxSession(RecordingSession, MaxSession):
    """A MaxSession (MAX's text limits, MAX as its channel) whose requests are recorded and answered
    like the Telegram mock's, never sent."""

    def __init__(self) -> None:
        # Not RecordingSession.__init__: its super() would reach MaxSession without a token.
        MaxSession.__init__(self, "max-walk-token", "http://127.0.0.1:9")
        self.middleware(WireText())  # as build_max_bot sets up the MAX session
        self.calls = []
        self.queued = deque()
        self.files = {}
        self._ids = itertools.count(1000)


class MaxMockedBot(MockedBot):
    """The school's bot in MAX, recording what it sends."""

    def __init__(self) -> None:
        Bot.__init__(
            self, f"{MAX_BOT_ID}:max", session=RecordingMaxSession(),
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        self._me = User(id=MAX_BOT_ID, is_bot=True, first_name="Школа", username=MAX_USERNAME)


def max_side(h: Harness) -> Harness:
    """The same application and Dispatcher, reached through MAX (update ids shared with ``h``: the
    update guard drops an id seen before). MAX is served from now on: pointers on Telegram lead to
    the school's bot in MAX."""
    bot = MaxMockedBot()
    assert channel_of(bot) is Channel.MAX
    side = Harness(h.app, bot, h.dp)
    side._update_ids = h._update_ids  # one update counter for both wires
    side._message_ids = h._message_ids
    h.app.send_guard.protect(bot)
    h.app.send_guard.serve_max(MAX_USERNAME)
    return side
