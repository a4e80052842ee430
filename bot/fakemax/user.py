"""A MAX user talking to the bot in a dialog: the user simulator tests drive."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from bot.fakemax.models import MaxMessage, StoredFile


class UserSide(Protocol):
    """What a simulated user needs of the fake server (bot/fakemax/state.py implements it); a
    Protocol, so the state that creates users and the users that act on it are not an import cycle."""

    def dialog_chat_id(self, user_id: int) -> int: ...
    def _ms(self) -> int: ...
    def _user_message(
        self, user: FakeMaxUser, text: str, attachments: list[dict[str, Any]], *, reply_to: MaxMessage | None = None
    ) -> int: ...
    def _press(self, user: FakeMaxUser, message: MaxMessage, button_text: str) -> int: ...
    def _started(self, user: FakeMaxUser, payload: str | None) -> int: ...
    def store_file(self, data: bytes, filename: str, kind: str) -> StoredFile: ...
    def attachment_object(self, stored: StoredFile) -> dict[str, Any]: ...
    def sent(self, user_id: int | None = None) -> list[MaxMessage]: ...


class FakeMaxUser:
    """Every action queues the update MAX would deliver and returns its marker."""

    def __init__(
        self,
        server: UserSide,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        phone: str | None,
        locale: str,
    ) -> None:
        self._server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.phone = phone or f"7900{user_id % 10_000_000:07d}"
        self.locale = locale
        self.blocked = False

    def __repr__(self) -> str:
        return f"FakeMaxUser(id={self.id}, first_name={self.first_name!r})"

    @property
    def chat_id(self) -> int:
        return self._server.dialog_chat_id(self.id)

    def as_user(self) -> dict[str, Any]:
        """The MAX User object (``name`` is the deprecated full name live MAX still sends)."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        user: dict[str, Any] = {
            "user_id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name or "",
            "is_bot": False,
            "last_activity_time": self._server._ms(),
            "name": name,
        }
        if self.username:
            user["username"] = self.username
        return user

    def vcf(self, phone: str | None = None, name: str | None = None) -> str:
        full = name or " ".join(part for part in (self.first_name, self.last_name) if part)
        return f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{full}\r\nTEL;TYPE=cell:{phone or self.phone}\r\nEND:VCARD\r\n"

    def contact_attachment(
        self, *, own: bool = True, phone: str | None = None, max_user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A contact attachment. ``own``: the sender's own contact, as the request_contact button
        sends it (``max_info`` is the sender). Otherwise a card of ``phone`` whose ``max_info`` is
        ``max_user`` (another MAX user, or None for a number not on MAX)."""
        vcf = self.vcf(phone) if own else self.vcf(phone, name="Другой человек")
        payload: dict[str, Any] = {"vcf_info": vcf, "hash": hashlib.sha256(vcf.encode()).hexdigest()}
        info = self.as_user() if own else max_user
        if info is not None:  # a number not on MAX has no max_info (null breaks the schema's allOf)
            payload["max_info"] = info
        return {"type": "contact", "payload": payload}

    # -- actions -------------------------------------------------------------------------------

    async def send(self, text: str, *, reply_to: MaxMessage | None = None) -> int:
        """Send text; ``reply_to`` makes it a reply to that message (MAX's ``link`` of type reply)."""
        return self._server._user_message(self, text, [], reply_to=reply_to)

    async def start(self, payload: str | None = None) -> int:
        """Open the bot (the Start button or a deep link https://max.ru/<bot>?start=<payload>)."""
        self.blocked = False
        return self._server._started(self, payload)

    async def press(self, message: MaxMessage, button: str) -> int:
        """Press a button found by its text (or callback payload): callback buttons reach the bot as
        message_callback, message buttons as the user's text, request_contact as the own contact."""
        return self._server._press(self, message, button)

    async def share_contact(
        self, phone: str | None = None, *, own: bool = True, max_user: dict[str, Any] | None = None
    ) -> int:
        return self._server._user_message(self, "", [self.contact_attachment(own=own, phone=phone, max_user=max_user)])

    async def send_file(self, data: bytes, filename: str, text: str = "") -> int:
        stored = self._server.store_file(data, filename, "file")
        return self._server._user_message(self, text, [self._server.attachment_object(stored)])

    async def send_photo(self, data: bytes, text: str = "") -> int:
        stored = self._server.store_file(data, "photo.jpg", "image")
        return self._server._user_message(self, text, [self._server.attachment_object(stored)])

    def stop_bot(self) -> None:
        """The user stops the bot: sends to them are refused (403 chat.denied) until they start it."""
        self.blocked = True

    def inbox(self) -> list[MaxMessage]:
        return self._server.sent(self.id)
