"""The two messengers a sandbox person can be on: one face for the chat engine and the scripts.

A person is played on Telegram (`bot.fakeapi.FakeUser`) or on MAX (`bot.fakemax.FakeMaxUser`).
`PlayedUser` gives both the same actions, and `max_view` shows a MAX message as the
`SentMessage` the chat engine already knows how to print, number and press (MAX has inline
keyboards only: a reply keyboard arrives as inline `message` buttons, the contact request as a
`request_contact` button, and pressing either works through the MAX user simulator).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal

from bot.fakeapi import FakeTelegram, FakeUser, SentMessage
from bot.fakeapi.models import Edit
from bot.fakemax import FakeMax
from bot.fakemax.models import MaxMessage
from bot.fakemax.user import FakeMaxUser

Wire = Literal["telegram", "max"]
WIRES: tuple[Wire, ...] = ("telegram", "max")
WIRE_LABELS: dict[Wire, str] = {"telegram": "Telegram", "max": "MAX"}


def parse_wire(word: str) -> Wire | None:
    low = word.strip().lower()
    if low in ("tg", "telegram"):
        return "telegram"
    if low == "max":
        return "max"
    return None


def max_view(mx: FakeMax, message: MaxMessage) -> SentMessage:
    """A MAX message as a SentMessage: `message_id` is MAX's seq, buttons an inline keyboard."""
    files = message.files()
    method, data, filename = "sendMessage", None, None
    if files:
        attachment = files[0]
        method = "sendPhoto" if attachment.get("type") == "image" else "sendDocument"
        token = (attachment.get("payload") or {}).get("token")
        if token:
            stored = mx.file(str(token))
            data, filename = stored.data, (stored.filename if method == "sendDocument" else None)
    rows = [[{"text": str(b.get("text", ""))} for b in row] for row in message.keyboard()]
    markup = {"inline_keyboard": rows} if rows else None
    # MAX edits a message in place; the view keeps one Edit per edit so "(edited)" and the
    # scripts' edit windows count them as on Telegram.
    edits = [Edit("editMessage", message.plain, markup, None, 0.0) for _ in range(message.edits)]
    return SentMessage(
        message_id=message.seq, chat_id=message.chat_id, method=method, text=message.text,
        plain=message.plain, reply_markup=markup, date=message.timestamp // 1000,
        file=data, filename=filename, edits=edits, deleted=message.deleted,
    )


class PlayedUser:
    """A demo person on one wire; every action returns the marker/update id `Sandbox.act` waits on."""

    def __init__(self, wire: Wire, tg: FakeUser | None = None, mx: FakeMaxUser | None = None,
                 max_server: FakeMax | None = None) -> None:
        self.wire = wire
        self.tg = tg
        self.mx = mx
        self.max_server = max_server

    @property
    def phone(self) -> str | None:
        if self.mx is not None:
            return self.mx.phone
        assert self.tg is not None
        return self.tg.phone

    def send(self, text: str) -> Awaitable[int]:
        if self.mx is not None:
            head, _, payload = text.partition(" ")
            if head == "/start":
                # On MAX a deep link (https://max.ru/<bot>?start=<payload>) is the Start button
                # with a payload: a bot_started update, not a text message.
                return self.mx.start(payload.strip() or None)
            return self.mx.send(text)
        assert self.tg is not None
        return self.tg.send(text)

    def share_contact(self) -> Awaitable[int]:
        if self.mx is not None:
            return self.mx.share_contact()
        assert self.tg is not None
        return self.tg.share_contact(self.tg.phone)

    def send_document(self, data: bytes, filename: str, mime: str) -> Awaitable[int]:
        if self.mx is not None:
            return self.mx.send_file(data, filename)
        assert self.tg is not None
        return self.tg.send_document(data, filename, mime)

    def press(self, message: SentMessage, text: str) -> Awaitable[int]:
        """An inline button (on MAX every button is inline)."""
        if self.mx is not None:
            return self.mx.press(self._max_message(message), text)
        assert self.tg is not None
        return self.tg.press(message, text)

    def press_reply(self, message: SentMessage, text: str) -> Awaitable[int]:
        assert self.tg is not None, "MAX has no reply keyboards"
        return self.tg.press_reply(message, text)

    def _max_message(self, view: SentMessage) -> MaxMessage:
        assert self.max_server is not None and self.mx is not None
        for message in self.max_server.sent(self.mx.id):
            if message.seq == view.message_id:
                return message
        raise LookupError(f"no MAX message #{view.message_id}")

    def callback_answer(self, tg_server: FakeTelegram, update_id: int) -> dict[str, Any] | None:
        if self.mx is not None:
            return None  # MAX shows a callback answer as a notification the fake keeps by callback id
        return tg_server.callback_answer(update_id)
