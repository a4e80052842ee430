"""The MAX session behind the application's one send limiter (bot/tg/limiter.py), as the Telegram Bot's is.

MAX allows a bot 30 requests per second; the limiter paces sends (globally and per chat) before they
reach ``MaxSession``, and a 429 that still comes back pauses it, exactly as for Telegram.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.max.session import MAX_API_URL, MaxSession
from bot.tg.limiter import EDIT_METHODS, SEND_METHODS, LimitedSession, SendLimiter

# The aiogram Bot of MAX needs a Telegram-shaped token; its numeric part keys the FSM storage, so it
# must differ from any Telegram bot's id (those are positive): the MAX bot's FSM keys never mix.
MAX_FSM_BOT_ID = 0


class LimitedMaxSession(LimitedSession, MaxSession):
    """``LimitedSession`` paces, then ``MaxSession`` carries the method over MAX.

    MAX counts every request toward its 30 per second, not only sends and edits: callback answers,
    chat actions, command lists and the bot's own info take a slot of the limiter's global bucket
    too. The long poll does not (one at a time, held open for up to 90 s).
    """

    def __init__(self, limiter: SendLimiter, **kwargs: Any) -> None:
        super().__init__(limiter, **kwargs)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = str(getattr(method, "__api_method__", type(method).__name__))
        if name not in SEND_METHODS and name not in EDIT_METHODS and not isinstance(method, GetUpdates):
            await self.limiter.acquire(None, per_chat=False)
        return await super().make_request(bot, method, timeout)


def build_limited_max_bot(
    token: str, api_url: str | None, limiter: SendLimiter, **session_kwargs: Any
) -> Bot:
    session = LimitedMaxSession(limiter, token=token, api_url=api_url or MAX_API_URL, **session_kwargs)
    return Bot(f"{MAX_FSM_BOT_ID}:max", session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
