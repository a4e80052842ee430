"""MAX objects -> aiogram objects, and aiogram markup -> MAX attachments.

Identity mapping (kept in one place so ids never mix):
- A dialog appears to aiogram as a private chat whose id is the MAX *user id* of the human (as in
  Telegram, where a private chat id equals the user id); a group chat keeps MAX's (negative) chat_id.
  Sending to a positive chat id therefore goes to ``?user_id=``, to a negative one to ``?chat_id=``.
- ``message_id`` is MAX's integer ``body.seq``; the string ``mid`` MAX edits and deletes by is kept in
  ``MidRegistry`` (in memory: an edit of a message sent before a restart is refused, as Telegram refuses
  an edit of a message it cannot find).
- ``update_id`` is derived from the update itself (``timestamp_ms * 4096 + 12 bits of a hash of the
  mid / callback id / start``): the same MAX update redelivered after a restart gets the same id, so
  the processed-updates guard drops it; ids grow with time and sit far above Telegram's update ids.
- A start is answered once: MAX clients may send a typed ``/start`` beside the ``bot_started`` of the
  Start button; the later of the two from the same person within ``START_WINDOW_MS`` (by MAX's own
  timestamps) is dropped, unless it carries a deep-link payload the earlier one lacked. The memory is
  per process: a pair split by a restart would be answered twice.
- ``file_id`` carries the MAX token and download URL of a file a user sent (``encode_file_id``), so a
  file id stays usable after a restart for getFile/download and for sending the file again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiogram.types import (
    CallbackQuery,
    Chat,
    Contact,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)

FILE_ID_PREFIX = "max1."
START_WINDOW_MS = 10_000


class UnsupportedOnMax(NotImplementedError):
    """An aiogram method or markup the MAX session does not carry; the message says what and why."""


class MidRegistry:
    """seq -> mid, and the picture or file the message carries, bounded (oldest forgotten first).

    The media is kept because an edit on MAX replaces a message's attachments as a whole: an edit of
    the buttons must send the picture or file again, or MAX deletes it (``attachments: []`` removes
    everything). Telegram keeps the media when only the keyboard changes; the session does the same.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._items: OrderedDict[int, str] = OrderedDict()
        self._media: dict[int, list[dict[str, Any]]] = {}
        self._capacity = capacity

    def remember(self, seq: int, mid: str, media: list[dict[str, Any]] | None = None) -> None:
        """``media``: the message's image/file attachments as a request carries them (None: unchanged)."""
        self._items[seq] = mid
        self._items.move_to_end(seq)
        if media is not None:
            self._media[seq] = media
        while len(self._items) > self._capacity:
            old, _ = self._items.popitem(last=False)
            self._media.pop(old, None)

    def get(self, seq: int) -> str | None:
        return self._items.get(seq)

    def media(self, seq: int) -> list[dict[str, Any]]:
        """The image/file attachments to send again with an edit of message ``seq``."""
        return [dict(a) for a in self._media.get(seq, [])]

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class MaxFileRef:
    kind: str  # "image" | "file"
    token: str
    url: str
    filename: str | None
    size: int | None


def encode_file_id(ref: MaxFileRef) -> str:
    raw = json.dumps([ref.kind, ref.token, ref.url, ref.filename, ref.size], ensure_ascii=False, separators=(",", ":"))
    return FILE_ID_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_file_id(file_id: str) -> MaxFileRef | None:
    """The reference inside a MAX file id, or None when ``file_id`` is not one of ours."""
    if not file_id.startswith(FILE_ID_PREFIX):
        return None
    body = file_id[len(FILE_ID_PREFIX) :]
    try:
        kind, token, url, filename, size = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        return None
    return MaxFileRef(kind=kind, token=token, url=url, filename=filename, size=size)


def _unique(token: str) -> str:
    return hashlib.blake2b(token.encode(), digest_size=8).hexdigest()


def derive_update_id(timestamp_ms: int, key: str) -> int:
    low = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=2).digest(), "big") % 4096
    return timestamp_ms * 4096 + low


def _date(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms // 1000, UTC)


def _language(locale: str | None) -> str | None:
    if not locale:
        return None
    return locale.replace("_", "-").split("-", 1)[0].lower() or None


def to_user(obj: Mapping[str, Any], locale: str | None = None) -> User:
    return User(
        id=int(obj["user_id"]),
        is_bot=bool(obj.get("is_bot", False)),
        first_name=obj.get("first_name") or obj.get("name") or "MAX",
        last_name=obj.get("last_name") or None,
        username=obj.get("username") or None,
        language_code=_language(locale),
    )


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _command_entities(text: str | None) -> list[MessageEntity] | None:
    if not text or not text.startswith("/"):
        return None
    command = text.split(maxsplit=1)[0]
    return [MessageEntity(type="bot_command", offset=0, length=_utf16_len(command))]


_TEL = re.compile(r"^TEL[^:]*:(?P<phone>.+)$", re.IGNORECASE | re.MULTILINE)
_FN = re.compile(r"^FN[^:]*:(?P<name>.+)$", re.IGNORECASE | re.MULTILINE)


def vcf_phone(vcf: str | None) -> str | None:
    if not vcf:
        return None
    found = _TEL.search(vcf.replace("\r\n", "\n"))
    return found.group("phone").strip() if found else None


def to_contact(payload: Mapping[str, Any], sender_id: int | None) -> Contact | None:
    """An aiogram Contact from a MAX contact attachment, or None without a phone number.

    MAX sends the card as vCard text (``vcf_info``), a ``hash`` of it, and ``max_info``: the MAX user
    the card belongs to (None for a number not on MAX). The request_contact button sends the sender's
    own card, whose ``max_info.user_id`` is the sender. ``Contact.user_id`` is set only then, so the
    "contact is the sender's own" check of onboarding holds on MAX as on Telegram; a card of anyone
    else (forwarded, typed, from the address book) carries no user id and is refused there.
    """
    vcf = payload.get("vcf_info")
    phone = vcf_phone(vcf)
    if phone is None:
        return None
    info = payload.get("max_info") or {}
    owner = info.get("user_id")
    own = sender_id is not None and owner is not None and int(owner) == sender_id
    name_match = _FN.search((vcf or "").replace("\r\n", "\n"))
    first_name = info.get("first_name") or (name_match.group("name").strip() if name_match else "") or "—"
    return Contact(
        phone_number=phone,
        first_name=first_name,
        last_name=info.get("last_name") or None,
        user_id=sender_id if own else None,
        vcard=vcf,
    )


def _keyboard_markup(attachments: list[Mapping[str, Any]]) -> InlineKeyboardMarkup | None:
    for attachment in attachments:
        if attachment.get("type") != "inline_keyboard":
            continue
        rows: list[list[InlineKeyboardButton]] = []
        for row in attachment["payload"]["buttons"]:
            out: list[InlineKeyboardButton] = []
            for button in row:
                if button["type"] == "callback":
                    out.append(InlineKeyboardButton(text=button["text"], callback_data=button["payload"]))
                elif button["type"] == "link":
                    out.append(InlineKeyboardButton(text=button["text"], url=button["url"]))
            if out:
                rows.append(out)
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    return None


def _media(attachments: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A message's pictures and files in the form a send or an edit carries them (by token)."""
    return [
        {"type": a["type"], "payload": {"token": a["payload"]["token"]}}
        for a in attachments
        if a.get("type") in ("image", "file") and (a.get("payload") or {}).get("token")
    ]


class Converter:
    """Turns MAX updates and messages into aiogram ones, remembering seq -> mid and user -> dialog."""

    def __init__(self, mids: MidRegistry) -> None:
        self.mids = mids
        self.dialogs: dict[int, int] = {}  # MAX user id -> dialog chat_id (for chat actions)
        # MAX user id -> (timestamp ms, "started" | "typed", payload) of the last start answered.
        self._starts: dict[int, tuple[int, str, str]] = {}

    def repeated_start(self, user_id: int, timestamp: int, kind: str, payload: str) -> bool:
        """Whether this start repeats one of the other kind the same person just made (see the module
        docstring); a start that is not a repeat is remembered."""
        last = self._starts.get(user_id)
        if last is not None:
            last_ts, last_kind, last_payload = last
            if last_kind != kind and abs(timestamp - last_ts) <= START_WINDOW_MS and payload in ("", last_payload):
                return True
        self._starts[user_id] = (timestamp, kind, payload)
        return False

    def chat(self, recipient: Mapping[str, Any], human: Mapping[str, Any] | None) -> Chat:
        if recipient.get("chat_type") == "dialog" and human is not None:
            self.dialogs[int(human["user_id"])] = int(recipient["chat_id"])
            return Chat(
                id=int(human["user_id"]),
                type="private",
                first_name=human.get("first_name") or None,
                last_name=human.get("last_name") or None,
                username=human.get("username") or None,
            )
        return Chat(id=int(recipient["chat_id"]), type="group", title=None)

    def message(self, obj: Mapping[str, Any], locale: str | None = None, *, bot_id: int | None = None) -> Message:
        body = obj["body"]
        seq, mid = int(body["seq"]), str(body["mid"])
        self.mids.remember(seq, mid, _media(body.get("attachments") or []))
        sender = obj.get("sender")
        recipient = obj["recipient"]
        human: Mapping[str, Any] | None
        if sender is not None and not sender.get("is_bot"):
            human = sender
        elif recipient.get("user_id") is not None and recipient.get("user_id") != bot_id:
            human = {"user_id": recipient["user_id"]}
        else:
            human = None
        attachments: list[Mapping[str, Any]] = body.get("attachments") or []
        text: str | None = body.get("text") or None
        fields: dict[str, Any] = {}
        sender_id = int(sender["user_id"]) if sender is not None else None
        for attachment in attachments:
            kind, payload = attachment.get("type"), attachment.get("payload") or {}
            if kind == "image" and "photo" not in fields:
                ref = MaxFileRef("image", payload["token"], payload["url"], None, None)
                fields["photo"] = [
                    PhotoSize(file_id=encode_file_id(ref), file_unique_id=_unique(ref.token), width=0, height=0)
                ]
            elif kind == "file" and "document" not in fields:
                name = attachment.get("filename")
                ref = MaxFileRef("file", payload["token"], payload["url"], name, attachment.get("size"))
                fields["document"] = Document(
                    file_id=encode_file_id(ref),
                    file_unique_id=_unique(ref.token),
                    file_name=name,
                    file_size=attachment.get("size"),
                    mime_type=mimetypes.guess_type(name or "")[0],
                )
            elif kind == "contact" and "contact" not in fields:
                contact = to_contact(payload, sender_id)
                if contact is not None:
                    fields["contact"] = contact
        if "photo" in fields or "document" in fields:
            fields["caption"] = text
        elif "contact" not in fields:
            fields["text"] = text
            fields["entities"] = _command_entities(text)
        markup = _keyboard_markup(attachments)
        chat = self.chat(recipient, human)
        link = obj.get("link")
        if link and link.get("type") == "reply" and link.get("message"):
            # The replied-to message as aiogram gives it: its seq is the message id the bot knows.
            target = link["message"]
            self.mids.remember(int(target["seq"]), str(target["mid"]))
            link_sender = link.get("sender")
            fields["reply_to_message"] = Message(
                message_id=int(target["seq"]),
                date=_date(int(obj["timestamp"])),
                chat=chat,
                from_user=to_user(link_sender) if link_sender else None,
                text=target.get("text") or None,
                # The replied-to message's buttons come back as on Telegram: a reply to a ticket
                # notice is resolved from the ticket its buttons name (handlers/tickets.py).
                reply_markup=_keyboard_markup(target.get("attachments") or []),
            )
        return Message(
            message_id=seq,
            date=_date(int(obj["timestamp"])),
            chat=chat,
            from_user=to_user(sender, locale) if sender is not None else None,
            reply_markup=markup,
            **fields,
        )

    def update(self, obj: Mapping[str, Any], *, bot_id: int | None = None) -> Update | None:
        """The aiogram Update for a MAX update, or None for kinds the bot does not handle."""
        kind = obj.get("update_type")
        timestamp = int(obj.get("timestamp") or 0)
        locale = obj.get("user_locale")
        if kind == "message_created":
            message = obj["message"]
            sender = message.get("sender") or {}
            if sender.get("is_bot"):
                return None
            text = str(message["body"].get("text") or "")
            command, _, argument = text.partition(" ")
            if (
                command == "/start"
                and sender.get("user_id") is not None
                and self.repeated_start(int(sender["user_id"]), timestamp, "typed", argument.strip())
            ):
                return None
            update_id = derive_update_id(timestamp, "m:" + str(message["body"]["mid"]))
            return Update(update_id=update_id, message=self.message(message, locale, bot_id=bot_id))
        if kind == "message_callback":
            callback = obj["callback"]
            update_id = derive_update_id(timestamp, "c:" + str(callback["callback_id"]))
            original = obj.get("message")
            converted = self.message(original, locale, bot_id=bot_id) if original else None
            chat_instance = str(original["recipient"].get("chat_id")) if original else "max"
            return Update(
                update_id=update_id,
                callback_query=CallbackQuery(
                    id=str(callback["callback_id"]),
                    from_user=to_user(callback["user"], locale),
                    chat_instance=chat_instance,
                    data=callback.get("payload"),
                    message=converted,
                ),
            )
        if kind == "bot_started":
            user = obj["user"]
            payload = obj.get("payload")
            if self.repeated_start(int(user["user_id"]), timestamp, "started", payload or ""):
                return None
            text = "/start" if not payload else f"/start {payload}"
            key = f"s:{obj.get('chat_id')}:{user['user_id']}:{payload or ''}"
            update_id = derive_update_id(timestamp, key)
            self.dialogs[int(user["user_id"])] = int(obj["chat_id"])
            return Update(
                update_id=update_id,
                message=Message(
                    # No MAX message exists for a start; the id cannot be edited or deleted.
                    message_id=update_id,
                    date=_date(timestamp),
                    chat=Chat(
                        id=int(user["user_id"]),
                        type="private",
                        first_name=user.get("first_name") or None,
                        last_name=user.get("last_name") or None,
                        username=user.get("username") or None,
                    ),
                    from_user=to_user(user, locale),
                    text=text,
                    entities=_command_entities(text),
                ),
            )
        return None


def keyboard_attachment(markup: Any) -> dict[str, Any] | None:
    """The MAX inline_keyboard attachment for an aiogram reply_markup (None: nothing to attach).

    MAX has only inline keyboards. A Telegram reply keyboard becomes an inline keyboard of ``message``
    buttons (pressing one sends its text as the user's message, as a reply keyboard does) and
    ``request_contact`` / ``request_geo_location`` buttons; ReplyKeyboardRemove and ForceReply attach
    nothing (there is nothing to remove or force on MAX).
    """
    if markup is None or isinstance(markup, ReplyKeyboardRemove):
        return None
    rows: list[list[dict[str, Any]]] = []
    if isinstance(markup, InlineKeyboardMarkup):
        for row in markup.inline_keyboard:
            out: list[dict[str, Any]] = []
            for button in row:
                if button.callback_data is not None:
                    out.append({"type": "callback", "text": button.text, "payload": button.callback_data})
                elif button.url is not None:
                    out.append({"type": "link", "text": button.text, "url": button.url})
                elif button.copy_text is not None:
                    out.append({"type": "clipboard", "text": button.text, "payload": button.copy_text.text})
                else:
                    raise UnsupportedOnMax(
                        f"inline button {button.text!r}: only callback_data, url and copy_text buttons exist on MAX"
                    )
            if out:
                rows.append(out)
    elif isinstance(markup, ReplyKeyboardMarkup):
        for keyboard_row in markup.keyboard:
            out = []
            for key in keyboard_row:
                if key.request_contact:
                    out.append({"type": "request_contact", "text": key.text})
                elif key.request_location:
                    out.append({"type": "request_geo_location", "text": key.text})
                elif key.request_users or key.request_chat or key.request_poll or key.web_app:
                    raise UnsupportedOnMax(f"reply button {key.text!r}: MAX has no such button")
                else:
                    out.append({"type": "message", "text": key.text})
            if out:
                rows.append(out)
    else:
        return None  # ForceReply: MAX has no forced replies
    if not rows:
        return None
    return {"type": "inline_keyboard", "payload": {"buttons": fit_rows(rows)}}


# MAX's keyboard (dev.max.ru, "Клавиатура в сообщениях"): up to 210 buttons in 30 rows, up to 7 in a row,
# 3 when the row holds a link, open_app, request_geo_location or request_contact button; a button's
# text up to 128 characters (the schema's Button.text maxLength).
MAX_ROW_BUTTONS = 7
MAX_WIDE_ROW_BUTTONS = 3
WIDE_BUTTONS = frozenset({"link", "open_app", "request_geo_location", "request_contact"})
MAX_ROWS = 30
MAX_BUTTONS = 210
MAX_BUTTON_TEXT = 128


def fit_rows(rows: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """``rows`` within MAX's keyboard limits: a row too wide for MAX continues on the next row(s), a
    text too long is cut with "…"; a keyboard larger than MAX holds at all is refused, naming it."""
    fitted: list[list[dict[str, Any]]] = []
    for row in rows:
        for button in row:
            if len(button["text"]) > MAX_BUTTON_TEXT:
                button["text"] = button["text"][: MAX_BUTTON_TEXT - 1] + "…"
        wide = any(button["type"] in WIDE_BUTTONS for button in row)
        width = MAX_WIDE_ROW_BUTTONS if wide else MAX_ROW_BUTTONS
        fitted += [row[i : i + width] for i in range(0, len(row), width)]
    total = sum(len(row) for row in fitted)
    if len(fitted) > MAX_ROWS or total > MAX_BUTTONS:
        raise UnsupportedOnMax(
            f"a keyboard of {total} buttons in {len(fitted)} rows: MAX holds at most {MAX_BUTTONS} buttons "
            f"in {MAX_ROWS} rows"
        )
    return fitted


_DROP_TAGS = re.compile(r"</?(?:tg-spoiler|tg-emoji|span)(?:\s[^>]*)?>", re.IGNORECASE)
_STRIKE = re.compile(r"<(/?)strike>", re.IGNORECASE)
_BLOCKQUOTE = re.compile(r"<blockquote\s+expandable\s*>", re.IGNORECASE)


def telegram_html_to_max(text: str) -> str:
    """Telegram's HTML in MAX's dialect: <strike> becomes <s>, expandable quotes plain quotes, and
    spoilers and custom emoji keep their text without the tag (MAX has neither)."""
    text = _DROP_TAGS.sub("", text)
    text = _STRIKE.sub(r"<\1s>", text)
    return _BLOCKQUOTE.sub("<blockquote>", text)
