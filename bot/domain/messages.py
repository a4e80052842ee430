"""What a message to send is (#27): its text, markup, file or renderer, as the outbox stores it and
the sender reads it back. A plain value: services build it and storage keeps it (as JSON) without
either depending on the other."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["text", "photo", "document"]


@dataclass(frozen=True)
class Payload:
    """What to send. For photo/document, either `file_id` names a file Telegram already holds, or
    `renderer` names a function registered with the sender that produces the file bytes from `args`
    at send time (so secrets such as invitation codes are referenced by id, and rendering happens
    off the event loop)."""

    text: str | None = None                 # message text, or the caption of a photo/document
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = "HTML"
    protect_content: bool = False
    renderer: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None
    # A file Telegram already holds (e.g. a proof a staff member sent): re-sent by its file_id,
    # so it needs no renderer and nothing is downloaded.
    file_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "reply_markup": self.reply_markup,
                "parse_mode": self.parse_mode,
                "protect_content": self.protect_content,
                "renderer": self.renderer,
                "args": self.args,
                "filename": self.filename,
                "file_id": self.file_id,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> Payload:
        data = json.loads(raw)
        return cls(
            text=data.get("text"),
            reply_markup=data.get("reply_markup"),
            parse_mode=data.get("parse_mode"),
            protect_content=bool(data.get("protect_content")),
            renderer=data.get("renderer"),
            args=data.get("args") or {},
            filename=data.get("filename"),
            file_id=data.get("file_id"),
        )


@dataclass(frozen=True)
class Answer:
    """An answer a press is owed, queued with the effect it reports (bot/services/outbox.py
    `Outbox.answer`): its outbox key and what it says. The handler gives it and says so
    (`Outbox.answered`); if it cannot, the outbox's sender does."""

    key: str
    kind: Kind
    payload: Payload
