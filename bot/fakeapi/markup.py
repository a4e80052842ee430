"""Telegram's HTML parse mode: validation and rendering to plain text plus entities.

Telegram rejects a message whose HTML it cannot parse ("can't parse entities"), and that is one of the
most common production failures of bots (an unescaped ``<`` in a user's name, a ``<br>``). The fake
applies the same rules so such bugs surface in tests instead of in front of users.
"""

from __future__ import annotations

import html
import re
from typing import Any

from bot.fakeapi.errors import ApiError, bad_request

# Tag name -> entity type, following https://core.telegram.org/bots/api#html-style.
_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # only with class="tg-spoiler", checked below
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_TAG_NAME_RE = re.compile(r"\s*([^\s/>]*)")
_ATTR_RE = re.compile(r"""([a-zA-Z_][\w-]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def _parse_attrs(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(raw):
        value = match.group(2) or ""
        if value[:1] in {'"', "'"}:
            value = value[1:-1]
        attrs[match.group(1).lower()] = html.unescape(value)
    return attrs


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for a message sent with parse_mode=HTML, or raise ApiError 400."""
    out: list[str] = []
    offset = 0  # current position in the plain text, UTF-16 units
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        chunk = text[i:] if lt == -1 else text[i:lt]
        if chunk:
            plain = html.unescape(chunk)
            out.append(plain)
            offset += utf16_len(plain)
        if lt == -1:
            break
        byte_offset = len(text[:lt].encode("utf-8"))
        gt = text.find(">", lt)
        if gt == -1:
            raise _error(f"Can't find end of the tag starting at byte offset {byte_offset}")
        body = text[lt + 1 : gt]
        i = gt + 1
        if body.startswith("/"):
            name = body[1:].strip().lower()
            if not stack:
                raise _error(f'Unexpected end tag "{name}" at byte offset {byte_offset}')
            open_name, start, attrs = stack.pop()
            if name != open_name:
                raise _error(
                    f'Unmatched end tag at byte offset {byte_offset}, expected "</{open_name}>", found "</{name}>"'
                )
            entity = _entity(open_name, start, offset - start, attrs, stack)
            if entity is not None:
                entities.append(entity)
            continue
        head = _TAG_NAME_RE.match(body)
        name = head.group(1).lower() if head else ""
        raw_attrs = body[head.end() :] if head else body
        attrs = _parse_attrs(raw_attrs)
        if name not in _TAGS or (name == "span" and attrs.get("class") != "tg-spoiler"):
            raise _error(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
        stack.append((name, offset, attrs))
    if stack:
        raise _error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity(
    name: str, start: int, length: int, attrs: dict[str, str], stack: list[tuple[str, int, dict[str, str]]]
) -> dict[str, Any] | None:
    kind = _TAGS[name]
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is a single pre entity with a language, not two entities.
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
        return None
    if length == 0:
        return None  # Telegram drops empty entities
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if name == "a":
        entity["url"] = attrs.get("href", "")
    elif name == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity
