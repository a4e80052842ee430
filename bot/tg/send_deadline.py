"""The last check before an outbox send goes out: is its lease still ours for long enough?

The outbox sender (bot/tg/sender.py) holds a lease on each row it sends (storage/delivery.py); a
send must not start once that lease may have passed to another worker. The sender makes sure of
it before it asks to send, but the request may then wait in the rate limiter (a 429 pause, a busy
budget shared with other workers). So the sender puts a check into this context variable for the
send, and the limited session (bot/tg/limiter.py) calls `check_send()` once the limiter lets the
request go, right before it leaves: a request whose lease lapsed while it waited raises `LeaseLost`
and is never sent. Sends outside the sender (direct answers) carry no check.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable


class LeaseLost(Exception):
    """The row's lease may no longer be ours: the send was not started."""


SEND_CHECK: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("send_check", default=None)


def check_send() -> None:
    """Raise `LeaseLost` when the send in progress may no longer go (see the module docstring)."""
    check = SEND_CHECK.get()
    if check is not None:
        check()
