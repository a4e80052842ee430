"""What the fake Telegram knows: the bot, its users and chats, the messages both sides sent, the
update queue, the files, and the records of every call (requests and stats)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.fakeapi.errors import ApiError, bad_request, too_many_requests
from bot.fakeapi.files import FileStore
from bot.fakeapi.models import RecordedRequest, SentMessage, Stats
from bot.fakeapi.params import Params, Uploads
from bot.fakeapi.queue import UpdateQueue
from bot.fakeapi.ratelimit import RateLimiter


class Person(Protocol):
    """A user the fake knows by name (bot.fakeapi.user.FakeUser)."""

    id: int

    def as_user(self) -> dict[str, Any]: ...

    def as_chat(self) -> dict[str, Any]: ...


class FakeState:
    """What the fake Telegram knows; the method handlers read and change it.

    ``bot_id`` defaults to the numeric prefix of ``token`` (as aiogram derives ``Bot.id``).
    ``rate_limited`` (on by default, as on Telegram) answers 429 with retry_after beyond ``global_rate``
    sends per second overall and ``per_chat_rate`` per chat, for every method that sends; the bot
    paces itself with its one send limiter (bot/limiter.py). Tests of the fake itself that drive a
    bare Bot without that limiter turn it off. ``latency`` delays every answer.
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
        super().__init__()  # FakeTelegram mixes in the faults
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
        self.requests: list[RecordedRequest] = []
        self.stats = Stats()
        self.chat_actions: list[tuple[int, str]] = []
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}  # (field, language_code) -> text
        # Bugs of the fake itself (answered as 500): tests may assert this stays empty.
        self.internal_errors: list[BaseException] = []
        self.files = FileStore()
        self.updates = UpdateQueue()
        self.bot_messages: dict[tuple[int, int], SentMessage] = {}
        self.user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.pending_callbacks: dict[str, int] = {}  # callback query id -> update_id
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}  # scope key -> commands
        self._now = now
        self._limiter = RateLimiter(global_rate, per_chat_rate, now=monotonic)
        self._users: dict[int, Person] = {}
        self._blocked: set[int] = set()
        self._started: set[int] = set()
        self._sent: list[SentMessage] = []
        self._sent_by_chat: dict[int, list[SentMessage]] = {}  # wait_for scans one chat, not all
        self._next_message_id: dict[int, int] = {}
        # Events are replaced after being set, so each waiter wakes once per change.
        self.messages_changed = asyncio.Event()
        self.requests_changed = asyncio.Event()
        self.closing = asyncio.Event()

    # -- the bot, users and chats ---------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def chat(self, chat_id: int) -> dict[str, Any]:
        user = self._users.get(chat_id)
        if user is not None:
            return user.as_chat()
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def date(self) -> int:
        return int(self._now())

    def add_user(self, user: Person) -> None:
        self._users[user.id] = user

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
        new_member: dict[str, Any] = {"status": new, "user": self.bot_user()}
        if new == "kicked":
            new_member["until_date"] = 0
        self.push_update(
            {
                "my_chat_member": {
                    "chat": self.chat(chat_id),
                    "from": sender,
                    "date": self.date(),
                    "old_chat_member": {"status": old, "user": self.bot_user()}
                    | ({"until_date": 0} if old == "kicked" else {}),
                    "new_chat_member": new_member,
                }
            }
        )

    def target_chat(self, params: Params) -> int:
        """The chat a call addresses, refused the way Telegram refuses it."""
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

    def check_rate(self, chat_id: int) -> None:
        if not self.rate_limited:
            return
        retry_after = self._limiter.check(chat_id)
        if retry_after is not None:
            raise too_many_requests(retry_after)

    # -- updates --------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Enqueue a raw update. Without ``update_id`` the next one is assigned; an explicit id
        that was already used is delivered again (a duplicate, as Telegram sometimes does)."""
        return self.updates.push(update)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by an offset."""
        return self.updates.pending()

    # -- messages -------------------------------------------------------------------------------

    def new_message_id(self, chat_id: int) -> int:
        # Private chats number messages per chat, shared by both sides.
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        return message_id

    def user_message(self, user: Person, content: dict[str, Any], *, reply_to: SentMessage | None = None) -> int:
        """A message from ``user`` to the bot: stored and queued as an update; returns its update_id."""
        message: dict[str, Any] = {
            "message_id": self.new_message_id(user.id),
            "from": user.as_user(),
            "chat": user.as_chat(),
            "date": self.date(),
            **content,
        }
        if reply_to is not None:
            target = self.message(reply_to.chat_id, reply_to.message_id).raw
            # Telegram nests replies one level deep only.
            message["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
        if user.id in self._blocked:
            # Writing to the bot again means the user unblocked it (pressed Start/Restart).
            self.unblock(user.id)
        self.user_messages[(user.id, message["message_id"])] = message
        self._started.add(user.id)
        return self.push_update({"message": message})

    def add_sent(self, message: SentMessage) -> None:
        """Record a message the bot sent."""
        self._sent.append(message)
        self._sent_by_chat.setdefault(message.chat_id, []).append(message)
        self.bot_messages[(message.chat_id, message.message_id)] = message
        self.notify_messages()

    def visible_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The Bot API object of a message still in the chat, sent by either side (None if none)."""
        bot_message = self.bot_messages.get((chat_id, message_id))
        if bot_message is not None and not bot_message.deleted:
            return bot_message.raw
        return self.user_messages.get((chat_id, message_id))

    def notify_messages(self) -> None:
        self.messages_changed.set()
        self.messages_changed = asyncio.Event()

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent (deleted ones included, flagged), edits applied, in order."""
        if chat_id is None:
            return list(self._sent)
        return list(self._sent_by_chat.get(chat_id, ()))

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        try:
            return self.bot_messages[(chat_id, message_id)]
        except KeyError:
            raise LookupError(f"the bot sent no message {message_id} to chat {chat_id}") from None

    # -- records --------------------------------------------------------------------------------

    def record_request(self, record: RecordedRequest) -> None:
        self.requests.append(record)
        self.requests_changed.set()
        self.requests_changed = asyncio.Event()


# One Bot API method: reads the call's parameters and uploads, changes the state, returns the result.
MethodHandler = Callable[[FakeState, Params, Uploads], Awaitable[Any]]
