"""One Redis client per URL in a process (issue #27), shared by every school and every bot it serves.

With REDIS_URL set, each school's conversation state (bot/tg/redis_fsm.py) and each bot token's send
budget (bot/tg/redis_rate.py) talk to Redis. Each used to open a client of its own, and each client a
pool of its own: a district process of 300 schools held up to about 900 pools (a school's
conversations, its Telegram bot's budget, its MAX bot's budget), each keeping at least one socket to
Redis open once used, and one file descriptor per socket. Nothing in them is per school: keys carry the
school (`REDIS_PREFIX.<school key>`), the bot id and the token's digest, never the connection. So a
process holds ONE client per distinct URL, on ONE pool of at most REDIS_MAX_CONNECTIONS sockets
(`MAX_CONNECTIONS` by default), whatever the number of schools and bots.

The pool blocks instead of opening more: a command that finds every socket busy waits for one (at most
SOCKET_TIMEOUT, then it fails as an unreachable Redis does: the send paces alone, the update gets the
apology). A command holds its socket for well under a millisecond on the district's own machine, and a
limiter asks one command at a time, so 16 sockets carry several thousand commands a second, far more
than a worker's updates and 30 sends a second per token need (docs/redis.md has the figure and the
LimitNOFILE arithmetic of deploy/systemd/schoolbot@.service).

Every user takes a `RedisLease` and closes it when it is done; the client (and its sockets) is closed
once, when the last lease of it closes: a school that stops first never closes the client under
another school still using it, and closing a lease twice releases it once. Clients are kept apart per
event loop (a client's sockets belong to the loop they were opened in): an application built and run
in one loop shares one client; a later loop (the next test) gets its own.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis

# Redis answers within this or it counts as unreachable (the limiter then paces alone; an update's state
# read fails into the apology). Also how long a command waits for a free socket of the pool.
SOCKET_TIMEOUT = 2.0
# Sockets to Redis one process keeps at most per URL (REDIS_MAX_CONNECTIONS): see the module's text.
MAX_CONNECTIONS = 16


@dataclass(eq=False)
class _Shared:
    client: Redis
    users: int = 0


# Loop -> URL -> the shared client; clients made outside a running loop (a bot built before
# asyncio.run) sit in `_unbound`. A loop that is gone takes its (closed, or leaked) clients with it.
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Shared]] = weakref.WeakKeyDictionary()
_unbound: dict[str, _Shared] = {}


def _clients() -> dict[str, _Shared]:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _unbound
    return _by_loop.setdefault(loop, {})


def client_name() -> str:
    """What this process's sockets are called in Redis (`CLIENT LIST` shows `name=schoolbot.<pid>`):
    an operator counts a worker's connections against REDIS_MAX_CONNECTIONS with it."""
    return f"schoolbot.{os.getpid()}"


def _new_client(url: str, max_connections: int) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=SOCKET_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, client_name=client_name(),
    )
    return Redis(connection_pool=pool)


class RedisLease:
    """One user's hold on the process's client for `url` (`client`). The first lease of a URL makes
    the client, with `max_connections` sockets at most (later leases share it as it is); `close()`
    releases this lease, once, and the last one closes the client."""

    def __init__(self, url: str, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self._clients = _clients()
        self._url = url
        shared = self._clients.get(url)
        if shared is None:
            shared = self._clients[url] = _Shared(_new_client(url, max_connections))
        shared.users += 1
        self._shared: _Shared | None = shared
        self.client = shared.client

    @property
    def closed(self) -> bool:
        return self._shared is None

    async def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is None:
            return  # released already: a second close is no second release
        shared.users -= 1
        if shared.users > 0:
            return
        if self._clients.get(self._url) is shared:
            del self._clients[self._url]
        await shared.client.aclose(close_connection_pool=True)


def clients_in_use() -> int:
    """How many shared clients this loop (or, outside one, the process) holds open: one per URL."""
    return len(_clients())
