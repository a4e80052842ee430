"""Plain records the fake keeps about what the bot did, for tests to inspect."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Edit:
    """One applied edit; ``text``/``reply_markup`` are the values *after* the edit."""

    method: str
    text: str | None
    reply_markup: dict[str, Any] | None
    parse_mode: str | None
    time: float


@dataclass
class SentMessage:
    """A message the bot sent, kept up to date with edits and deletion.

    ``text`` is what the bot sent (text or caption, markup included); ``plain`` is what the user
    sees (HTML tags removed, entities unescaped).
    """

    message_id: int
    chat_id: int
    method: str  # "sendMessage" | "sendPhoto" | "sendDocument"
    text: str | None
    plain: str | None
    reply_markup: dict[str, Any] | None
    date: int
    protect_content: bool = False
    parse_mode: str | None = None
    disable_notification: bool = False
    reply_to_message_id: int | None = None
    file: bytes | None = None
    filename: str | None = None
    mime_type: str | None = None
    file_id: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    deleted: bool = False
    # The Bot API object as last returned to the bot (used for callback queries and replies).
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def caption(self) -> str | None:
        return self.text if self.method != "sendMessage" else None

    def _inline_rows(self) -> list[list[dict[str, Any]]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard")
        return rows if isinstance(rows, list) else []

    def buttons(self) -> list[list[str]]:
        """Inline keyboard button texts, row by row (empty when there is no inline keyboard)."""
        return [[str(button.get("text", "")) for button in row] for row in self._inline_rows()]

    def reply_buttons(self) -> list[list[str]]:
        """Reply keyboard button texts, row by row."""
        markup = self.reply_markup or {}
        rows = markup.get("keyboard") or []
        return [[b if isinstance(b, str) else str(b.get("text", "")) for b in row] for row in rows]

    def find_button(self, button: str) -> dict[str, Any]:
        """The inline button whose text, or else exact callback_data, is ``button``."""
        candidates = [b for row in self._inline_rows() for b in row]
        for key in ("text", "callback_data"):
            for candidate in candidates:
                if candidate.get(key) == button:
                    return candidate
        raise LookupError(
            f"no inline button {button!r} in message {self.message_id} to chat {self.chat_id}; "
            f"buttons: {self.buttons()!r}, callback_data: "
            f"{[b.get('callback_data') for b in candidates]!r}"
        )

    def callback_data(self, text: str) -> str:
        data = self.find_button(text).get("callback_data")
        if data is None:
            raise LookupError(f"inline button {text!r} has no callback_data")
        return str(data)

    def describe(self) -> str:
        """One readable line for assertion dumps."""
        flags = [flag for flag, on in (("deleted", self.deleted), ("protected", self.protect_content)) if on]
        if self.edits:
            flags.append(f"edited x{len(self.edits)}")
        parts = [f"#{self.message_id} {self.method}"]
        if self.filename:
            parts.append(f"file={self.filename!r} ({len(self.file or b'')} bytes)")
        parts.append(repr(self.text))
        if self.buttons():
            parts.append(f"buttons={self.buttons()!r}")
        elif self.reply_buttons():
            parts.append(f"keyboard={self.reply_buttons()!r}")
        if flags:
            parts.append(f"[{', '.join(flags)}]")
        return " ".join(parts)


@dataclass
class RecordedRequest:
    """One Bot API call as the server saw it. ``status`` is None while in flight or when the
    connection was dropped on purpose (``dropped`` is then True)."""

    method: str
    params: dict[str, Any]
    time: float
    status: int | None = None
    dropped: bool = False


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str
    kind: str = "document"  # "photo" | "document": Telegram refuses to send one kind as the other
    width: int = 0
    height: int = 0


@dataclass
class Stats:
    """Counters per Bot API method (method names as the client spelled them)."""

    accepted: Counter[str] = field(default_factory=Counter)  # 2xx replies
    rate_limited: Counter[str] = field(default_factory=Counter)  # 429 replies
    server_errors: Counter[str] = field(default_factory=Counter)  # 5xx replies
    client_errors: Counter[str] = field(default_factory=Counter)  # other 4xx replies
    dropped: Counter[str] = field(default_factory=Counter)  # connections dropped by fault injection

    @property
    def total_429(self) -> int:
        return sum(self.rate_limited.values())

    @property
    def total_5xx(self) -> int:
        return sum(self.server_errors.values())

    @property
    def accepted_sends(self) -> int:
        return sum(n for method, n in self.accepted.items() if method in SEND_METHODS)

    def reset(self) -> None:
        for counter in (self.accepted, self.rate_limited, self.server_errors, self.client_errors, self.dropped):
            counter.clear()


SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage"})
