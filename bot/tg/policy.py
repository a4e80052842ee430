"""The channel policy for direct answers (issue #17, item 5): before a handler answers with something
personal, it asks ``may_send`` with the data class of what it is about to send.

The outbox sender applies the policy to every queued message; a direct answer goes to whichever
messenger asked, so it is checked here, the same way: on a channel that may not carry the class the
person gets the pointer text instead (where to get it: the bot in MAX, or paper from the class
teacher), and the send log records the pointer, and the paper path for a file or a code, with no
personal data in the log. Without a policy in force (a Telegram-only school without ``[channels]``)
everything may be sent, exactly as before.
"""

from __future__ import annotations

from aiogram.types import Message

from bot.channels import POINTER_KEY, POINTER_KEYS, Channel, ChannelRules, DataClass
from bot.clock import Clock
from bot.i18n import Translator
from storage.db import Database
from storage.messengers import MessengerRepo

PAPER_CLASSES = frozenset({DataClass.CREDENTIAL, DataClass.PERSONAL_FILE})
"""What the class teacher hands out on paper when a channel may not carry it."""


def pointer_text(t: Translator, data_class: DataClass) -> str:
    """The text sent instead of a message of ``data_class`` on a channel that may not carry it."""
    key = POINTER_KEYS.get(data_class, POINTER_KEY)
    if key == POINTER_KEY:
        return t(key, what=t(f"channels.what_{data_class.value}"))
    return t(key)


class AnswerPolicy:
    """Asked by a handler before it answers with something of a data class (handlers get it as
    ``policy``)."""

    def __init__(self, *, rules: ChannelRules, db: Database, clock: Clock) -> None:
        self.rules = rules
        self.db = db
        self.clock = clock

    async def may_send(self, message: Message | None, t: Translator, channel: Channel, data_class: DataClass) -> bool:
        """Whether ``channel`` may carry a direct answer of ``data_class``. When it may not, the
        pointer has been sent on ``message``'s chat (if there is one) and logged; the caller sends
        nothing more."""
        if not self.rules.forbids(channel, data_class):
            return True
        if message is not None:
            await message.answer(pointer_text(t, data_class))
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await MessengerRepo.log_send(conn, channel, data_class, "pointer", now)
            if data_class in PAPER_CLASSES:
                await MessengerRepo.log_send(conn, "paper", data_class, "paper", now)
        return False
