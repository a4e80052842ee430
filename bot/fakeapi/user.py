"""A Telegram user talking to the bot in a private chat."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from bot.fakeapi.callbacks import press
from bot.fakeapi.files import document_object
from bot.fakeapi.markup import utf16_len
from bot.fakeapi.models import SentMessage
from bot.fakeapi.state import FakeState


class _Own(Enum):
    """Sentinel type: ``share_contact`` defaults to the sender's own id, while None is meaningful."""

    OWN = "own"


OWN = _Own.OWN


class FakeUser:
    """A user in a private chat with the bot (so the chat id equals the user id).

    Every action enqueues the update Telegram would deliver and returns its update_id.
    """

    def __init__(
        self,
        tg: FakeState,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "ru",
        phone: str | None = None,
    ) -> None:
        self._tg = tg
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.phone = phone or f"+7900{user_id % 10_000_000:07d}"

    def __repr__(self) -> str:
        return f"FakeUser(id={self.id}, first_name={self.first_name!r})"

    def as_user(self) -> dict[str, Any]:
        """The Bot API User object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        """The Bot API Chat object of the private chat with this user."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # -- actions -------------------------------------------------------------------------------

    async def send(self, text: str, *, reply_to: SentMessage | None = None) -> int:
        """Send a text message. A leading /command gets a bot_command entity, as Telegram adds one
        (aiogram's Command filter relies on it)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return self._tg.user_message(self, content, reply_to=reply_to)

    async def share_contact(self, phone: str, *, user_id: int | Literal[_Own.OWN] | None = OWN) -> int:
        """Share a contact. ``user_id`` defaults to the sender's own id (what the "share my phone"
        button sends); pass another id, or None, to forge a contact of someone else."""
        contact: dict[str, Any] = {"phone_number": phone, "first_name": self.first_name}
        if self.last_name:
            contact["last_name"] = self.last_name
        resolved = self.id if user_id is OWN else user_id
        if resolved is not None:
            contact["user_id"] = resolved
        return self._tg.user_message(self, {"contact": contact})

    async def send_document(
        self, data: bytes, filename: str, mime_type: str = "text/csv", caption: str | None = None
    ) -> int:
        stored = self._tg.files.store_document(data, filename, mime_type)
        content: dict[str, Any] = {"document": document_object(stored)}
        if caption is not None:
            content["caption"] = caption
        return self._tg.user_message(self, content)

    async def send_photo(self, data: bytes, caption: str | None = None) -> int:
        # Users' photos are not validated: the client has already turned them into an image.
        content: dict[str, Any] = {"photo": self._tg.files.store_photo(data, validate=False)[1]}
        if caption is not None:
            content["caption"] = caption
        return self._tg.user_message(self, content)

    async def press(self, message: SentMessage, button: str) -> int:
        """Press an inline button found by its text (or exact callback_data)."""
        return press(self._tg, self, message, button)

    async def press_reply(self, message: SentMessage, button: str) -> int:
        """Press a reply-keyboard button: sends its text, or this user's contact when the button
        has request_contact."""
        current = self._tg.message(message.chat_id, message.message_id)
        rows = (current.reply_markup or {}).get("keyboard") or []
        for row in rows:
            for item in row:
                spec: dict[str, Any] = {"text": item} if isinstance(item, str) else item
                if spec.get("text") != button:
                    continue
                if spec.get("request_contact"):
                    return await self.share_contact(self.phone)
                return await self.send(button)
        raise LookupError(
            f"no reply keyboard button {button!r} in message {current.message_id} to chat "
            f"{current.chat_id}; keyboard: {current.reply_buttons()!r}"
        )

    def inbox(self) -> list[SentMessage]:
        """Everything the bot sent to this user, in order."""
        return self._tg.sent(self.id)

    async def push_raw(self, update: dict[str, Any]) -> int:
        """Enqueue an arbitrary update (see FakeTelegram.push_update)."""
        return self._tg.push_update(update)
