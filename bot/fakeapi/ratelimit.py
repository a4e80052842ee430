"""Token buckets that mimic Telegram's flood control closely enough for benchmarks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` stored."""

    def __init__(self, rate: float, burst: float, now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._now = now
        self._tokens = self.burst
        self._stamp = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill()
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self._tokens -= 1.0


class RateLimiter:
    """A global bucket plus one bucket per chat.

    A send is admitted only when both buckets have a token; a refused send consumes nothing (Telegram
    does not charge refused requests either), and the caller is told ``ceil(wait)`` seconds, never 0.
    """

    def __init__(self, global_rate: float, per_chat_rate: float, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._per_chat_rate = per_chat_rate
        self._global = TokenBucket(global_rate, burst=global_rate, now=now)
        self._chats: dict[int | str, TokenBucket] = {}

    def check(self, chat_id: int | str) -> int | None:
        """Admit a send (consuming tokens) and return None, or return the retry_after to report."""
        chat = self._chats.get(chat_id)
        if chat is None:
            # Per-chat burst is 1: Telegram allows about one message per second in a chat.
            chat = self._chats[chat_id] = TokenBucket(self._per_chat_rate, burst=1.0, now=self._now)
        wait = max(self._global.wait_time(), chat.wait_time())
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global.take()
        chat.take()
        return None
