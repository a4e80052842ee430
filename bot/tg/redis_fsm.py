"""Conversation state in Redis (issue #27): aiogram's RedisStorage, so any worker behind the webhook
continues a dialogue another one started.

Keys: `<prefix>:fsm:<bot id>:<chat id>:<user id>:<destiny>:state` and `...:data` (aiogram's
DefaultKeyBuilder with the bot id and the destiny). The bot id keeps two bots' conversations with
the same person apart (one bot per school); a district bot that serves several schools through one
bot id keeps each school's conversation apart by aiogram's destiny (the school) or by a prefix per
school (REDIS_PREFIX): the hook is `fsm_key_builder`'s prefix. Entries of an abandoned dialogue
expire after STATE_TTL, as nobody is going to finish it.

Every school's storage talks through the process's one client for the URL (bot/tg/redis_clients.py):
the keys, not the connection, keep schools apart, and closing a school's storage releases its hold on
the client instead of closing it under the other schools.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage

from bot.tg.redis_clients import MAX_CONNECTIONS, RedisLease

# A dialogue left half-way for a month is not coming back (the SQLite storage keeps it until it is
# emptied; Redis is memory, so it is bounded here).
STATE_TTL = timedelta(days=30)


def fsm_key_builder(prefix: str) -> DefaultKeyBuilder:
    return DefaultKeyBuilder(prefix=f"{prefix}:fsm", with_bot_id=True, with_destiny=True)


class SharedRedisStorage(RedisStorage):
    """aiogram's RedisStorage on a lease of the process's shared client: `close()` releases the lease
    (the client closes with its last user), where aiogram's would close the pool every school uses."""

    def __init__(self, lease: RedisLease, *, prefix: str) -> None:
        super().__init__(lease.client, key_builder=fsm_key_builder(prefix), state_ttl=STATE_TTL, data_ttl=STATE_TTL)
        self.lease = lease

    async def close(self) -> None:
        await self.lease.close()


def redis_storage(url: str, *, prefix: str = "schoolbot", max_connections: int = MAX_CONNECTIONS) -> RedisStorage:
    return SharedRedisStorage(RedisLease(url, max_connections=max_connections), prefix=prefix)
