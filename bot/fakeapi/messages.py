"""Sending, copying, editing and deleting messages, with Telegram's rules on text, markup and replies.

Every send goes through ``record_message``, so the strict rules (bot/fakeapi/rules.py) and the rate
limits apply to all of them alike.
"""

from __future__ import annotations

import time
from typing import Any

from bot.fakeapi.errors import bad_request
from bot.fakeapi.models import Edit, SentMessage, StoredFile
from bot.fakeapi.params import Params, Uploads
from bot.fakeapi.rules import check_caption, check_markup, check_text
from bot.fakeapi.state import FakeState

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)


def inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Telegram shows (and returns) only inline keyboards as part of a message; an empty one
    is the same as none."""
    if markup and markup.get("inline_keyboard"):
        return markup
    return None


def _reply_target(state: FakeState, chat_id: int, params: Params) -> dict[str, Any] | None:
    reply = params.get("reply_parameters")
    message_id = params.get("reply_to_message_id")
    allow_missing = bool(params.get("allow_sending_without_reply"))
    if isinstance(reply, dict):
        message_id = reply.get("message_id")
        allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        chat_id = int(reply.get("chat_id", chat_id))
    if message_id is None:
        return None
    target = state.visible_message(chat_id, int(message_id))
    if target is None and not allow_missing:
        raise bad_request("message to be replied not found")
    if target is None:
        return None
    return {k: v for k, v in target.items() if k != "reply_to_message"}


def record_message(
    state: FakeState,
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
    """Check and record one message the bot sends; returns the Bot API Message object."""
    parse_mode = params.get("parse_mode") or None
    plain: str | None
    if text_key == "text":
        plain, entities = check_text(text, parse_mode)
    else:
        plain, entities = check_caption(text, parse_mode)
    markup = check_markup(params.get("reply_markup"))
    reply_to = _reply_target(state, chat_id, params)
    if charge:
        state.check_rate(chat_id)  # last: requests refused for other reasons are not charged
    message_id = state.new_message_id(chat_id)
    raw: dict[str, Any] = {
        "message_id": message_id,
        "from": state.bot_user(),
        "chat": state.chat(chat_id),
        "date": state.date(),
        **content,
    }
    if plain:
        raw[text_key] = plain
        if entities:
            raw["entities" if text_key == "text" else "caption_entities"] = entities
    if reply_to is not None:
        raw["reply_to_message"] = reply_to
    if inline_only(markup):
        raw["reply_markup"] = markup
    protect = bool(params.get("protect_content"))
    if protect:
        raw["has_protected_content"] = True
    state.add_sent(
        SentMessage(
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
    )
    return raw


async def send_message(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    text = params.get("text")
    if not isinstance(text, str) or not text:
        raise bad_request("message text is empty")
    return record_message(state, chat_id, "sendMessage", params, text=text, text_key="text", content={})


async def copy_message(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    from_chat, message_id = params.get("from_chat_id"), params.get("message_id")
    raw: dict[str, Any] | None = None
    if isinstance(from_chat, int) and isinstance(message_id, int):
        raw = state.visible_message(from_chat, message_id)
    if raw is None:
        raise bad_request("message to copy not found")
    keep = ("reply_markup", "protect_content", "disable_notification", "reply_parameters", "reply_to_message_id")
    copy_params: Params = {key: params[key] for key in keep if key in params}
    if "photo" in raw or "document" in raw:
        kind = "photo" if "photo" in raw else "document"
        file_id = raw["photo"][-1]["file_id"] if kind == "photo" else raw["document"]["file_id"]
        stored = state.files[file_id]
        if "caption" in params:
            caption, copy_params["parse_mode"] = params.get("caption") or None, params.get("parse_mode")
        else:
            caption = raw.get("caption")  # already plain text: entities are not re-parsed
        method = "sendPhoto" if kind == "photo" else "sendDocument"
        content = {kind: raw[kind]}
        result = record_message(
            state, chat_id, method, copy_params, text=caption, text_key="caption", content=content, file=stored
        )
    elif "text" in raw:
        text = raw["text"]
        result = record_message(state, chat_id, "sendMessage", copy_params, text=text, text_key="text", content={})
    else:
        raise bad_request("message can't be copied")
    return {"message_id": result["message_id"]}


def _editable(state: FakeState, params: Params) -> SentMessage:
    if params.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")  # inline mode is not emulated
    chat_id = state.target_chat(params)
    message_id = params.get("message_id")
    if not isinstance(message_id, int):
        raise bad_request("message identifier is not specified")
    message = state.bot_messages.get((chat_id, message_id))
    if message is None and (chat_id, message_id) in state.user_messages:
        raise bad_request("message can't be edited")
    if message is None or message.deleted:
        raise bad_request("message to edit not found")
    return message


def _apply_edit(
    state: FakeState,
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
    if markup is None and message.reply_markup and not inline_only(message.reply_markup):
        # A reply keyboard belongs to the chat, not the message: an edit does not remove it.
        markup = message.reply_markup
    if (
        plain == message.plain
        and entities == message.entities
        and inline_only(markup) == inline_only(message.reply_markup)
    ):
        raise bad_request(NOT_MODIFIED)
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
    if inline_only(markup):
        raw["reply_markup"] = markup
    raw["edit_date"] = state.date()
    message.raw = raw
    state.notify_messages()
    return raw


async def _edit_content(state: FakeState, params: Params, method: str, field: str) -> Any:
    """editMessageText (``field`` "text") or editMessageCaption ("caption") of a message that has one."""
    message = _editable(state, params)
    if (message.method == "sendMessage") != (field == "text"):
        raise bad_request(f"there is no {field} in the message to edit")
    parse_mode = params.get("parse_mode") or None
    text: str | None
    plain: str | None
    if field == "text":
        text = params.get("text")
        plain, entities = check_text(text, parse_mode)
    else:
        text = params.get("caption") or None
        plain, entities = check_caption(text, parse_mode)
    # No reply_markup in the edit removes the inline keyboard, exactly as on Telegram.
    markup = check_markup(params.get("reply_markup"))
    return _apply_edit(
        state, message, method, text=text, plain=plain, entities=entities, markup=markup, parse_mode=parse_mode
    )


async def edit_message_text(state: FakeState, params: Params, uploads: Uploads) -> Any:
    return await _edit_content(state, params, "editMessageText", "text")


async def edit_message_caption(state: FakeState, params: Params, uploads: Uploads) -> Any:
    return await _edit_content(state, params, "editMessageCaption", "caption")


async def edit_message_reply_markup(state: FakeState, params: Params, uploads: Uploads) -> Any:
    message = _editable(state, params)
    markup = check_markup(params.get("reply_markup"))
    return _apply_edit(
        state,
        message,
        "editMessageReplyMarkup",
        text=message.text,
        plain=message.plain,
        entities=message.entities,
        markup=markup,
        parse_mode=message.parse_mode,
    )


async def delete_message(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    message_id = params.get("message_id")
    key = (chat_id, message_id if isinstance(message_id, int) else -1)
    message = state.bot_messages.get(key)
    if message is not None and not message.deleted:
        message.deleted = True
        state.notify_messages()
        return True
    if state.user_messages.pop(key, None) is not None:
        return True  # bots may delete incoming messages in private chats
    raise bad_request("message to delete not found")
