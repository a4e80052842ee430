"""Injected faults: errors forced on the next calls of a method, and random storms of 429s, 5xx,
timeouts (the request is held, then its connection dropped) and lost replies (performed, then
dropped). bot/fakeapi/routes.py carries them out."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from bot.fakeapi.errors import DEFAULT_DESCRIPTIONS, ApiError, too_many_requests
from bot.fakeapi.methods import canonical

FAULT_KINDS = frozenset({"429", "500", "502", "timeout", "lost"})


@dataclass
class Fault:
    status: int  # 0: drop the connection instead of answering
    retry_after: int | None = None
    description: str | None = None
    lost: bool = False  # perform the call, then drop the connection (the reply is lost)
    count: int = 1

    def error(self) -> ApiError:
        if self.status == 429:
            retry_after = self.retry_after or 1
            error = too_many_requests(retry_after)
            if self.description:
                error.description = self.description
            return error
        description = self.description or DEFAULT_DESCRIPTIONS.get(self.status, f"Error {self.status}")
        parameters = {"retry_after": self.retry_after} if self.retry_after else None
        return ApiError(self.status, description, parameters)


class Faults:
    """Fault injection, mixed into FakeTelegram; faults are kept per canonical method name."""

    def __init__(self) -> None:
        super().__init__()
        self._forced: dict[str, deque[Fault]] = {}
        self._fault_rate = 0.0
        self._fault_kinds: tuple[str, ...] = ()
        self._fault_methods: frozenset[str] = frozenset()
        self._fault_rng = random.Random(0)

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error instead of performing them.

        ``status`` 429 carries ``parameters.retry_after`` (default 1); status 0 drops the connection
        (a network timeout for the client). The call is not performed."""
        self._forced.setdefault(canonical(method), deque()).append(
            Fault(status, retry_after=retry_after, description=description, count=count)
        )

    def set_faults(
        self,
        rate: float,
        *,
        kinds: Sequence[str] = ("429", "500", "timeout"),
        seed: int = 0,
        methods: Sequence[str] = ("sendMessage", "sendPhoto", "sendDocument"),
    ) -> None:
        """Fail a random ``rate`` share of calls to ``methods`` (reproducible with ``seed``).

        Kinds: "429" (retry_after 1), "500", "502", "timeout" (hold ``timeout_hold`` seconds, then
        drop the connection; not performed) and "lost" (performed, then the connection is dropped,
        so the client cannot know the message went out). ``rate`` 0 switches faults off."""
        unknown = set(kinds) - FAULT_KINDS
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self._fault_rate = rate
        self._fault_kinds = tuple(kinds)
        self._fault_methods = frozenset(canonical(m) for m in methods)
        self._fault_rng = random.Random(seed)

    def pick_fault(self, method: str) -> Fault | None:
        """The fault for this call of ``method``, if any: forced ones first, then a random draw."""
        forced = self._forced.get(method)
        if forced:
            fault = forced[0]
            fault.count -= 1
            if fault.count <= 0:
                forced.popleft()
            return fault
        if self._fault_rate and method in self._fault_methods and self._fault_rng.random() < self._fault_rate:
            kind = self._fault_rng.choice(self._fault_kinds)
            if kind == "timeout":
                return Fault(0)
            if kind == "lost":
                return Fault(200, lost=True)
            return Fault(int(kind))
        return None
