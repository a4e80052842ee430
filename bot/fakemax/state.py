"""The fake MAX's state: users, dialogs, messages, files and queued updates, and waiting on them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import secrets
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.fakemax.models import MaxMessage, RecordedRequest, Stats, StoredFile, plain_text
from bot.fakemax.refusals import RateBucket
from bot.fakemax.schema import MaxSchema, SchemaViolation, load_schema
from bot.fakemax.user import FakeMaxUser

DIALOG_CHAT_BASE = 5_000_000_000  # a dialog's chat_id differs from the user's id, as on MAX


class FakeMaxState:
    """What the fake MAX server holds and how users' actions become updates; ``FakeMax`` serves it."""

    def __init__(
        self,
        *,
        token: str = "max-test-token",  # noqa: S107 - a fake server's well-known test token
        bot_id: int = 900_001,
        bot_name: str = "SchoolBot",
        bot_username: str = "schoolbot_max_bot",
        rate: float = 30.0,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        server_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.token = token
        # With a server context the fake serves HTTPS (as MAX does), so a test proves whom the
        # session trusts; without one, plain HTTP on 127.0.0.1.
        self.server_ssl = server_ssl
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.bot_username = bot_username
        self.rate = rate
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.stats = Stats()
        self.response_violations: list[str] = []
        self.internal_errors: list[BaseException] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.actions: list[tuple[int, str]] = []
        # The next N sends carrying an uploaded file are refused with attachment.not.ready, as MAX does
        # while it still processes an upload.
        self.not_ready_sends = 0
        # A fresh upload stays "not ready" for this many seconds of the fake's clock (``now``).
        self.upload_processing = 0.0
        # Answers forced on the next requests, in order: an HTTP status (e.g. 503), or 0 to drop the
        # connection without an answer.
        self.fail_next: list[int] = []
        # The same, for the next requests of one operation only (by operationId, e.g. "getUploadUrl").
        self.fail_operation: dict[str, list[int]] = {}
        # The same for the upload server (POST to an upload URL).
        self.fail_uploads: list[int] = []
        self._now = now
        self._bucket = RateBucket(rate, monotonic)
        self._schema: MaxSchema | None = None
        self._users: dict[int, FakeMaxUser] = {}
        self._messages: dict[str, MaxMessage] = {}
        self._by_chat: dict[int, list[MaxMessage]] = {}
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, str] = {}  # upload id -> type
        self._callbacks: dict[str, MaxMessage] = {}
        self._updates: list[tuple[int, dict[str, Any]]] = []
        self._next_marker = 1
        self._committed = 1
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- schema ---------------------------------------------------------------------------------

    @property
    def schema(self) -> MaxSchema:
        if self._schema is None:
            self._schema = load_schema()
        return self._schema

    # -- users and their updates ----------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        phone: str | None = None,
        locale: str = "ru",
    ) -> FakeMaxUser:
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        user = FakeMaxUser(self, user_id, first_name, last_name, username, phone, locale)
        self._users[user_id] = user
        return user

    def dialog_chat_id(self, user_id: int) -> int:
        return DIALOG_CHAT_BASE + user_id

    def _ms(self) -> int:
        return int(self._now() * 1000)

    def bot_user(self) -> dict[str, Any]:
        return {
            "user_id": self.bot_id,
            "first_name": self.bot_name,
            "last_name": "",
            "username": self.bot_username,
            "is_bot": True,
            "last_activity_time": self._ms(),
            "name": self.bot_name,
        }

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for the bot (checked against the Update schema); returns its marker."""
        errors = self.schema.errors(update, self.schema.component("Update"))
        if errors:
            raise SchemaViolation("pushed update", errors)
        marker = self._next_marker
        self._next_marker += 1
        self._updates.append((marker, update))
        self._notify()
        return marker

    def pending_updates(self) -> list[dict[str, Any]]:
        return [u for m, u in self._updates if m >= self._committed]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _new_message(
        self,
        *,
        user_id: int,
        from_bot: bool,
        text: str | None,
        text_format: str | None,
        attachments: list[dict[str, Any]],
    ) -> MaxMessage:
        seq = self._ms() * 1000 + next(self._seq) % 1000
        mid = "mid." + hashlib.sha256(f"{seq}:{user_id}:{from_bot}".encode()).hexdigest()[:32]
        message = MaxMessage(
            mid=mid,
            seq=seq,
            chat_id=self.dialog_chat_id(user_id),
            user_id=user_id,
            from_bot=from_bot,
            text=text,
            format=text_format,
            plain=plain_text(text, text_format),
            attachments=attachments,
            timestamp=self._ms(),
        )
        self._messages[mid] = message
        self._by_chat.setdefault(user_id, []).append(message)
        self._notify()
        return message

    def message_object(self, message: MaxMessage) -> dict[str, Any]:
        """The MAX Message object for ``message``."""
        human = self._users.get(message.user_id)
        human_user = human.as_user() if human is not None else None
        body: dict[str, Any] = {"mid": message.mid, "seq": message.seq, "text": message.text or ""}
        if message.attachments:
            body["attachments"] = message.attachments
        sender: dict[str, Any] | None
        if message.from_bot:
            sender, recipient_user = self.bot_user(), message.user_id
        else:
            sender, recipient_user = human_user, self.bot_id
        obj: dict[str, Any] = {
            "recipient": {"chat_id": message.chat_id, "chat_type": "dialog", "user_id": recipient_user},
            "timestamp": message.timestamp,
            "body": body,
        }
        if sender is not None:
            obj["sender"] = sender
        return obj

    def _user_message(
        self, user: FakeMaxUser, text: str, attachments: list[dict[str, Any]], *, reply_to: MaxMessage | None = None
    ) -> int:
        message = self._new_message(
            user_id=user.id, from_bot=False, text=text, text_format=None, attachments=attachments
        )
        obj = self.message_object(message)
        if reply_to is not None:
            target = self.message_object(self._messages[reply_to.mid])
            link: dict[str, Any] = {"type": "reply", "message": target["body"], "chat_id": reply_to.chat_id}
            if "sender" in target:
                link["sender"] = target["sender"]
            obj["link"] = link
        return self.push_update(
            {
                "update_type": "message_created",
                "timestamp": message.timestamp,
                "message": obj,
                "user_locale": user.locale,
            }
        )

    def _press(self, user: FakeMaxUser, message: MaxMessage, button_text: str) -> int:
        current = self._messages[message.mid]
        if current.deleted:
            raise LookupError(f"message {current.mid} was deleted")
        button = current.button(button_text)
        kind = button["type"]
        if kind == "callback":
            callback_id = "cb." + secrets.token_hex(8)
            self._callbacks[callback_id] = current
            return self.push_update(
                {
                    "update_type": "message_callback",
                    "timestamp": self._ms(),
                    "callback": {
                        "timestamp": self._ms(),
                        "callback_id": callback_id,
                        "payload": button["payload"],
                        "user": user.as_user(),
                    },
                    "message": self.message_object(current),
                    "user_locale": user.locale,
                }
            )
        if kind == "message":
            return self._user_message(user, button["text"], [])
        if kind == "request_contact":
            return self._user_message(user, "", [user.contact_attachment(own=True)])
        raise ValueError(f"pressing a {kind!r} button does not reach the bot")

    def _started(self, user: FakeMaxUser, payload: str | None) -> int:
        update: dict[str, Any] = {
            "update_type": "bot_started",
            "timestamp": self._ms(),
            "chat_id": self.dialog_chat_id(user.id),
            "user": user.as_user(),
            "user_locale": user.locale,
        }
        if payload is not None:
            update["payload"] = payload
        return self.push_update(update)

    def store_file(self, data: bytes, filename: str, kind: str, *, processing: float = 0.0) -> StoredFile:
        token = secrets.token_urlsafe(24)
        stored = StoredFile(
            token=token,
            kind=kind,
            data=data,
            filename=filename,
            photo_id=next(self._ids) if kind == "image" else None,
            ready_at=self._now() + processing,
        )
        self._files[token] = stored
        return stored

    def file_url(self, stored: StoredFile) -> str:
        return f"{self.base_url}/_files/{stored.token}"

    def attachment_object(self, stored: StoredFile) -> dict[str, Any]:
        if stored.kind == "image":
            return {
                "type": "image",
                "payload": {"photo_id": stored.photo_id, "token": stored.token, "url": self.file_url(stored)},
            }
        return {
            "type": "file",
            "payload": {"url": self.file_url(stored), "token": stored.token},
            "filename": stored.filename,
            "size": len(stored.data),
        }

    def file(self, token: str) -> StoredFile:
        return self._files[token]

    # -- inspection -----------------------------------------------------------------------------

    def sent(self, user_id: int | None = None) -> list[MaxMessage]:
        """Messages the bot sent (to one user, or to everyone), in order, deletions included."""
        if user_id is None:
            return [m for m in self._messages.values() if m.from_bot]
        return [m for m in self._by_chat.get(user_id, []) if m.from_bot]

    async def wait_for(
        self,
        user_id: int,
        predicate: Callable[[MaxMessage], bool] | None = None,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> MaxMessage:
        """The first bot message to ``user_id`` at index >= ``after`` matching ``predicate``; edited
        messages are re-checked. AssertionError with a dump on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            for message in self.sent(user_id)[after:]:
                if not message.deleted and (predicate is None or predicate(message)):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                lines = [f"timed out after {timeout}s waiting for a message to MAX user {user_id}; got:"]
                lines += [f"  [{i}] {m.describe()}" for i, m in enumerate(self.sent(user_id))] or ["  (none)"]
                failed = [r for r in self.requests if r.status not in (200, None)]
                lines += [f"  failed: {r.method} {r.path} -> {r.status} {r.response!r}" for r in failed[-5:]]
                raise AssertionError("\n".join(lines))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_callback_answers(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The bodies of the callback answers once at least ``count`` arrived."""
        async with asyncio.timeout(timeout):
            while len(self.callback_answers) < count:
                changed = self._changed
                await changed.wait()
        return list(self.callback_answers.values())

    async def wait_updates_taken(self, timeout: float = 5.0) -> None:
        """Wait until the bot has committed every queued update (it polled past them)."""
        async with asyncio.timeout(timeout):
            while self._committed < self._next_marker:
                changed = self._changed
                await changed.wait()
