"""Each wire's text limits, kept where every request passes: services write a text whole, the wire fits it.

Telegram counts a message (4096) and a caption (1024) in UTF-16 units of the text the user sees, after
the HTML is parsed. MAX counts the text as sent, markup included (4000), and a picture's or file's
text is an ordinary message text. ``WireText`` is a request middleware of the session: a text longer
than its wire allows goes out as several messages, cut at a paragraph, else a line, else a word
boundary, never inside a tag or an entity (open tags are closed at the cut and opened again after it),
each ending with "(i/n)" counted within the limit; the keyboard rides on the last part, and the last
part is what the caller gets back (so a later edit finds the keyboard). A caption too long for its
media keeps what fits, and the rest follows as text messages. An edit too long for one message
becomes the first part, the rest follow as new messages with the keyboard on the last (an inline
message, which has no chat, is cut instead and ends with "…"). A keyboard row wider than the wire
shows continues on the next row.

The session says how its wire counts (``text_limits``; MaxSession sets MAX's); a session without it
is Telegram's.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import EditMessageText, SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InlineKeyboardMarkup

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# Room kept in every part for its "(i/n)" marker (up to 99 parts).
_RESERVE = "\n\n(99/99)"
_ELLIPSIS = "\n…"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class TextLimits:
    """How a wire measures a text (``measure(text, is_html)``) and how much a message and a caption hold."""

    message: int
    caption: int
    measure: Callable[[str, bool], int]
    # Buttons in one row of an inline keyboard; a wider row continues on the next (0: the session
    # fits keyboards itself, as MaxSession does by button type).
    row_buttons: int = 0


def _visible(text: str, is_html: bool) -> int:
    if is_html:
        text = html.unescape(_TAG.sub("", text))
    return utf16_len(text)


TELEGRAM_TEXT = TextLimits(message=4096, caption=1024, measure=_visible, row_buttons=8)


def _unsafe(text: str, is_html: bool) -> set[int]:
    """Cut positions inside a tag or an entity (a cut at p falls between text[p-1] and text[p])."""
    if not is_html:
        return set()
    inside: set[int] = set()
    for pattern in (_TAG, _ENTITY):
        for match in pattern.finditer(text):
            inside.update(range(match.start() + 1, match.end()))
    return inside


def _open_tags(prefix: str) -> list[tuple[str, str]]:
    stack: list[tuple[str, str]] = []
    for match in _TAG.finditer(prefix):
        closing, name = match.group(1), match.group(2).lower()
        if not closing:
            stack.append((name, match.group(0)))
        elif stack and stack[-1][0] == name:
            stack.pop()
    return stack


def _closed(prefix: str, is_html: bool) -> str:
    head = prefix.rstrip()
    if not is_html:
        return head
    return head + "".join(f"</{name}>" for name, _ in reversed(_open_tags(prefix)))


def _best_cut(text: str, fits: Callable[[str], bool], is_html: bool, floor: int, tail: str) -> int:
    """The largest cut after a paragraph, else a line, else a word, else any safe point, whose part
    (tags closed, ``tail`` added) fits; at least ``floor`` + 1 so every part makes progress."""
    unsafe = _unsafe(text, is_html)
    tiers = [
        [m.end() for m in re.finditer(r"\n\s*\n", text)],
        [m.end() for m in re.finditer(r"\n", text)],
        [m.end() for m in re.finditer(r" ", text)],
        list(range(1, len(text))),
    ]
    for positions in tiers:
        candidates = [p for p in positions if p > floor and p not in unsafe and text[:p].strip()]
        low, high, best = 0, len(candidates) - 1, -1
        while low <= high:  # the measure grows with the cut
            middle = (low + high) // 2
            if fits(_closed(text[: candidates[middle]], is_html) + tail):
                best, low = middle, middle + 1
            else:
                high = middle - 1
        if best >= 0:
            return candidates[best]
    return min(len(text), floor + 1)


def split_text(text: str, fits: Callable[[str], bool], *, is_html: bool) -> list[str]:
    """``text`` as parts that each fit with their "(i/n)" marker (one part, unchanged, when it fits)."""
    if fits(text):
        return [text]
    parts: list[str] = []
    rest, floor = text, 0  # floor: the tags reopened at the start of ``rest``, not a part on their own
    while not fits(rest + _RESERVE):
        cut = _best_cut(rest, fits, is_html, floor, _RESERVE)
        head, tail = rest[:cut], rest[cut:]
        parts.append(_closed(head, is_html))
        reopen = "".join(tag for _, tag in _open_tags(head)) if is_html else ""
        rest, floor = reopen + tail.lstrip("\n"), len(reopen)
    parts.append(rest)
    count = len(parts)
    return [f"{part}\n\n({number}/{count})" for number, part in enumerate(parts, 1)]


def fit_text(text: str, fits: Callable[[str], bool], *, is_html: bool) -> str:
    """``text`` unchanged when it fits; else its first part ending with "…"."""
    if fits(text):
        return text
    cut = _best_cut(text, fits, is_html, 0, _ELLIPSIS)
    return _closed(text[:cut], is_html) + _ELLIPSIS


def _is_html(bot: Bot, parse_mode: Any) -> bool:
    mode = bot.default[parse_mode.name] if isinstance(parse_mode, Default) else parse_mode
    return str(getattr(mode, "value", mode) or "").upper() == "HTML"


class WireText(BaseRequestMiddleware):
    """Fits every outgoing text to the wire of the bot it goes through (see the module docstring)."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        limits: TextLimits = getattr(bot.session, "text_limits", TELEGRAM_TEXT)
        send: Callable[[Bot, Any], Awaitable[Any]] = make_request  # one call per part, of another method type
        markup = getattr(method, "reply_markup", None)
        if limits.row_buttons and isinstance(markup, InlineKeyboardMarkup):
            width = limits.row_buttons
            if any(len(row) > width for row in markup.inline_keyboard):
                rows = [row[i : i + width] for row in markup.inline_keyboard for i in range(0, len(row), width)]
                keyboard = InlineKeyboardMarkup(inline_keyboard=rows)
                method = method.model_copy(update={"reply_markup": keyboard})
        if isinstance(method, SendMessage):
            is_html = _is_html(bot, method.parse_mode)
            parts = split_text(method.text, lambda s: limits.measure(s, is_html) <= limits.message, is_html=is_html)
            if len(parts) == 1:
                return cast(Response[TelegramType], await send(bot, method))
            response: Any = None
            for number, part in enumerate(parts, 1):
                last = number == len(parts)
                update: dict[str, Any] = {"text": part}
                if not last:
                    update["reply_markup"] = None
                response = await send(bot, method.model_copy(update=update))
            return cast(Response[TelegramType], response)
        if isinstance(method, SendPhoto | SendDocument) and method.caption:
            is_html = _is_html(bot, method.parse_mode)
            parts = split_text(method.caption, lambda s: limits.measure(s, is_html) <= limits.caption, is_html=is_html)
            if len(parts) == 1:
                return cast(Response[TelegramType], await send(bot, method))
            response = await send(bot, method.model_copy(update={"caption": parts[0]}))
            for part in parts[1:]:
                follow = SendMessage(chat_id=method.chat_id, text=part, parse_mode=method.parse_mode)
                await send(bot, follow)
            return cast(Response[TelegramType], response)
        if isinstance(method, EditMessageText) and method.text:
            is_html = _is_html(bot, method.parse_mode)

            def fits(text: str) -> bool:
                return limits.measure(text, is_html) <= limits.message

            if method.chat_id is None:  # an inline message cannot grow into several: cut it
                fitted = fit_text(method.text, fits, is_html=is_html)
                return cast(Response[TelegramType], await send(bot, method.model_copy(update={"text": fitted})))
            parts = split_text(method.text, fits, is_html=is_html)
            if len(parts) > 1:
                # The message becomes the first part; the rest follow as new messages, the keyboard on
                # the last (where a later press and its edit then find it).
                edited = await send(bot, method.model_copy(update={"text": parts[0], "reply_markup": None}))
                for number, part in enumerate(parts[1:], 2):
                    markup = method.reply_markup if number == len(parts) else None
                    follow = SendMessage(
                        chat_id=method.chat_id, text=part, parse_mode=method.parse_mode, reply_markup=markup
                    )
                    await send(bot, follow)
                return cast(Response[TelegramType], edited)
        return await make_request(bot, method)
