"""Where in a TOML file a problem is: the line a school opens its editor at.

tomllib says nothing about where a decoded value came from, so the files the school edits (the
plan, the FAQ) are validated on the decoded data and the line is found afterwards in the text: the
field's own line when it is written, else the line that names the table it belongs to. tomllib's
own error message is English and technical; only its place is kept (:func:`syntax_place`).
"""

from __future__ import annotations

import re
import tomllib

# tomllib's message ends "(at line 5, column 3)" or "(at end of document)".
_PLACE_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER_RE = re.compile(r"^\s*\[")


def syntax_place(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, int]:
    """(line, column) of a TOML syntax error; column 0 when the text ends in mid-entry."""
    place = _PLACE_RE.search(str(exc))
    if place:
        return int(place.group(1)), int(place.group(2))
    return max(1, len(text.splitlines())), 0


def key_line(lines: list[str], start: int, end: int, key: str) -> int:
    """The 1-based line of `key = ...` among lines[start:end], 0 when it is not written there."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for index in range(start, end):
        if pattern.match(lines[index]):
            return index + 1
    return 0


def top_line(lines: list[str], key: str) -> int:
    """The line of a top-level `key = ...` (before the first table header), 0 when absent."""
    first_header = next((i for i, line in enumerate(lines) if _HEADER_RE.match(line)), len(lines))
    return key_line(lines, 0, first_header, key)


def section_line(lines: list[str], section: str, key: str = "") -> int:
    """The line of `key` inside the table `[section]`, else of its header; 0 when there is none."""
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), -1)
    if start < 0:
        return top_line(lines, section)  # written inline: section = { ... }
    end = next((i for i in range(start + 1, len(lines)) if _HEADER_RE.match(lines[i])), len(lines))
    return (key_line(lines, start + 1, end, key) if key else 0) or start + 1


def entry_line(lines: list[str], table: str, entry: int, field: str = "", fallback: str = "") -> int:
    """The line of `field` in the `entry`-th `[[table]]` (counted from 1).

    A dotted field ("deadline.date") is looked for as the inline `deadline = {...}` line, then as
    `date = ` under a `[table.deadline]` sub-table. A field that is not written points to the
    entry's `fallback` key line (its number, its id), else to its `[[table]]` line.
    """
    opener = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
    own = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\.")
    headers = [i for i, line in enumerate(lines) if opener.match(line)]
    if entry > len(headers):  # an inline array (table = [...]): no header to point to
        return top_line(lines, table) or 1
    start = headers[entry - 1]
    end = start + 1
    # The entry runs to the next header that is not one of its own sub-tables ([table.deadline]).
    while end < len(lines) and not (_HEADER_RE.match(lines[end]) and not own.match(lines[end])):
        end += 1
    if field:
        head, _, leaf = field.partition(".")
        line = key_line(lines, start, end, head)
        if not line and leaf:
            line = key_line(lines, start, end, leaf)
        if line:
            return line
    return (key_line(lines, start, end, fallback) if fallback else 0) or start + 1
