"""One bot token's send budget in Redis, shared by every worker process that sends with the token
(issue #27; the `SharedBudget` of bot/tg/limiter.py, used by Telegram's and MAX's sessions alike).

Telegram and MAX count about 30 messages per second per token, and Telegram about one per second per
chat, whichever process sends. Each worker's limiter orders its own waiters and asks this budget for
the send it picked; one Lua script decides atomically on the Redis server:

- the token's global pace, a GCRA (the "theoretical arrival time" `tat` moves 1/rate per send) with
  no burst: at most `rate` sends in any one-second window, whichever workers send them (Telegram's
  own bucket tolerates a burst; none is needed here, and none means the promise holds exactly);
- the bulk cap (`bulk_tat`, the outbox's own rate inside the global one);
- the chat's pace: the next moment the chat may get a message (1 s plus the limiter's margin) after
  the previous send to it ENDED (bot/tg/limiter.py CHAT_MARGIN says why not after its grant): a send
  granted with a `flight` hold keeps the chat until `sent` (a second script, run when the request
  has ended) sets its next moment from then; a worker that dies mid-send leaves a hold that lapses
  `flight` seconds later by itself. Another worker refused by a hold is told to ask again within one
  chat interval, not to wait out the whole hold;
- a 429's pause: no send with the token until `paused`, and the bucket starts empty after it.

Keys (docs/redis.md): `<prefix>:rate:<wire>:{<digest>}` a hash (tat, bulk_tat, paused) and
`<prefix>:rate:<wire>:{<digest>}:chat:<chat id>` the chat's next moment, each expiring once idle. The
digest is the first 16 hex digits of SHA-256 of the token: the token itself is never in a key or a
log line. The braces keep a token's keys in one Redis Cluster slot, as a script needs.

Time is the Redis server's (`TIME`), so every worker, on any machine, measures against one clock; a
refusal comes back as a duration, which each limiter adds to its own monotonic clock. Tests may pass
`now` (their hand-moved clock) instead, sent to the script as its time.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from bot.tg.limiter import SharedBudgetUnavailable, Verdict
from bot.tg.redis_clients import MAX_CONNECTIONS, RedisLease

# How long an idle token's state stays (seconds); a pause keeps it at least as long as the pause.
STATE_TTL = 3600

_RESERVE = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = tonumber(ARGV[2])
local bulk_interval = tonumber(ARGV[3])
local chat_interval = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local flight = tonumber(ARGV[6])
local eps = 1e-9
-- Moments are stored to the microsecond, rounded up (past a nanosecond of float noise): a stored
-- moment is never earlier than the pace allows, so rounding never fits one send more into a second.
local function up(t) return string.format('%.6f', math.ceil(t * 1000000 - 0.001) / 1000000) end
local state = redis.call('HMGET', KEYS[1], 'tat', 'bulk_tat', 'paused')
local tat = math.max(tonumber(state[1]) or 0, now)
local bulk_tat = math.max(tonumber(state[2]) or 0, now)
local paused = tonumber(state[3]) or 0
local wait = math.max(paused - now, tat - now, 0)
local bulk_wait = 0
if bulk_interval > 0 then bulk_wait = bulk_tat - now end
local chat_tat = now
local chat_wait = 0
if chat_interval > 0 then
  chat_tat = math.max(tonumber(redis.call('GET', KEYS[2])) or 0, now)
  -- A hold for a send in flight ends when that send does: ask again within one interval.
  chat_wait = math.min(chat_tat - now, chat_interval)
end
if wait > eps or bulk_wait > eps or chat_wait > eps then
  return {0, string.format('%.9f', wait), string.format('%.9f', bulk_wait), string.format('%.9f', chat_wait)}
end
redis.call('HSET', KEYS[1], 'tat', up(tat + interval))
if bulk_interval > 0 then
  redis.call('HSET', KEYS[1], 'bulk_tat', up(bulk_tat + bulk_interval))
end
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
local held = ''
if chat_interval > 0 then
  local next_at = chat_tat + chat_interval + flight
  held = up(next_at)
  redis.call('SET', KEYS[2], held, 'PX', math.ceil((next_at - now) * 1000) + 1000)
end
return {1, string.format('%.6f', now), held}
"""

# A send granted with a hold has ended: the chat's next moment is one interval from now (the server's
# time, after the send's answer came back). Our own hold is replaced; anything else stored (our hold
# lapsed and another worker's grant followed) is only ever pushed later, never earlier.
_SENT = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function up(t) return string.format('%.6f', math.ceil(t * 1000000 - 0.001) / 1000000) end
local next_at = now + tonumber(ARGV[2])
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[3] then
  next_at = math.max(tonumber(current) or 0, next_at)
end
redis.call('SET', KEYS[1], up(next_at), 'PX', math.ceil((next_at - now) * 1000) + 1000)
return 1
"""

_PAUSE = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function up(t) return string.format('%.6f', math.ceil(t * 1000000 - 0.001) / 1000000) end
local seconds = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tat', 'bulk_tat', 'paused')
local paused = math.max(tonumber(state[3]) or 0, now + seconds)
-- The messenger's bucket is empty: after the pause, start from an empty one as well.
redis.call('HSET', KEYS[1], 'paused', up(paused),
  'tat', up(math.max(tonumber(state[1]) or 0, paused)),
  'bulk_tat', up(math.max(tonumber(state[2]) or 0, paused)))
redis.call('EXPIRE', KEYS[1], math.max(ttl, math.ceil(paused - now) + 60))
return string.format('%.6f', paused - now)
"""


def token_digest(token: str) -> str:
    """What stands for a token in keys and logs: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def budget_key(prefix: str, wire: str, token: str) -> str:
    return f"{prefix}:rate:{wire}:{{{token_digest(token)}}}"


class RedisBudget:
    """`SharedBudget` on Redis for one token, on the process's shared client for its URL (`lease`,
    bot/tg/redis_clients.py). `grants` keeps the server's time of the latest grants (tests and
    benchmarks read what Redis granted)."""

    def __init__(
        self, lease: RedisLease, *, token: str, wire: str, prefix: str = "schoolbot",
        now: Callable[[], float] | None = None,
    ) -> None:
        self.lease = lease
        self.redis = redis = lease.client
        self.key = budget_key(prefix, wire, token)
        self._now = now
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)
        self._sent = redis.register_script(_SENT)
        self.grants: deque[float] = deque(maxlen=10_000)
        # chat id -> the hold this process stored for its send in flight (what `sent` replaces).
        self._holds: dict[int | str, str] = {}

    def _time(self) -> float:
        return self._now() if self._now is not None else -1.0

    def _chat_key(self, chat_id: int | str) -> str:
        return f"{self.key}:chat:{chat_id}"

    async def reserve(
        self, chat_id: int | str | None, *, rate: float, bulk_rate: float | None, chat_interval: float | None,
        flight: float = 0.0,
    ) -> Verdict:
        per_chat = bool(chat_interval) and chat_id is not None
        chat_key = self._chat_key(chat_id) if per_chat and chat_id is not None else self.key
        args: list[Any] = [
            self._time(), 1.0 / rate, 1.0 / bulk_rate if bulk_rate else 0.0,
            chat_interval if per_chat else 0.0, STATE_TTL, flight if per_chat else 0.0,
        ]
        try:
            answer = await self._reserve(keys=[self.key, chat_key], args=args)
        except (RedisError, OSError) as exc:
            raise SharedBudgetUnavailable(type(exc).__name__) from None
        if int(answer[0]) == 1:
            self.grants.append(float(answer[1]))
            if per_chat and flight > 0 and chat_id is not None:
                held = answer[2]
                self._holds[chat_id] = held.decode() if isinstance(held, bytes) else str(held)
            return Verdict(granted=True)
        return Verdict(granted=False, wait=float(answer[1]), bulk_wait=float(answer[2]), chat_wait=float(answer[3]))

    async def sent(self, chat_id: int | str, *, chat_interval: float) -> None:
        held = self._holds.pop(chat_id, "")
        try:
            await self._sent(keys=[self._chat_key(chat_id)], args=[self._time(), chat_interval, held])
        except (RedisError, OSError) as exc:
            raise SharedBudgetUnavailable(type(exc).__name__) from None

    async def pause(self, seconds: float) -> None:
        try:
            await self._pause(keys=[self.key], args=[self._time(), max(0.0, seconds), STATE_TTL])
        except (RedisError, OSError) as exc:
            raise SharedBudgetUnavailable(type(exc).__name__) from None

    async def close(self) -> None:
        """Release this budget's hold on the shared client (closed with its last user)."""
        await self.lease.close()


def redis_budget(
    url: str, token: str, *, wire: str, prefix: str = "schoolbot", now: Callable[[], float] | None = None,
    max_connections: int = MAX_CONNECTIONS,
) -> RedisBudget:
    """The budget of `token` on the process's client for REDIS_URL, which gives up quickly: a send
    waits at most SOCKET_TIMEOUT for Redis before its process paces alone (bot/tg/limiter.py).
    Sockets are opened on first use."""
    return RedisBudget(RedisLease(url, max_connections=max_connections), token=token, wire=wire, prefix=prefix,
                       now=now)
