"""The MAX session behind the application's one send limiter (bot/tg/limiter.py), as the Telegram Bot's is.

MAX allows a bot 30 requests per second; the limiter paces sends (globally and per chat) before they
reach ``MaxSession``, and a 429 that still comes back pauses it, exactly as for Telegram.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from bot.max.session import MAX_API_URL, MaxSession
from bot.tg.limiter import LimitedSession, SendLimiter

# The aiogram Bot of MAX needs a Telegram-shaped token; its numeric part keys the FSM storage, so it
# must differ from any Telegram bot's id (those are positive): the MAX bot's FSM keys never mix.
MAX_FSM_BOT_ID = 0


class LimitedMaxSession(LimitedSession, MaxSession):
    """``LimitedSession`` paces, then ``MaxSession`` carries the method over MAX."""

    def __init__(self, limiter: SendLimiter, **kwargs: Any) -> None:
        super().__init__(limiter, **kwargs)


def build_limited_max_bot(
    token: str, api_url: str | None, limiter: SendLimiter, **session_kwargs: Any
) -> Bot:
    session = LimitedMaxSession(limiter, token=token, api_url=api_url or MAX_API_URL, **session_kwargs)
    return Bot(f"{MAX_FSM_BOT_ID}:max", session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
