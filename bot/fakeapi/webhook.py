"""The fake Telegram's webhook: setWebhook / getWebhookInfo / deleteWebhook, and delivery by POST.

As Telegram does: the URL must be HTTPS (``allow_http_webhooks`` on the server lets tests register a
plain ``http://127.0.0.1`` server), ``secret_token`` (1-256 characters A-Z, a-z, 0-9, _ and -) is sent
in ``X-Telegram-Bot-Api-Secret-Token`` with every delivery, and getUpdates answers 409 while a webhook
is set. Each update is POSTed as JSON, in order; anything but a 2xx (or no answer: the bot is down) is
retried after ``retry_delay`` seconds, doubling up to ``retry_cap``, and the update stays pending until
it is accepted. ``repeat_deliveries`` posts the next N accepted updates a second time, as Telegram
does when it missed the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from bot.fakeapi.errors import ApiError, bad_request
from bot.fakeapi.params import Params, Uploads
from bot.fakeapi.state import FakeState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)


@dataclass
class Webhook:
    url: str
    secret_token: str | None


@dataclass
class Delivery:
    url: str
    update_id: int
    status: int | None  # None: no answer (connection refused, reset, timeout)


class WebhookDelivery:
    """The delivery loop of one fake server; started and stopped with it."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.webhook: Webhook | None = None
        self.allow_http = False
        self.retry_delay = 0.05
        self.retry_cap = 0.5
        self.repeat_deliveries = 0
        self.deliveries: list[Delivery] = []
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def _post(self, session: ClientSession, hook: Webhook, update: dict[str, Any]) -> bool:
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        status: int | None
        try:
            async with session.post(hook.url, json=update, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except (ClientError, TimeoutError):
            status = None
        self.deliveries.append(Delivery(hook.url, int(update["update_id"]), status))
        self._notify()
        return status is not None and 200 <= status < 300

    async def _loop(self) -> None:
        queue = self.state.updates
        delay = self.retry_delay
        async with ClientSession(timeout=ClientTimeout(total=60)) as session:
            while not self.state.closing.is_set():
                changed, hook_changed = queue.changed, self.changed
                hook = self.webhook
                item = queue.first() if hook is not None else None
                if hook is None or item is None:
                    waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(hook_changed.wait())]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
                    continue
                if not await self._post(session, hook, item.update):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.state.closing.wait(), delay)
                    delay = min(self.retry_cap, delay * 2)
                    continue
                delay = self.retry_delay
                if self.repeat_deliveries > 0:
                    self.repeat_deliveries -= 1
                    await self._post(session, hook, item.update)
                queue.remove(item)

    async def wait_delivered(self, timeout: float = 5.0) -> None:
        """Wait until every queued update was accepted by the webhook."""
        async with asyncio.timeout(timeout):
            while len(self.state.updates):
                changed = self.state.updates.changed
                await changed.wait()


def _hooks(state: FakeState) -> WebhookDelivery:
    hooks = getattr(state, "webhooks", None)
    if not isinstance(hooks, WebhookDelivery):
        raise ApiError(500, "Internal Server Error: the fake has no webhook delivery")
    return hooks


async def set_webhook(state: FakeState, params: Params, uploads: Uploads) -> Any:
    hooks = _hooks(state)
    url = str(params.get("url") or "")
    if not url:
        hooks.webhook = None
        hooks._notify()
        return True
    if not url.startswith("https://") and not (hooks.allow_http and url.startswith("http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not _SECRET.match(str(secret)):
        raise bad_request("secret token contains unallowed characters")
    allowed = params.get("allowed_updates")
    if isinstance(allowed, list):
        state.updates.allow(allowed)
    if params.get("drop_pending_updates"):
        state.updates.clear()
    hooks.webhook = Webhook(url, str(secret) if secret else None)
    hooks._notify()
    return True


async def delete_webhook(state: FakeState, params: Params, uploads: Uploads) -> Any:
    hooks = _hooks(state)
    hooks.webhook = None
    hooks._notify()
    if params.get("drop_pending_updates"):
        state.updates.clear()
    return True


async def get_webhook_info(state: FakeState, params: Params, uploads: Uploads) -> Any:
    hook = _hooks(state).webhook
    info: dict[str, Any] = {
        "url": hook.url if hook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }
    failed = [d for d in _hooks(state).deliveries if d.status is None or not 200 <= d.status < 300]
    if hook is not None and failed:
        info["last_error_date"] = state.date()
        status = failed[-1].status
        info["last_error_message"] = (
            "Connection refused" if status is None else f"Wrong response from the webhook: {status}"
        )
    return info


def refuse_polling(state: FakeState) -> None:
    """getUpdates while a webhook is set: Telegram's 409."""
    hooks = getattr(state, "webhooks", None)
    if isinstance(hooks, WebhookDelivery) and hooks.webhook is not None:
        raise ApiError(409, WEBHOOK_ACTIVE)
