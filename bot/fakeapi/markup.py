"""Telegram's HTML parse mode: validation and rendering to plain text plus entities.

Telegram rejects a message whose HTML it cannot parse ("can't parse entities"), and that is one of the
most common production failures of bots (an unescaped ``<`` in a user's name, a ``<br>``). The fake
applies the same rules so such bugs surface in tests instead of in front of users.

The parser follows Telegram's (tdlib's ``parse_html``) structure and error wording, and is stricter in
one place on purpose: the Bot API documentation requires every ``<``, ``>`` and ``&`` that is not part
of a tag or of an entity to be escaped, and only ``&lt; &gt; &amp; &quot;`` and numeric entities are
supported. Telegram silently keeps some violations as text today (a lone ``&``, ``&nbsp;``), but a
bot that relies on that sends text that breaks the moment the string happens to look like a tag or
an entity, so the fake refuses them all.
"""

from __future__ import annotations

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

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_SPACES = " \t\r\n"


def utf16_len(text: str) -> int:
    """Telegram measures text lengths, entity offsets and entity lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.out: list[str] = []
        self.offset = 0  # position in the plain text, UTF-16 units
        self.stack: list[tuple[str, int, dict[str, str], int]] = []  # name, start, attrs, byte offset
        self.entities: list[dict[str, Any]] = []

    def byte_offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-8"))

    def emit(self, plain: str) -> None:
        self.out.append(plain)
        self.offset += utf16_len(plain)

    def entity(self, at: int) -> tuple[str, int]:
        """Decode the character entity starting at ``at`` (a ``&``); returns (text, next index)."""
        match = _ENTITY_RE.match(self.text, at)
        if match is None:
            raise _error(
                f'Character "&" at byte offset {self.byte_offset(at)} must be written as "&amp;"'
                " when it does not start an HTML entity"
            )
        decimal, hexadecimal, name = match.groups()
        if name is not None:
            if name.lower() not in _NAMED_ENTITIES or name != name.lower():
                raise _error(f'Unsupported HTML entity "&{name};" at byte offset {self.byte_offset(at)}')
            return _NAMED_ENTITIES[name], match.end()
        code = int(decimal) if decimal is not None else int(hexadecimal, 16)
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise _error(f"Invalid character entity at byte offset {self.byte_offset(at)}")
        return chr(code), match.end()

    def name(self) -> str:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in _NAME_CHARS:
            self.i += 1
        return self.text[start : self.i].lower()

    def skip_spaces(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _SPACES:
            self.i += 1

    def attribute_value(self, tag: str, begin: int) -> str:
        text = self.text
        if self.i >= len(text):
            raise _error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        quote = text[self.i]
        if quote in "\"'":
            self.i += 1
            value: list[str] = []
            while True:
                if self.i >= len(text):
                    at = self.byte_offset(begin)
                    raise _error(f'Unclosed end of attribute value of the tag "{tag}" at byte offset {at}')
                char = text[self.i]
                if char == quote:
                    self.i += 1
                    return "".join(value)
                if char == "&":
                    decoded, self.i = self.entity(self.i)
                    value.append(decoded)
                    continue
                value.append(char)
                self.i += 1
        start = self.i
        while self.i < len(text) and (text[self.i] in _NAME_CHARS or text[self.i] in ".:/?=#%+"):
            self.i += 1
        if self.i == start:
            raise _error(f'Expected attribute value of the tag "{tag}" at byte offset {self.byte_offset(begin)}')
        return text[start : self.i]

    def start_tag(self, begin: int) -> None:
        tag = self.name()
        if not tag:
            raise _error(f'Unsupported start tag "" at byte offset {self.byte_offset(begin)}')
        if tag not in _TAGS:
            raise _error(f'Unsupported start tag "{tag}" at byte offset {self.byte_offset(begin)}')
        attrs: dict[str, str] = {}
        text = self.text
        while True:
            self.skip_spaces()
            if self.i >= len(text):
                raise _error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            if text[self.i] == ">":
                self.i += 1
                break
            attr = self.name()
            if not attr:
                raise _error(f'Empty attribute name in the tag "{tag}" at byte offset {self.byte_offset(begin)}')
            self.skip_spaces()
            value = ""
            if self.i < len(text) and text[self.i] == "=":
                self.i += 1
                self.skip_spaces()
                value = self.attribute_value(tag, begin)
            elif tag != "blockquote" or attr != "expandable":
                raise _error(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {self.byte_offset(begin)}"
                )
            attrs[attr] = value
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise _error(f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}')
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise _error("Custom emoji entity must contain a valid custom emoji identifier")
        if tag == "a" and "href" in attrs and not _valid_url(attrs["href"]):
            raise _error(f'Wrong URL "{attrs["href"]}" in the tag "a" at byte offset {self.byte_offset(begin)}')
        self.stack.append((tag, self.offset, attrs, self.byte_offset(begin)))

    def end_tag(self, begin: int) -> None:
        self.i += 1  # the "/"
        tag = self.name()
        self.skip_spaces()
        if self.i >= len(self.text) or self.text[self.i] != ">":
            raise _error(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        self.i += 1
        if not self.stack:
            raise _error(f'Unexpected end tag "{tag}" at byte offset {self.byte_offset(begin)}')
        open_tag, start, attrs, _ = self.stack.pop()
        if tag != open_tag:
            at = self.byte_offset(begin)
            raise _error(f'Unmatched end tag at byte offset {at}, expected "</{open_tag}>", found "</{tag}>"')
        entity = _entity(open_tag, start, self.offset - start, attrs, self.stack)
        if entity is not None:
            self.entities.append(entity)

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        text = self.text
        while self.i < len(text):
            char = text[self.i]
            if char == "&":
                decoded, self.i = self.entity(self.i)
                self.emit(decoded)
            elif char == ">":
                raise _error(
                    f'Character ">" at byte offset {self.byte_offset(self.i)} must be written as "&gt;"'
                )
            elif char == "<":
                begin = self.i
                self.i += 1
                if self.i < len(text) and text[self.i] == "/":
                    self.end_tag(begin)
                else:
                    self.start_tag(begin)
            else:
                end = self.i
                while end < len(text) and text[end] not in "&<>":
                    end += 1
                self.emit(text[self.i : end])
                self.i = end
        if self.stack:
            raise _error(f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities


def _valid_url(url: str) -> bool:
    return bool(url) and not any(c in url for c in " \t\r\n") and (
        "://" in url or url.startswith(("tg:", "mailto:")) or "." in url
    )


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for a message sent with parse_mode=HTML, or raise ApiError 400."""
    return _Parser(text).run()


def _entity(
    name: str, start: int, length: int, attrs: dict[str, str], stack: list[tuple[str, int, dict[str, str], int]]
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
