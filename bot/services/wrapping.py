"""Line breaking for what the bot draws (cards, code sheets, PDF tables): at spaces and after a
hyphen, a word wider than the line split by characters, an ellipsis only where the caller allows
too few lines. Pure and light: a module that only lays text out does not import the QR or image
libraries."""

from __future__ import annotations

import re
from collections.abc import Callable

ELLIPSIS = "…"


def wrap_text(text: str, max_width: float, measure: Callable[[str], float], max_lines: int) -> list[str]:
    """Greedy word wrap into at most `max_lines` lines no wider than `max_width`.

    Lines break at spaces and after hyphens (double surnames); a word still wider than a
    line is split by characters. Text that does not fit ends with an ellipsis.
    """
    if max_lines < 1:
        return []
    # (glue, piece): glue is what joins the piece to the previous one on the same line.
    pieces: list[tuple[str, str]] = []
    for word in text.split():
        glue = " "
        for part in re.split(r"(?<=-)(?=.)", word):
            while measure(part) > max_width and len(part) > 1:
                cut = len(part) - 1
                while cut > 1 and measure(part[:cut]) > max_width:
                    cut -= 1
                pieces.append((glue, part[:cut]))
                part, glue = part[cut:], ""
            pieces.append((glue, part))
            glue = ""
    if not pieces:
        return []

    lines: list[str] = []
    current = ""
    for i, (glue, piece) in enumerate(pieces):
        candidate = current + glue + piece if current else piece
        if not current or measure(candidate) <= max_width:
            current = candidate
            continue
        lines.append(current)
        current = piece
        if len(lines) == max_lines:
            rest = "".join(g + p for g, p in pieces[i + 1 :])
            lines[-1] = _ellipsize(lines[-1] + glue + current + rest, max_width, measure)
            return lines
    lines.append(current)
    return lines


def _ellipsize(text: str, max_width: float, measure: Callable[[str], float]) -> str:
    if measure(text) <= max_width:
        return text
    cut = len(text)
    while cut > 0 and measure(text[:cut].rstrip() + ELLIPSIS) > max_width:
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


def split_chars(text: str, max_width: float, measure: Callable[[str], float]) -> list[str]:
    """Break text anywhere (for codes, which must never be shortened) into lines that fit."""
    lines: list[str] = []
    current = ""
    for ch in text:
        if current and measure(current + ch) > max_width:
            lines.append(current)
            current = ch
        else:
            current += ch
    if current:
        lines.append(current)
    return lines
