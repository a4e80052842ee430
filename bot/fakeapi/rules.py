"""What Telegram refuses in a message, in one place.

The fake server applies these rules to every request, and the handler-level test session
(``tests/mocked_bot.py``) applies the same ones, so a message Telegram would refuse fails every kind
of test, not only the end-to-end ones. Each function raises :class:`ApiError` worded as Telegram
words it.
"""

from __future__ import annotations

from typing import Any

from bot.fakeapi.errors import bad_request
from bot.fakeapi.markup import parse_html, utf16_len

# https://core.telegram.org/bots/api#sendmessage and #sendphoto; measured after entity parsing.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
INLINE_ROW_LIMIT = 8  # buttons in one row of an inline keyboard
INLINE_TOTAL_LIMIT = 100  # buttons in one inline keyboard
REPLY_ROW_LIMIT = 12  # buttons in one row of a reply keyboard
REPLY_TOTAL_LIMIT = 300

INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def render(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) as the user will see them, or ApiError for unparsable markup."""
    if not parse_mode:
        return text, []
    if parse_mode.upper() == "HTML":
        return parse_html(text)
    if parse_mode in {"Markdown", "MarkdownV2"}:
        return text, []  # accepted but not parsed: the bot renders HTML
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


def check_text(text: Any, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """A message text: 1..4096 UTF-16 code units after entity parsing, not only whitespace."""
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message text is empty")
    plain, entities = render(text, parse_mode)
    if not plain.strip():
        raise bad_request("message text is empty")
    if utf16_len(plain) > TEXT_LIMIT:
        raise bad_request("message is too long")
    return plain, entities


def check_caption(caption: Any, parse_mode: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """A media caption: optional, at most 1024 UTF-16 code units after entity parsing."""
    if caption is None or caption == "":
        return None, []
    plain, entities = render(str(caption), parse_mode)
    if utf16_len(plain) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    return plain or None, entities


def _rows(rows: Any, field: str) -> list[list[Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{field}" must be an Array of Array')
    return rows


def _row_size(row: list[Any], limit: int) -> int:
    if len(row) > limit:
        raise bad_request(f"BUTTONS_TOO_MUCH: {len(row)} buttons in a row, at most {limit}")
    return len(row)


def _check_inline(rows: Any) -> None:
    total = 0
    for row in _rows(rows, "inline_keyboard"):
        total += _row_size(row, INLINE_ROW_LIMIT)
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            if not str(button.get("text", "")).strip():
                raise bad_request("BUTTON_TEXT_INVALID: inline keyboard button text is empty")
            actions = [key for key in INLINE_ACTIONS if key in button]
            if len(actions) != 1:
                raise bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    if total > INLINE_TOTAL_LIMIT:
        raise bad_request(f"REPLY_MARKUP_TOO_LONG: {total} inline buttons, at most {INLINE_TOTAL_LIMIT}")


def _check_reply(rows: Any) -> None:
    if not any(_rows(rows, "keyboard")):
        raise bad_request("keyboard must be non-empty")
    total = 0
    for row in rows:
        total += _row_size(row, REPLY_ROW_LIMIT)
        for button in row:
            text = button if isinstance(button, str) else (button or {}).get("text")
            if not isinstance(text, str) or not text.strip():
                raise bad_request("keyboard button text is empty")
    if total > REPLY_TOTAL_LIMIT:
        raise bad_request(f"REPLY_MARKUP_TOO_LONG: {total} keyboard buttons, at most {REPLY_TOTAL_LIMIT}")


def check_markup(markup: Any) -> dict[str, Any] | None:
    """A reply_markup object: an inline keyboard, a reply keyboard, or a removal / force reply."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline(markup["inline_keyboard"])
        return markup
    if "keyboard" in markup:
        _check_reply(markup["keyboard"])
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


__all__ = [
    "CALLBACK_DATA_LIMIT",
    "CAPTION_LIMIT",
    "INLINE_ROW_LIMIT",
    "INLINE_TOTAL_LIMIT",
    "TEXT_LIMIT",
    "check_caption",
    "check_markup",
    "check_text",
    "render",
]
