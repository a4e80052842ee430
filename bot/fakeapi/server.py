"""The fake Telegram Bot API server: state, HTTP plumbing and the implemented methods."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import mimetypes
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from bot.fakeapi.errors import DEFAULT_DESCRIPTIONS, ApiError, bad_request, too_many_requests
from bot.fakeapi.images import image_size, thumbnail_size
from bot.fakeapi.models import SEND_METHODS, Edit, RecordedRequest, SentMessage, Stats, StoredFile
from bot.fakeapi.params import Upload, loggable, read_params
from bot.fakeapi.ratelimit import RateLimiter
from bot.fakeapi.rules import check_caption, check_markup, check_text, render
from bot.fakeapi.user import FakeUser

if TYPE_CHECKING:
    from aiogram import Bot

logger = logging.getLogger(__name__)

Params = dict[str, Any]
Uploads = dict[str, Upload]
Handler = Callable[[Params, Uploads], Awaitable[Any]]

# Update types Telegram delivers when allowed_updates is unset or empty.
_DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_FAULT_KINDS = frozenset({"429", "500", "502", "timeout", "lost"})
MAX_UPLOAD = 60 * 1024 * 1024  # Telegram accepts 50 MB uploads from bots; leave headroom


@dataclass
class _Fault:
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


@dataclass
class _Queued:
    update: dict[str, Any]
    # A re-pushed (duplicate) update_id survives the offset that already confirmed it until it has
    # been delivered once; otherwise a duplicate could never reach a bot that confirmed the original.
    replay: bool = False
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next((key for key in self.update if key != "update_id"), "")


class _Drop(Exception):
    """Internal: abort the HTTP connection without a reply."""


class FakeTelegram:
    """An in-process Telegram Bot API HTTP server for tests, benchmarks and the sandbox.

    ``bot_id`` defaults to the numeric prefix of ``token`` (as aiogram derives ``Bot.id``).
    ``rate_limited`` (on by default, as on Telegram) answers 429 with retry_after beyond ``global_rate``
    sends per second overall and ``per_chat_rate`` per chat, for every method that sends; the bot
    paces itself with its one send limiter (bot/limiter.py). Tests of the fake itself that drive a
    bare Bot without that limiter turn it off.
    ``now`` is the source of message dates (Unix seconds), real time by default; ``monotonic`` is the
    clock of the rate limits (tests pass a manual one).
    """

    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",  # noqa: S107 - a fake server's well-known test token
        bot_id: int | None = None,
        bot_username: str = "schoolbot_test_bot",
        rate_limited: bool = True,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        latency: float = 0.0,
        strict_chats: bool = False,
        bot_first_name: str = "SchoolBot",
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = bot_id if bot_id is not None else int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.rate_limited = rate_limited
        self.latency = latency
        self.strict_chats = strict_chats
        # How long a "timeout" fault holds the request before dropping the connection. 0 drops at
        # once (the client sees a disconnect); set it above the client's timeout to exercise that.
        self.timeout_hold = 0.0
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.stats = Stats()
        self.chat_actions: list[tuple[int, str]] = []
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}  # (field, language_code) -> text
        # Bugs of the fake itself (answered as 500): tests may assert this stays empty.
        self.internal_errors: list[BaseException] = []
        self._now = now
        self._limiter = RateLimiter(global_rate, per_chat_rate, now=monotonic)
        self._users: dict[int, FakeUser] = {}
        self._blocked: set[int] = set()
        self._started: set[int] = set()
        self._sent: list[SentMessage] = []
        self._sent_by_chat: dict[int, list[SentMessage]] = {}  # wait_for scans one chat, not all
        self._bot_messages: dict[tuple[int, int], SentMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._queue: list[_Queued] = []
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._pending_callbacks: dict[str, int] = {}  # callback query id -> update_id
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._forced: dict[str, deque[_Fault]] = {}
        self._fault_rate = 0.0
        self._fault_kinds: tuple[str, ...] = ()
        self._fault_methods: frozenset[str] = frozenset()
        self._fault_rng = random.Random(0)
        # Events are replaced after being set, so each waiter wakes once per change.
        self._updates_changed = asyncio.Event()
        self._messages_changed = asyncio.Event()
        self._requests_changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "sendMediaGroup": self._send_media_group,
                "copyMessage": self._copy_message,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "getFile": self._get_file,
                "sendChatAction": self._send_chat_action,
                "setChatMenuButton": self._set_chat_menu_button,
                "getChatMenuButton": self._get_chat_menu_button,
                "getChat": self._get_chat,
                "setMyDescription": self._description_setter("description", 512),
                "setMyShortDescription": self._description_setter("short_description", 120),
                "getMyDescription": self._description_getter("description"),
                "getMyShortDescription": self._description_getter("short_description"),
            }.items()
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns the base URL, e.g. ``http://127.0.0.1:38211``."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # access_log=None: the access log would print the bot token, which never reaches logs.
        # handler_cancellation: a client that hangs up (a stopped poller) must not keep a long poll
        # alive on the server, where it would hold updates and delay shutdown.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._closing = asyncio.Event()
        bound_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving. Long polls and held requests return at once; recorded state stays."""
        if self._runner is None:
            return
        self._closing.set()
        self._notify_updates()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def make_bot(self) -> Bot:
        """A real aiogram Bot (real AiohttpSession) talking to this server. Close its session."""
        from aiogram import Bot
        from aiogram.client.default import DefaultBotProperties
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        if not self.base_url:
            raise RuntimeError("start() the server before making a bot")
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(self.token, session=session, default=DefaultBotProperties(parse_mode="HTML"))

    # -- users and chats ------------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "ru",
        *,
        phone: str | None = None,
    ) -> FakeUser:
        """Create (or replace) a user; the private chat id equals ``user_id``."""
        user = FakeUser(self, user_id, first_name, last_name, username, language_code, phone)
        self._users[user_id] = user
        return user

    def block(self, chat_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends to the chat fail with 403. Like Telegram, a my_chat_member
        update (member -> kicked) is queued unless ``notify`` is False."""
        self._blocked.add(chat_id)
        if notify:
            self._chat_member_update(chat_id, "member", "kicked")

    def unblock(self, chat_id: int, *, notify: bool = True) -> None:
        self._blocked.discard(chat_id)
        if notify:
            self._chat_member_update(chat_id, "kicked", "member")

    def _chat_member_update(self, chat_id: int, old: str, new: str) -> None:
        user = self._users.get(chat_id)
        sender = user.as_user() if user else {"id": chat_id, "is_bot": False, "first_name": f"User {chat_id}"}
        new_member: dict[str, Any] = {"status": new, "user": self._bot_user()}
        if new == "kicked":
            new_member["until_date"] = 0
        self.push_update(
            {
                "my_chat_member": {
                    "chat": self._chat(chat_id),
                    "from": sender,
                    "date": self._date(),
                    "old_chat_member": {"status": old, "user": self._bot_user()}
                    | ({"until_date": 0} if old == "kicked" else {}),
                    "new_chat_member": new_member,
                }
            }
        )

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _chat(self, chat_id: int) -> dict[str, Any]:
        user = self._users.get(chat_id)
        if user is not None:
            return user.as_chat()
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def _date(self) -> int:
        return int(self._now())

    def _new_message_id(self, chat_id: int) -> int:
        # Private chats number messages per chat, shared by both sides.
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        return message_id

    # -- updates --------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Enqueue a raw update. Without ``update_id`` the next one is assigned; an explicit id
        that was already used is delivered again (a duplicate, as Telegram sometimes does)."""
        update = dict(update)
        replay = False
        if "update_id" in update:
            update_id = int(update["update_id"])
            replay = update_id <= self._last_update_id
            self._last_update_id = max(self._last_update_id, update_id)
        else:
            self._last_update_id += 1
            update_id = self._last_update_id
        update["update_id"] = update_id
        self._queue.append(_Queued(update, replay=replay))
        self._notify_updates()
        return update_id

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by an offset."""
        return [item.update for item in self._queue]

    def _notify_updates(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    def _notify_messages(self) -> None:
        self._messages_changed.set()
        self._messages_changed = asyncio.Event()

    def _user_message(self, user: FakeUser, content: dict[str, Any], *, reply_to: SentMessage | None = None) -> int:
        message: dict[str, Any] = {
            "message_id": self._new_message_id(user.id),
            "from": user.as_user(),
            "chat": user.as_chat(),
            "date": self._date(),
            **content,
        }
        if reply_to is not None:
            target = self.message(reply_to.chat_id, reply_to.message_id).raw
            # Telegram nests replies one level deep only.
            message["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
        if user.id in self._blocked:
            # Writing to the bot again means the user unblocked it (pressed Start/Restart).
            self.unblock(user.id)
        self._user_messages[(user.id, message["message_id"])] = message
        self._started.add(user.id)
        return self.push_update({"message": message})

    def _press(self, user: FakeUser, message: SentMessage, button: str) -> int:
        current = self.message(message.chat_id, message.message_id)
        if current.chat_id != user.id:
            raise LookupError(f"message {current.message_id} was sent to chat {current.chat_id}, not {user.id}")
        if current.deleted:
            raise LookupError(f"message {current.message_id} in chat {current.chat_id} was deleted")
        spec = current.find_button(button)
        if "callback_data" not in spec:
            raise LookupError(f"inline button {button!r} has no callback_data (it is {spec!r})")
        update_id = self._last_update_id + 1
        query_id = f"{self.bot_id}{update_id:08d}"
        self._pending_callbacks[query_id] = update_id
        return self.push_update(
            {
                "update_id": update_id,
                "callback_query": {
                    "id": query_id,
                    "from": user.as_user(),
                    "message": current.raw,
                    "chat_instance": str(abs(hash((self.bot_id, current.chat_id)))),
                    "data": spec["callback_data"],
                },
            }
        )

    def callback_answer(self, update_id: int) -> dict[str, Any] | None:
        """The bot's answerCallbackQuery for the press that produced ``update_id`` (None if none yet)."""
        return self.callback_answers.get(f"{self.bot_id}{update_id:08d}")

    async def wait_callback_answer(
        self,
        update_id: int,
        *,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait until the bot answers the callback query of ``update_id``; AssertionError on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while (answer := self.callback_answer(update_id)) is None:
                    await self._messages_changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"the bot did not answer the callback query of update {update_id} within {timeout}s"
            ) from None
        return answer

    # -- files ----------------------------------------------------------------------------------

    def _store_file(
        self,
        data: bytes,
        *,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int = 0,
        height: int = 0,
        suffix: str = "",
    ) -> StoredFile:
        n = next(self._file_counter)
        digest = hashlib.sha256(data + suffix.encode()).hexdigest()
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        extension = ".jpg" if kind == "photo" else mimetypes.guess_extension(mime_type or "") or ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id=f"{prefix}{n:06d}{digest[:16]}",
            file_unique_id=f"AQAD{digest[:12]}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{folder}/file_{n}{extension}",
            kind=kind,
            width=width,
            height=height,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def file(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def _photo_sizes(self, data: bytes, *, validate: bool) -> tuple[StoredFile, list[dict[str, Any]]]:
        """Store a photo; returns the full-size file and the PhotoSize list (smallest first).

        A thumbnail entry is added for images larger than 90px, as Telegram does; it points at the
        same bytes since the fake does not resample images."""
        size = image_size(data)
        if size is None:
            if validate:
                raise bad_request("IMAGE_PROCESS_FAILED")
            size = (512, 512)
        width, height = size
        full = self._store_file(data, kind="photo", width=width, height=height)
        sizes: list[StoredFile] = []
        if max(width, height) > 90:
            thumb_w, thumb_h = thumbnail_size(width, height)
            sizes.append(self._store_file(data, kind="photo", width=thumb_w, height=thumb_h, suffix="thumb"))
        sizes.append(full)
        return full, [
            {
                "file_id": s.file_id,
                "file_unique_id": s.file_unique_id,
                "width": s.width,
                "height": s.height,
                "file_size": len(s.data),
            }
            for s in sizes
        ]

    @staticmethod
    def _document_object(stored: StoredFile) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document

    # -- fault injection ------------------------------------------------------------------------

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
        canonical = self._canonical(method)
        self._forced.setdefault(canonical, deque()).append(
            _Fault(status, retry_after=retry_after, description=description, count=count)
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
        unknown = set(kinds) - _FAULT_KINDS
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(_FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self._fault_rate = rate
        self._fault_kinds = tuple(kinds)
        self._fault_methods = frozenset(self._canonical(m) for m in methods)
        self._fault_rng = random.Random(seed)

    def _canonical(self, method: str) -> str:
        entry = self._methods.get(method.lower())
        return entry[0] if entry else method

    def _pick_fault(self, method: str) -> _Fault | None:
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
                return _Fault(0)
            if kind == "lost":
                return _Fault(200, lost=True)
            return _Fault(int(kind))
        return None

    # -- inspection -----------------------------------------------------------------------------

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent (deleted ones included, flagged), edits applied, in order."""
        if chat_id is None:
            return list(self._sent)
        return list(self._sent_by_chat.get(chat_id, ()))

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        try:
            return self._bot_messages[(chat_id, message_id)]
        except KeyError:
            raise LookupError(f"the bot sent no message {message_id} to chat {chat_id}") from None

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands set with setMyCommands for ``scope`` (default scope when None)."""
        return list(self._commands.get(self._scope_key(scope, language_code), []))

    async def wait_for(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> SentMessage:
        """The first message to ``chat_id`` with index >= ``after`` (in ``sent(chat_id)``) that matches
        ``predicate``; messages edited later are re-checked. AssertionError with a dump on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._messages_changed
            for message in self.sent(chat_id)[after:]:
                if predicate is None or predicate(message):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._dump(chat_id, after, timeout, predicate))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_request(
        self,
        method: str,
        *,
        timeout: float = 5.0,
        after: int = 0,
    ) -> RecordedRequest:
        """The first recorded call of ``method`` with index >= ``after`` in ``requests`` (it may still be
        in flight, e.g. a long poll), waiting for it to arrive; AssertionError on timeout."""
        canonical = self._canonical(method)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._requests_changed
                    for record in self.requests[after:]:
                        if record.method == canonical:
                            return record
                    await changed.wait()
        except TimeoutError:
            seen = [r.method for r in self.requests[after:]]
            raise AssertionError(f"no {canonical} call within {timeout}s; calls seen: {seen}") from None

    def _dump(self, chat_id: int, after: int, timeout: float, predicate: Callable[[SentMessage], bool] | None) -> str:
        messages = self.sent(chat_id)
        what = "any message" if predicate is None else f"a message matching {getattr(predicate, '__name__', predicate)}"
        lines = [
            f"timed out after {timeout}s waiting for {what} to chat {chat_id} at index >= {after}; "
            f"the chat got {len(messages)} message(s):"
        ]
        lines += [f"  [{i}] {m.describe()}" for i, m in enumerate(messages)] or ["  (none)"]
        failures = [r for r in self.requests if r.params.get("chat_id") == chat_id and r.status not in (200, None)]
        if failures:
            lines.append("failed calls for this chat:")
            lines += [f"  {r.method} -> {r.status} {r.params!r}" for r in failures[-10:]]
        return "\n".join(lines)

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        entry = self._methods.get(name.lower())
        method = entry[0] if entry else name
        record = RecordedRequest(method=method, params={}, time=time.monotonic())
        self.requests.append(record)
        self._requests_changed.set()
        self._requests_changed = asyncio.Event()
        fault: _Fault | None = None
        try:
            params, uploads = await read_params(request)
            record.params = loggable(params, uploads)
            if self.latency:
                await self._sleep(self.latency)
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            fault = self._pick_fault(method)
            if fault is not None and fault.status == 0:
                # Counted before holding: a client that times out first cancels this handler.
                self._count_drop(record)
                if self.timeout_hold:
                    await self._sleep(self.timeout_hold)
                raise _Drop
            if fault is not None and not fault.lost:
                raise fault.error()
            result = await entry[1](params, uploads)
            if fault is not None and fault.lost:
                self._count_drop(record)
                raise _Drop
        except _Drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)  # never reaches the client
        except ApiError as error:
            return self._reply(record, error.status, error.payload())
        except Exception as error:
            logger.exception("fake Bot API failed on %s", method)
            self.internal_errors.append(error)
            payload = ApiError(500, f"Internal Server Error: fake API bug: {error!r}").payload()
            return self._reply(record, 500, payload)
        return self._reply(record, 200, {"ok": True, "result": result})

    def _count_drop(self, record: RecordedRequest) -> None:
        record.dropped = True
        self.stats.dropped[record.method] += 1

    def _reply(self, record: RecordedRequest, status: int, body: dict[str, Any]) -> web.Response:
        record.status = status
        if status < 300:
            self.stats.accepted[record.method] += 1
        elif status == 429:
            self.stats.rate_limited[record.method] += 1
        elif status >= 500:
            self.stats.server_errors[record.method] += 1
        else:
            self.stats.client_errors[record.method] += 1
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but return early when the server is stopping (so shutdown never waits)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- common checks --------------------------------------------------------------------------

    def _target_chat(self, params: Params, *, required: bool = True) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise bad_request("chat not found")  # @usernames of channels are not emulated
        if raw in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.strict_chats and raw not in self._started:
            if raw in self._users:
                # A real user who never pressed Start: Telegram answers 403, not 400.
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        return raw

    def _check_rate(self, chat_id: int) -> None:
        if not self.rate_limited:
            return
        retry_after = self._limiter.check(chat_id)
        if retry_after is not None:
            raise too_many_requests(retry_after)

    @staticmethod
    def _render(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
        return render(text, parse_mode)

    @staticmethod
    def _validate_markup(markup: Any) -> dict[str, Any] | None:
        return check_markup(markup)

    @staticmethod
    def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """Telegram shows (and returns) only inline keyboards as part of a message; an empty one
        is the same as none."""
        if markup and markup.get("inline_keyboard"):
            return markup
        return None

    def _reply_target(self, chat_id: int, params: Params) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
            chat_id = int(reply.get("chat_id", chat_id))
        if message_id is None:
            return None
        message_id = int(message_id)
        target: dict[str, Any] | None = None
        bot_message = self._bot_messages.get((chat_id, message_id))
        if bot_message is not None and not bot_message.deleted:
            target = bot_message.raw
        else:
            target = self._user_messages.get((chat_id, message_id))
        if target is None and not allow_missing:
            raise bad_request("message to be replied not found")
        if target is None:
            return None
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _record_message(
        self,
        chat_id: int,
        method: str,
        params: Params,
        *,
        text: str | None,
        text_key: str,
        content: dict[str, Any],
        file: StoredFile | None = None,
        charge: bool = True,
    ) -> dict[str, Any]:
        parse_mode = params.get("parse_mode") or None
        plain: str | None
        if text_key == "text":
            plain, entities = check_text(text, parse_mode)
        else:
            plain, entities = check_caption(text, parse_mode)
        markup = self._validate_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        if charge:
            self._check_rate(chat_id)  # last: requests refused for other reasons are not charged
        message_id = self._new_message_id(chat_id)
        raw: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": self._date(),
            **content,
        }
        if plain:
            raw[text_key] = plain
            if entities:
                raw["entities" if text_key == "text" else "caption_entities"] = entities
        if reply_to is not None:
            raw["reply_to_message"] = reply_to
        if self._inline_only(markup):
            raw["reply_markup"] = markup
        protect = bool(params.get("protect_content"))
        if protect:
            raw["has_protected_content"] = True
        message = SentMessage(
            message_id=message_id,
            chat_id=chat_id,
            method=method,
            text=text,
            plain=plain,
            reply_markup=markup,
            date=raw["date"],
            protect_content=protect,
            parse_mode=parse_mode,
            disable_notification=bool(params.get("disable_notification")),
            reply_to_message_id=reply_to["message_id"] if reply_to else None,
            file=file.data if file else None,
            filename=file.file_name if file else None,
            mime_type=file.mime_type if file else None,
            file_id=file.file_id if file else None,
            entities=entities,
            raw=raw,
        )
        self._sent.append(message)
        self._sent_by_chat.setdefault(chat_id, []).append(message)
        self._bot_messages[(chat_id, message_id)] = message
        self._notify_messages()
        return raw

    def _input_file(self, params: Params, uploads: Uploads, field: str) -> Upload | StoredFile:
        value = params.get(field)
        if value is None and field in uploads:
            upload: Upload | None = uploads[field]
        elif isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"wrong file identifier/HTTP URL specified ({value} is not attached)")
        elif isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                raise bad_request("failed to get HTTP URL content")
            stored = self._files.get(value)
            if stored is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            if stored.kind != field:
                raise bad_request(f"can't use file of type {stored.kind.title()} as {field.title()}")
            return stored
        else:
            raise bad_request(f"there is no {field} in the request")
        assert upload is not None
        if not upload.data:
            raise bad_request("file must be non-empty")
        return upload

    # -- methods --------------------------------------------------------------------------------

    async def _get_me(self, params: Params, uploads: Uploads) -> Any:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: Params, uploads: Uploads) -> Any:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Telegram remembers the setting until the next call that passes it; [] resets it.
            self._allowed_updates = frozenset(allowed) or _DEFAULT_UPDATE_TYPES
        # A newer getUpdates terminates the older one with 409, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._updates_changed
            batch = self._take(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(409, DEFAULT_DESCRIPTIONS[409])

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            # Negative offset: only the last -offset updates remain, the rest are forgotten.
            self._queue = self._queue[offset:]
        elif offset > 0:
            self._queue = [q for q in self._queue if q.update_id >= offset or (q.replay and not q.delivered)]

    def _take(self, limit: int) -> list[dict[str, Any]]:
        # Updates of types the bot did not ask for are dropped, never delivered (as on Telegram).
        self._queue = [q for q in self._queue if q.kind in self._allowed_updates]
        batch = self._queue[:limit]
        for item in batch:
            item.delivered = True
        return [item.update for item in batch]

    async def _delete_webhook(self, params: Params, uploads: Uploads) -> Any:
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    async def _get_webhook_info(self, params: Params, uploads: Uploads) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._queue)}

    @staticmethod
    def _scope_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        normalized = {k: int(v) if k in {"chat_id", "user_id"} else v for k, v in scope.items()}
        return json.dumps(normalized, sort_keys=True), str(language_code or "")

    async def _set_my_commands(self, params: Params, uploads: Uploads) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            name = name.removeprefix("/")
            if not 1 <= len(name) <= 32 or not all(c.islower() or c.isdigit() or c == "_" for c in name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        key = self._scope_key(params.get("scope"), params.get("language_code"))
        if commands:
            self._commands[key] = [
                {"command": c["command"].removeprefix("/"), "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: Params, uploads: Uploads) -> Any:
        return self._commands.get(self._scope_key(params.get("scope"), params.get("language_code")), [])

    async def _delete_my_commands(self, params: Params, uploads: Uploads) -> Any:
        self._commands.pop(self._scope_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def _send_message(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise bad_request("message text is empty")
        return self._record_message(chat_id, "sendMessage", params, text=text, text_key="text", content={})

    async def _send_photo(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        source = self._input_file(params, uploads, "photo")
        if isinstance(source, StoredFile):
            stored = source
            sizes = [
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": stored.width,
                    "height": stored.height,
                    "file_size": len(stored.data),
                }
            ]
        else:
            stored, sizes = self._photo_sizes(source.data, validate=True)
        return self._record_message(
            chat_id,
            "sendPhoto",
            params,
            text=params.get("caption") or None,
            text_key="caption",
            content={"photo": sizes},
            file=stored,
        )

    async def _send_document(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        source = self._input_file(params, uploads, "document")
        if isinstance(source, StoredFile):
            stored = source
        else:
            name = source.filename or "document"
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            stored = self._store_file(source.data, kind="document", file_name=name, mime_type=mime)
        return self._record_message(
            chat_id,
            "sendDocument",
            params,
            text=params.get("caption") or None,
            text_key="caption",
            content={"document": self._document_object(stored)},
            file=stored,
        )

    def _media_item(self, item: Any, uploads: Uploads) -> tuple[str, StoredFile, dict[str, Any]]:
        if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
            kind = item.get("type") if isinstance(item, dict) else None
            raise bad_request(f"unsupported media type {kind!r} in the album")  # others are not emulated
        kind = str(item["type"])
        source = self._input_file({kind: item.get("media")}, uploads, kind)
        if isinstance(source, StoredFile):
            stored = source
        elif kind == "photo":
            stored, _ = self._photo_sizes(source.data, validate=True)
        else:
            name = source.filename or "document"
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            stored = self._store_file(source.data, kind="document", file_name=name, mime_type=mime)
        check_caption(item.get("caption"), item.get("parse_mode") or None)
        if kind == "photo":
            size = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": stored.width,
                "height": stored.height,
                "file_size": len(stored.data),
            }
            return "sendPhoto", stored, {"photo": [size]}
        return "sendDocument", stored, {"document": self._document_object(stored)}

    async def _send_media_group(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("media must be an Array of 2-10 InputMedia")
        items = [self._media_item(item, uploads) for item in media]
        kinds = {method for method, _, _ in items}
        if len(kinds) > 1:
            raise bad_request("document can't be mixed with other media types")
        # An album is one send for the rate limits: checked once, before anything is recorded.
        self._check_rate(chat_id)
        group_id = str(next(self._file_counter) * 7919)
        sent = []
        for item, (method, stored, content) in zip(media, items, strict=True):
            item_params = {"parse_mode": item.get("parse_mode")} | {
                key: params[key] for key in ("protect_content", "disable_notification") if key in params
            }
            raw = self._record_message(
                chat_id,
                method,
                item_params,
                text=item.get("caption") or None,
                text_key="caption",
                content=content | {"media_group_id": group_id},
                file=stored,
                charge=False,
            )
            sent.append(raw)
        return sent

    async def _copy_message(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        from_chat, message_id = params.get("from_chat_id"), params.get("message_id")
        raw: dict[str, Any] | None = None
        if isinstance(from_chat, int) and isinstance(message_id, int):
            source = self._bot_messages.get((from_chat, message_id))
            if source is not None and not source.deleted:
                raw = source.raw
            else:
                raw = self._user_messages.get((from_chat, message_id))
        if raw is None:
            raise bad_request("message to copy not found")
        keep = ("reply_markup", "protect_content", "disable_notification", "reply_parameters", "reply_to_message_id")
        copy_params: Params = {key: params[key] for key in keep if key in params}
        if "photo" in raw or "document" in raw:
            kind = "photo" if "photo" in raw else "document"
            file_id = raw["photo"][-1]["file_id"] if kind == "photo" else raw["document"]["file_id"]
            stored = self._files[file_id]
            if "caption" in params:
                caption, copy_params["parse_mode"] = params.get("caption") or None, params.get("parse_mode")
            else:
                caption = raw.get("caption")  # already plain text: entities are not re-parsed
            method, text_key, content = ("sendPhoto" if kind == "photo" else "sendDocument"), "caption", {
                kind: raw[kind]
            }
            result = self._record_message(
                chat_id, method, copy_params, text=caption, text_key=text_key, content=content, file=stored
            )
        elif "text" in raw:
            result = self._record_message(chat_id, "sendMessage", copy_params, text=raw["text"], text_key="text",
                                          content={})
        else:
            raise bad_request("message can't be copied")
        return {"message_id": result["message_id"]}

    def _editable(self, params: Params) -> SentMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # inline mode is not emulated
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        message = self._bot_messages.get((chat_id, message_id))
        if message is None and (chat_id, message_id) in self._user_messages:
            raise bad_request("message can't be edited")
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        return message

    def _apply_edit(
        self,
        message: SentMessage,
        method: str,
        *,
        text: str | None,
        plain: str | None,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
        parse_mode: str | None,
    ) -> dict[str, Any]:
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        if markup is None and message.reply_markup and not self._inline_only(message.reply_markup):
            # A reply keyboard belongs to the chat, not the message: an edit does not remove it.
            markup = message.reply_markup
        if (
            plain == message.plain
            and entities == message.entities
            and self._inline_only(markup) == self._inline_only(message.reply_markup)
        ):
            raise bad_request(_NOT_MODIFIED)
        message.text, message.plain, message.entities = text, plain, entities
        message.reply_markup, message.parse_mode = markup, parse_mode
        message.edits.append(Edit(method, text, markup, parse_mode, time.monotonic()))
        raw = dict(message.raw)
        text_key = "text" if message.method == "sendMessage" else "caption"
        entities_key = "entities" if text_key == "text" else "caption_entities"
        raw.pop(text_key, None)
        raw.pop(entities_key, None)
        raw.pop("reply_markup", None)
        if plain:
            raw[text_key] = plain
        if entities:
            raw[entities_key] = entities
        if self._inline_only(markup):
            raw["reply_markup"] = markup
        raw["edit_date"] = self._date()
        message.raw = raw
        self._notify_messages()
        return raw

    async def _edit_message_text(self, params: Params, uploads: Uploads) -> Any:
        message = self._editable(params)
        text = params.get("text")
        if message.method != "sendMessage":
            raise bad_request("there is no text in the message to edit")
        parse_mode = params.get("parse_mode") or None
        plain, entities = check_text(text, parse_mode)
        # No reply_markup in the edit removes the inline keyboard, exactly as on Telegram.
        markup = self._validate_markup(params.get("reply_markup"))
        return self._apply_edit(
            message,
            "editMessageText",
            text=text,
            plain=plain,
            entities=entities,
            markup=markup,
            parse_mode=parse_mode,
        )

    async def _edit_message_caption(self, params: Params, uploads: Uploads) -> Any:
        message = self._editable(params)
        if message.method == "sendMessage":
            raise bad_request("there is no caption in the message to edit")
        caption = params.get("caption") or None
        parse_mode = params.get("parse_mode") or None
        plain, entities = check_caption(caption, parse_mode)
        markup = self._validate_markup(params.get("reply_markup"))
        return self._apply_edit(
            message,
            "editMessageCaption",
            text=caption,
            plain=plain or None,
            entities=entities,
            markup=markup,
            parse_mode=parse_mode,
        )

    async def _edit_message_reply_markup(self, params: Params, uploads: Uploads) -> Any:
        message = self._editable(params)
        markup = self._validate_markup(params.get("reply_markup"))
        return self._apply_edit(
            message,
            "editMessageReplyMarkup",
            text=message.text,
            plain=message.plain,
            entities=message.entities,
            markup=markup,
            parse_mode=message.parse_mode,
        )

    async def _delete_message(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        message_id = params.get("message_id")
        key = (chat_id, message_id if isinstance(message_id, int) else -1)
        message = self._bot_messages.get(key)
        if message is not None and not message.deleted:
            message.deleted = True
            self._notify_messages()
            return True
        if self._user_messages.pop(key, None) is not None:
            return True  # bots may delete incoming messages in private chats
        raise bad_request("message to delete not found")

    async def _answer_callback_query(self, params: Params, uploads: Uploads) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._pending_callbacks:
            # Unknown and already-answered queries get the same answer from Telegram.
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        del self._pending_callbacks[query_id]
        self.callback_answers[query_id] = {
            key: params[key] for key in ("text", "show_alert", "url", "cache_time") if key in params
        }
        self._notify_messages()
        return True

    async def _get_file(self, params: Params, uploads: Uploads) -> Any:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _send_chat_action(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        action = params.get("action")
        if not action:
            raise bad_request("action is empty")
        self.chat_actions.append((chat_id, str(action)))
        return True

    async def _set_chat_menu_button(self, params: Params, uploads: Uploads) -> Any:
        chat_id = params.get("chat_id")
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise bad_request("can't parse menu button JSON object")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
        return True

    async def _get_chat(self, params: Params, uploads: Uploads) -> Any:
        chat_id = self._target_chat(params)
        return self._chat(chat_id) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _description_setter(self, field: str, limit: int) -> Handler:
        async def handler(params: Params, uploads: Uploads) -> Any:
            text = str(params.get(field) or "")
            if len(text) > limit:
                raise bad_request(f"{field.upper()}_INVALID")
            self.descriptions[(field, str(params.get("language_code") or ""))] = text
            return True

        return handler

    def _description_getter(self, field: str) -> Handler:
        async def handler(params: Params, uploads: Uploads) -> Any:
            return {field: self.descriptions.get((field, str(params.get("language_code") or "")), "")}

        return handler

    async def _get_chat_menu_button(self, params: Params, uploads: Uploads) -> Any:
        chat_id = params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "default"}


__all__ = ["SEND_METHODS", "FakeTelegram"]
