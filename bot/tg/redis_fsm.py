"""Conversation state in Redis (issue #27): aiogram's RedisStorage, so any worker behind the webhook
continues a dialogue another one started.

Keys: `<prefix>:fsm:<bot id>:<chat id>:<user id>:<destiny>:state` and `...:data` (aiogram's
DefaultKeyBuilder with the bot id and the destiny). The bot id keeps two bots' conversations with
the same person apart (one bot per school); a district bot that serves several schools through one
bot id keeps each school's conversation apart by aiogram's destiny (the school) or by a prefix per
school (REDIS_PREFIX): the hook is `fsm_key_builder`'s prefix. Entries of an abandoned dialogue
expire after STATE_TTL, as nobody is going to finish it.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage

from bot.tg.redis_rate import SOCKET_TIMEOUT

# A dialogue left half-way for a month is not coming back (the SQLite storage keeps it until it is
# emptied; Redis is memory, so it is bounded here).
STATE_TTL = timedelta(days=30)


def fsm_key_builder(prefix: str) -> DefaultKeyBuilder:
    return DefaultKeyBuilder(prefix=f"{prefix}:fsm", with_bot_id=True, with_destiny=True)


def redis_storage(url: str, *, prefix: str = "schoolbot") -> RedisStorage:
    return RedisStorage.from_url(
        url,
        connection_kwargs={"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT},
        key_builder=fsm_key_builder(prefix),
        state_ttl=STATE_TTL,
        data_ttl=STATE_TTL,
    )
