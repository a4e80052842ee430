"""Cutting a Telegram HTML message to Telegram's length limit without breaking its markup.

Telegram measures a message (4096) or caption (1024) in UTF-16 code units of the text the user
sees, and refuses HTML with an unclosed tag or a half entity. A blind ``text[:4000]`` can end inside
``&amp;`` or leave ``<b>`` open, which turns a long message into no message at all.
"""

from __future__ import annotations

import re

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ELLIPSIS = "…"

_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _visible_len(html: str) -> int:
    """An upper bound of the visible length: tags removed, entities counted as one unit each."""
    text = _TAG_RE.sub("", html)
    text = re.sub(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", "x", text)
    return utf16_len(text)


def _safe_cut(html: str, end: int) -> int:
    """The largest index <= end that is not inside a tag or an entity."""
    lt = html.rfind("<", 0, end)
    if lt != -1 and html.find(">", lt, end) == -1:
        end = lt
    amp = html.rfind("&", 0, end)
    if amp != -1 and html.find(";", amp, end) == -1:
        end = amp
    return end


def _close_open_tags(html: str) -> str:
    stack: list[str] = []
    for match in _TAG_RE.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if not closing:
            stack.append(name)
        elif stack and stack[-1] == name:
            stack.pop()
    return html + "".join(f"</{name}>" for name in reversed(stack))


def fit_html(html: str, limit: int = TEXT_LIMIT) -> str:
    """``html`` unchanged when it fits; else cut at a line end (or a safe point), open tags closed,
    with "…" at the end, so that the user sees at most ``limit`` units."""
    if _visible_len(html) <= limit:
        return html
    budget = limit - utf16_len(ELLIPSIS) - 1
    # Binary search on the raw length: the visible length grows with it.
    low, high = 0, len(html)
    while low < high:
        middle = (low + high + 1) // 2
        if _visible_len(html[: _safe_cut(html, middle)]) <= budget:
            low = middle
        else:
            high = middle - 1
    end = _safe_cut(html, low)
    newline = html.rfind("\n", 0, end)
    if newline > end // 2:
        end = newline
    return _close_open_tags(html[:end].rstrip()) + "\n" + ELLIPSIS

