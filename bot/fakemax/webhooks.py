"""The fake MAX's webhook side: subscriptions (``/subscriptions``) and delivery of updates by POST.

As MAX does: a subscription takes an HTTPS URL (``allow_http_webhooks`` lets tests subscribe a plain
``http://127.0.0.1`` server), an optional ``secret`` sent in ``X-Max-Bot-Api-Secret`` with every
delivery, and the update types wanted. While a subscription is active, long polling returns nothing.
Each update is POSTed as JSON, in order; anything but 200 (or no answer at all, e.g. the bot is down)
is retried after ``webhook_retry_delay`` seconds, doubling up to ``webhook_retry_cap``, until it is
accepted. ``repeat_deliveries`` posts the next N accepted updates a second time, as MAX does when its
side missed the 200.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from bot.fakemax.refusals import MaxApiError
from bot.fakemax.state import FakeMaxState

SECRET_HEADER = "X-Max-Bot-Api-Secret"  # noqa: S105 - a header's name


@dataclass
class Subscription:
    url: str
    time: int
    secret: str | None
    update_types: list[str] | None

    def wants(self, update: dict[str, Any]) -> bool:
        return not self.update_types or update.get("update_type") in self.update_types

    def as_object(self) -> dict[str, Any]:
        return {"url": self.url, "time": self.time, "update_types": self.update_types}


@dataclass
class Delivery:
    url: str
    update_type: str
    status: int | None  # None: no answer (connection refused, reset, timeout)
    secret_sent: bool = field(default=False)


class FakeMaxWebhooks(FakeMaxState):
    """Subscriptions and the delivery loop; ``FakeMax`` starts and stops the loop with the server."""

    allow_http_webhooks = False
    webhook_retry_delay = 0.05
    webhook_retry_cap = 0.5
    repeat_deliveries = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self._delivery_task: asyncio.Task[None] | None = None

    # -- operations -----------------------------------------------------------------------------

    async def _get_subscriptions(self, params: dict[str, Any], body: Any) -> Any:
        return {"subscriptions": [s.as_object() for s in self.subscriptions.values()]}

    async def _subscribe(self, params: dict[str, Any], body: Any) -> Any:
        url = str(body["url"])
        plain_ok = self.allow_http_webhooks and url.startswith("http://")
        if not url.startswith("https://") and not plain_ok:
            raise MaxApiError(400, "proto.payload", "url: must be an HTTPS URL")
        types = body.get("update_types")
        self.subscriptions[url] = Subscription(url, self._ms(), body.get("secret"), list(types) if types else None)
        self._notify()
        return {"success": True}

    async def _unsubscribe(self, params: dict[str, Any], body: Any) -> Any:
        if self.subscriptions.pop(params["url"], None) is None:
            return {"success": False, "message": f"No subscription for {params['url']}"}
        self._notify()
        return {"success": True}

    # -- delivery -------------------------------------------------------------------------------

    def start_delivery(self) -> None:
        self._delivery_task = asyncio.create_task(self._deliver_loop())

    async def stop_delivery(self) -> None:
        task, self._delivery_task = self._delivery_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _post(self, session: ClientSession, sub: Subscription, update: dict[str, Any]) -> bool:
        headers = {SECRET_HEADER: sub.secret} if sub.secret else {}
        status: int | None
        try:
            async with session.post(sub.url, json=update, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except (ClientError, TimeoutError):
            status = None
        self.deliveries.append(Delivery(sub.url, str(update.get("update_type")), status, bool(sub.secret)))
        self._notify()
        return status == 200

    async def _deliver_loop(self) -> None:
        delay = self.webhook_retry_delay
        async with ClientSession(timeout=ClientTimeout(total=30)) as session:
            while not self._closing.is_set():
                changed = self._changed
                pending = [(m, u) for m, u in self._updates if m >= self._committed]
                subs = list(self.subscriptions.values())
                if not subs or not pending:
                    await changed.wait()
                    continue
                marker, update = pending[0]
                accepted = True
                for sub in subs:
                    if sub.wants(update):
                        accepted = await self._post(session, sub, update) and accepted
                if not accepted:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
                    delay = min(self.webhook_retry_cap, delay * 2)
                    continue
                delay = self.webhook_retry_delay
                if self.repeat_deliveries > 0:
                    self.repeat_deliveries -= 1
                    for sub in subs:
                        if sub.wants(update):
                            await self._post(session, sub, update)
                self._committed = max(self._committed, marker + 1)
                self._notify()

    async def wait_delivered(self, timeout: float = 5.0) -> None:
        """Wait until every queued update was accepted by the subscribed webhook."""
        async with asyncio.timeout(timeout):
            while self._committed < self._next_marker:
                changed = self._changed
                await changed.wait()

    async def wait_attempts(self, count: int, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` deliveries were attempted (accepted or not)."""
        async with asyncio.timeout(timeout):
            while len(self.deliveries) < count:
                changed = self._changed
                await changed.wait()
