"""Plain records the fake MAX server keeps, for tests to inspect."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class MaxMessage:
    """A message in a dialog, kept up to date with edits and deletion.

    ``text`` is what was sent (HTML included when ``format`` is "html"); ``plain`` is what the user
    sees. ``attachments`` are in the form MAX returns them (inline_keyboard, image, file, contact).
    """

    mid: str
    seq: int
    chat_id: int
    user_id: int  # the human in the dialog
    from_bot: bool
    text: str | None
    format: str | None
    plain: str
    attachments: list[dict[str, Any]]
    timestamp: int
    deleted: bool = False
    edits: int = 0

    def keyboard(self) -> list[list[dict[str, Any]]]:
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                rows: list[list[dict[str, Any]]] = attachment["payload"]["buttons"]
                return rows
        return []

    def buttons(self) -> list[str]:
        return [button["text"] for row in self.keyboard() for button in row]

    def button(self, text_or_payload: str) -> dict[str, Any]:
        for row in self.keyboard():
            for button in row:
                if text_or_payload in (button.get("text"), button.get("payload")):
                    return button
        raise LookupError(f"no button {text_or_payload!r} in message {self.mid}; buttons: {self.buttons()!r}")

    def files(self) -> list[dict[str, Any]]:
        return [a for a in self.attachments if a.get("type") in ("image", "file")]

    def describe(self) -> str:
        extra = f" buttons={self.buttons()!r}" if self.keyboard() else ""
        media = f" files={[a['type'] for a in self.files()]}" if self.files() else ""
        gone = " (deleted)" if self.deleted else ""
        return f"{self.mid}{gone}: {self.plain[:200]!r}{extra}{media}"


@dataclass
class StoredFile:
    token: str
    kind: str  # "image" | "file"
    data: bytes
    filename: str
    photo_id: int | None = None
    ready_at: float = 0.0  # the fake's clock time from which MAX has processed the upload


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    operation_id: str | None = None
    status: int | None = None
    response: Any = None


@dataclass
class Stats:
    requests: int = 0
    refused_schema: int = 0
    refused_rate: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)


class _Plain(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(text: str | None, text_format: str | None) -> str:
    """What a MAX user sees: HTML tags removed and entities decoded when the format is html."""
    if not text:
        return ""
    if text_format != "html":
        return text
    parser = _Plain()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)
