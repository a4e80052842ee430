"""An in-process fake of the MAX Bot API (platform-api.max.ru), checked against the official schema."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web

from bot.fakemax.models import MaxMessage, RecordedRequest, Stats, StoredFile, plain_text
from bot.fakemax.schema import MaxSchema, Operation, SchemaViolation, load_schema
from bot.fakemax.user import FakeMaxUser

log = logging.getLogger(__name__)

MAX_UPLOAD = 64 * 1024 * 1024
DIALOG_CHAT_BASE = 5_000_000_000  # a dialog's chat_id differs from the user's id, as on MAX
Handler = Callable[[dict[str, Any], Any], Awaitable[Any]]


class MaxApiError(Exception):
    """An error answer: HTTP status plus MAX's ``code`` and ``message`` (the Error schema)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class _Bucket:
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


class FakeMax:
    """A fake MAX Bot API HTTP server: dialogs, messages, callbacks, uploads and long-polled updates.

    Every request is checked against the vendored official schema (``bot.fakemax.schema``): an unknown
    path is 404, a missing or wrong ``Authorization`` token 401, more than ``rate`` requests per second
    429, and a request whose parameters or body break the schema 400 with MAX's Error body. Every
    answer the fake gives is checked too; an answer that breaks the schema is a bug of the fake,
    recorded in ``response_violations`` and answered 500 (tests assert it stays empty).
    Users are simulated with ``max.user(...)`` (see ``FakeMaxUser``).
    """

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
    ) -> None:
        self.token = token
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
        self._now = now
        self._bucket = _Bucket(rate, monotonic)
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
        self._handlers: dict[str, Handler] = {
            "getMyInfo": self._get_my_info,
            "editMyCommands": self._edit_my_commands,
            "sendMessage": self._send_message,
            "editMessage": self._edit_message,
            "deleteMessage": self._delete_message,
            "getMessageById": self._get_message,
            "answerOnCallback": self._answer_on_callback,
            "getUpdates": self._get_updates,
            "getUploadUrl": self._get_upload_url,
            "sendAction": self._send_action,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def schema(self) -> MaxSchema:
        if self._schema is None:
            self._schema = load_schema()
        return self._schema

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            raise RuntimeError("FakeMax is already running")
        self._schema = await asyncio.to_thread(load_schema)
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("POST", "/_upload/{upload_id}", self._handle_upload)
        app.router.add_route("GET", "/_files/{token}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # No access log: it would print query strings, and the token must never reach logs.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._closing = asyncio.Event()
        self.base_url = f"http://{host}:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing.set()
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

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

    def store_file(self, data: bytes, filename: str, kind: str) -> StoredFile:
        token = secrets.token_urlsafe(24)
        stored = StoredFile(
            token=token, kind=kind, data=data, filename=filename, photo_id=next(self._ids) if kind == "image" else None
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

    # -- HTTP -----------------------------------------------------------------------------------

    def _json(self, record: RecordedRequest, status: int, body: Any) -> web.Response:
        record.status, record.response = status, body
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        record = RecordedRequest(method=request.method, path=request.path, query=query, body=None)
        self.requests.append(record)
        self.stats.requests += 1
        found = self.schema.match(request.method, request.path)
        if found is None:
            return self._json(record, 404, {"code": "not.found", "message": f"Path {request.path} is not recognized"})
        operation, path_params = found
        record.operation_id = operation.operation_id
        self.stats.by_operation[operation.operation_id] = self.stats.by_operation.get(operation.operation_id, 0) + 1
        try:
            if request.headers.get("Authorization") != self.token:
                raise MaxApiError(401, "verify.token", "Invalid access_token")
            if not self._bucket.admit():
                self.stats.refused_rate += 1
                raise MaxApiError(429, "too.many.requests", "Too many requests")
            params = self.schema.check_parameters(operation, path_params, query)
            body: Any = None
            if operation.spec.get("requestBody") is not None:
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise MaxApiError(400, "proto.payload", "Request body is not valid JSON") from None
                record.body = body
                self.schema.check_body(operation, body)
            handler = self._handlers.get(operation.operation_id)
            if handler is None:
                raise MaxApiError(405, "method.not.allowed", f"{operation.operation_id} is not served by the fake")
            status, answer = 200, await handler(params, body)
        except SchemaViolation as exc:
            self.stats.refused_schema += 1
            status, answer = 400, {"code": "proto.payload", "message": str(exc)}
        except MaxApiError as exc:
            status, answer = exc.status, {"code": exc.code, "message": exc.message}
        except Exception as exc:  # a bug of the fake itself
            log.exception("fake MAX failed on %s", operation.operation_id)
            self.internal_errors.append(exc)
            status, answer = 500, {"code": "internal", "message": type(exc).__name__}
        try:
            self.schema.check_response(operation, status, answer)
        except SchemaViolation as exc:
            self.response_violations.append(str(exc))
            status, answer = 500, {"code": "internal", "message": "response broke the schema"}
        return self._json(record, status, answer)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        kind = self._uploads.pop(request.match_info["upload_id"], None)
        if kind is None:
            return web.json_response({"code": "not.found", "message": "Unknown upload"}, status=404)
        reader = await request.multipart()
        data, filename = b"", "file"
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "data":
                filename = part.filename or filename
                data = bytes(await part.read())
        if not data:
            return web.json_response({"code": "proto.payload", "message": "No data part"}, status=400)
        stored = self.store_file(data, filename, kind)
        if kind == "image":
            return web.json_response({"photos": {str(stored.photo_id): {"token": stored.token}}})
        return web.json_response({"token": stored.token})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files.get(request.match_info["token"])
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # -- operations -----------------------------------------------------------------------------

    async def _get_my_info(self, params: dict[str, Any], body: Any) -> Any:
        info = self.bot_user()
        info.pop("name")
        info["commands"] = self.commands or None
        return info

    async def _edit_my_commands(self, params: dict[str, Any], body: Any) -> Any:
        self.commands = list(body.get("commands") or [])
        return {"commands": self.commands}

    def _resolve_attachments(self, requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for attachment in requested:
            kind = attachment["type"]
            if kind == "inline_keyboard":
                result.append({"type": "inline_keyboard", "payload": {"buttons": attachment["payload"]["buttons"]}})
            elif kind in ("image", "file"):
                payload = attachment["payload"]
                tokens: list[str] = []
                if payload.get("token"):
                    tokens.append(payload["token"])
                tokens += [photo["token"] for photo in (payload.get("photos") or {}).values()]
                if not tokens:
                    raise MaxApiError(400, "proto.payload", f"{kind} attachment without a token")
                for token in tokens:
                    stored = self._files.get(token)
                    if stored is None:
                        raise MaxApiError(400, "attachment.not.found", f"Unknown attachment token for {kind}")
                    if self.not_ready_sends > 0:
                        self.not_ready_sends -= 1
                        raise MaxApiError(
                            400, "attachment.not.ready", "Key: errors.process.attachment.file.not.processed"
                        )
                    result.append(self.attachment_object(stored))
            else:
                raise MaxApiError(400, "proto.payload", f"the fake does not keep {kind} attachments")
        return result

    async def _send_message(self, params: dict[str, Any], body: Any) -> Any:
        user_id = params.get("user_id")
        if user_id is None and params.get("chat_id") is not None:
            user_id = params["chat_id"] - DIALOG_CHAT_BASE
        if user_id is None:
            raise MaxApiError(400, "proto.payload", "Either user_id or chat_id is required")
        if user_id not in self._users:
            raise MaxApiError(404, "chat.not.found", f"Chat for user {user_id} not found")
        if self._users[user_id].blocked:
            raise MaxApiError(403, "chat.denied", "The user has stopped the bot")
        text = body.get("text")
        attachments = self._resolve_attachments(body.get("attachments") or [])
        if not text and not attachments:
            raise MaxApiError(400, "proto.payload", "Message must have text or attachments")
        message = self._new_message(
            user_id=user_id, from_bot=True, text=text, text_format=body.get("format"), attachments=attachments
        )
        return {"message": self.message_object(message)}

    def _bot_message(self, mid: str) -> MaxMessage:
        message = self._messages.get(mid)
        if message is None or message.deleted or not message.from_bot:
            raise MaxApiError(404, "not.found", f"Message {mid} not found")
        return message

    def _apply_edit(self, message: MaxMessage, body: dict[str, Any]) -> None:
        if body.get("text") is not None:
            message.text = body["text"]
            message.format = body.get("format")
            message.plain = plain_text(message.text, message.format)
        if body.get("attachments") is not None:
            message.attachments = self._resolve_attachments(body["attachments"])
        message.edits += 1
        self._notify()

    async def _edit_message(self, params: dict[str, Any], body: Any) -> Any:
        self._apply_edit(self._bot_message(params["message_id"]), body)
        return {"success": True}

    async def _delete_message(self, params: dict[str, Any], body: Any) -> Any:
        message = self._messages.get(params["message_id"])
        if message is None or message.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        message.deleted = True
        self._notify()
        return {"success": True}

    async def _get_message(self, params: dict[str, Any], body: Any) -> Any:
        message = self._messages.get(params["messageId"])
        if message is None or message.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        return self.message_object(message)

    async def _answer_on_callback(self, params: dict[str, Any], body: Any) -> Any:
        callback_id = params["callback_id"]
        message = self._callbacks.get(callback_id)
        if message is None:
            raise MaxApiError(400, "not.found", "Callback not found")
        if not body.get("message") and not body.get("notification"):
            raise MaxApiError(400, "proto.payload", "Either message or notification must be set")
        self.callback_answers[callback_id] = body
        if body.get("message"):
            self._apply_edit(message, body["message"])
        self._notify()
        return {"success": True}

    async def _get_updates(self, params: dict[str, Any], body: Any) -> Any:
        marker = params.get("marker")
        if marker is not None:
            self._committed = max(self._committed, marker)
        limit = params.get("limit", 100)
        timeout = params.get("timeout", 30)
        types = set(params.get("types") or [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            batch = [
                (m, u) for m, u in self._updates if m >= self._committed and (not types or u["update_type"] in types)
            ][:limit]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        next_marker = batch[-1][0] + 1 if batch else self._committed
        self._notify()
        return {"updates": [u for _, u in batch], "marker": next_marker}

    async def _get_upload_url(self, params: dict[str, Any], body: Any) -> Any:
        kind = params["type"]
        if kind not in ("image", "file"):
            raise MaxApiError(400, "proto.payload", f"the fake takes image and file uploads, not {kind}")
        upload_id = secrets.token_hex(8)
        self._uploads[upload_id] = kind
        return {"url": f"{self.base_url}/_upload/{upload_id}"}

    async def _send_action(self, params: dict[str, Any], body: Any) -> Any:
        self.actions.append((params["chatId"], body["action"]))
        return {"success": True}


__all__ = ["DIALOG_CHAT_BASE", "FakeMax", "MaxApiError", "Operation"]
