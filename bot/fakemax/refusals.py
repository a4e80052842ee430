"""How the fake MAX refuses a request: MAX's error answer and the per-bot rate limit."""

from __future__ import annotations

from collections.abc import Callable


class MaxApiError(Exception):
    """An error answer: HTTP status plus MAX's ``code`` and ``message`` (the Error schema)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class RateBucket:
    """``rate`` requests per second with a burst of ``rate`` (MAX: 30 rps per bot)."""

    def __init__(self, rate: float, now: Callable[[], float]) -> None:
        self.rate = rate
        self._now = now
        self._tokens = rate
        self._stamp = now()

    def admit(self) -> bool:
        now = self._now()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
