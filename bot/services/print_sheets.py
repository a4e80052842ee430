"""Printable A4 sheets of invitation cards: 8 per page (2 x 4) with dashed cut lines.

Each card carries the same content as the PNG from `qr_card.render_card`. Everything is built
per call (no shared state), so the function is safe to run in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # fpdf pulls in numpy and fontTools (tens of MB); the bot imports it only when it prints.
    from fpdf import FPDF

from bot.services.qr_card import (
    FONT_BOLD,
    FONT_MONO,
    FONT_REGULAR,
    FONTS_DIR,
    CardData,
    matrix_image,
    qr_matrix,
)
from bot.services.wrapping import split_chars, wrap_text

PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
COLS, ROWS = 2, 4
CARDS_PER_PAGE = COLS * ROWS
MARGIN_X, MARGIN_TOP, FOOTER_H = 10.0, 10.0, 14.0
CELL_W = (PAGE_W - 2 * MARGIN_X) / COLS
CELL_H = (PAGE_H - MARGIN_TOP - FOOTER_H) / ROWS
PAD = 4.0
QR_SIZE = 44.0  # mm, including the quiet zone; about 1 mm per module for typical payloads
QR_MODULE_PX = 8  # pixels per module in the embedded image, so viewers scale it crisply
PT = 25.4 / 72  # mm per point

SANS, MONO = "DejaVu", "DejaVuMono"
INK = (17, 24, 39)
MUTED = (90, 98, 112)
ACCENT = (30, 58, 95)
CUT = (150, 150, 150)
CODE_BG = (241, 243, 246)


def render_sheets(
    cards: Sequence[CardData], *, title: str, created_at: datetime | None = None, note: str | None = None
) -> bytes:
    """An A4 PDF with the cards, 8 per page, and a footer "<title> · <page>/<pages>", with `note`
    (who was left out and why) on a line above it on every page.

    `created_at` (pass `clock.now()`) is the document's creation date; without it fpdf2 stamps
    the wall-clock time, which is harmless metadata but makes the bytes differ between runs.
    """
    if not cards:
        raise ValueError("no cards to print")
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    if created_at is not None:
        pdf.set_creation_date(created_at)
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(0, 0, 0)
    pdf.add_font(SANS, "", str(FONTS_DIR / FONT_REGULAR))
    pdf.add_font(SANS, "B", str(FONTS_DIR / FONT_BOLD))
    pdf.add_font(MONO, "", str(FONTS_DIR / FONT_MONO))

    pages = math.ceil(len(cards) / CARDS_PER_PAGE)
    for page in range(pages):
        pdf.add_page()
        chunk = cards[page * CARDS_PER_PAGE : (page + 1) * CARDS_PER_PAGE]
        for i, card in enumerate(chunk):
            row, col = divmod(i, COLS)
            _draw_card(pdf, card, MARGIN_X + col * CELL_W, MARGIN_TOP + row * CELL_H)
        _draw_cut_lines(pdf, rows=math.ceil(len(chunk) / COLS))
        _draw_footer(pdf, f"{title}  ·  {page + 1}/{pages}", note)
    return bytes(pdf.output())


def _measure(pdf: FPDF, family: str, style: str, size: float) -> Callable[[str], float]:
    pdf.set_font(family, style, size)

    def measure(text: str) -> float:
        pdf.set_font(family, style, size)
        return float(pdf.get_string_width(text))

    return measure


def _lines(
    pdf: FPDF, text: str, family: str, style: str, sizes: Sequence[float], width: float, max_lines: int
) -> tuple[list[str], float]:
    """The largest size whose wrap needs no ellipsis; else the smallest size, ellipsized."""
    for size in sizes:
        lines = wrap_text(text, width, _measure(pdf, family, style, size), max_lines + 1)
        if len(lines) <= max_lines:
            return lines, size
    return wrap_text(text, width, _measure(pdf, family, style, sizes[-1]), max_lines), sizes[-1]


def _text_block(
    pdf: FPDF,
    lines: Sequence[str],
    x: float,
    top: float,
    family: str,
    style: str,
    size: float,
    color: tuple[int, int, int],
) -> float:
    """Draw lines from `top` down; returns the y below the block."""
    pdf.set_font(family, style, size)
    pdf.set_text_color(*color)
    line_h = _line_h(size)
    for i, line in enumerate(lines):
        # DejaVu's ascender is about 0.93 em: put the baseline there so `top` is the ink top.
        pdf.text(x, top + i * line_h + size * PT * 0.93, line)
    return top + line_h * len(lines)


def _draw_card(pdf: FPDF, card: CardData, x0: float, y0: float) -> None:
    x, y = x0 + PAD, y0 + PAD
    inner_w = CELL_W - 2 * PAD

    school, size = _lines(pdf, card.school_name, SANS, "B", (9, 8, 7), inner_w, 1)
    if school[-1].endswith("…"):
        # A school's full official name is long: up to three smaller lines rather than one cut short
        # ("…«Ср…"), as on the card sent in the messenger.
        school, size = _lines(pdf, card.school_name, SANS, "B", (8, 7, 6.5, 6), inner_w, 3)
    y = _text_block(pdf, school, x, y, SANS, "B", size, ACCENT)
    heading, size = _lines(pdf, card.title, SANS, "", (7.5, 6.5), inner_w, 1)
    y = _text_block(pdf, heading, x, y + 0.3, SANS, "", size, MUTED)
    y += 0.8
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.3)
    pdf.line(x, y, x + inner_w, y)
    body_top = y + 1.0

    # The quiet zone is white: let it reach into the padding so the modules stay large.
    body_bottom = y0 + CELL_H - PAD
    qr_side = min(QR_SIZE, y0 + CELL_H - 1.0 - body_top)
    qr_x = x0 + 1.0
    qr_y = body_top + max(0.0, (y0 + CELL_H - 1.0 - body_top - qr_side) / 2)
    pdf.image(matrix_image(qr_matrix(card.qr_payload), QR_MODULE_PX), x=qr_x, y=qr_y, w=qr_side, h=qr_side)

    col_x = qr_x + qr_side + 1.0
    col_w = x0 + CELL_W - PAD - col_x

    # Lay the text column out first, then centre it vertically beside the QR.
    # A name is never cut: three lines at the largest size that holds it, else as many lines as it
    # takes at the smallest (the "where to enter" hint below gives up its room first).
    name, name_size = _lines(pdf, card.full_name, SANS, "B", (11, 10, 9, 8), col_w, 3)
    if name[-1].endswith("…"):
        name, name_size = _lines(pdf, card.full_name, SANS, "B", (8, 7), col_w, 6)
    role, role_size = _lines(pdf, card.role_line, SANS, "", (8.5, 7.5), col_w, 1)
    # The code is never shortened: shrink, then break after hyphens, then anywhere.
    pad_x, pad_y = 1.6, 1.4
    code_lines, code_size = _fit_code(pdf, card.code, (15, 14, 13, 12, 11, 10, 9, 8), col_w - 2 * pad_x)
    box_h = _line_h(code_size) * len(code_lines) + 2 * pad_y - code_size * PT * 0.2
    where_size = 7.0
    fixed_h = _line_h(name_size) * len(name) + 0.6 + _line_h(role_size) + 2.0 + box_h + 2.0
    room = max(0, int((body_bottom - body_top - fixed_h) / _line_h(where_size)))
    where = wrap_text(card.where_to_enter, col_w, _measure(pdf, SANS, "", where_size), room)
    total_h = fixed_h + _line_h(where_size) * len(where)

    y = body_top + max(0.0, (body_bottom - body_top - total_h) / 2)
    y = _text_block(pdf, name, col_x, y, SANS, "B", name_size, INK)
    y = _text_block(pdf, role, col_x, y + 0.6, SANS, "", role_size, MUTED)
    box_top = y + 2.0
    pdf.set_fill_color(*CODE_BG)
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.3)
    pdf.rect(col_x, box_top, col_w, box_h, style="DF", round_corners=True, corner_radius=1.2)
    _text_block(pdf, code_lines, col_x + pad_x, box_top + pad_y, MONO, "", code_size, (0, 0, 0))
    _text_block(pdf, where, col_x, box_top + box_h + 2.0, SANS, "", where_size, INK)


def _line_h(size: float) -> float:
    return size * PT * 1.2


def _fit_code(pdf: FPDF, code: str, sizes: Sequence[float], width: float) -> tuple[list[str], float]:
    for size in sizes:
        if _measure(pdf, MONO, "", size)(code) <= width:
            return [code], size
    if " " not in code:
        for size in sizes:
            lines = wrap_text(code, width, _measure(pdf, MONO, "", size), 3)
            if len(lines) <= 2 and "".join(lines) == code:
                return lines, size
    return split_chars(code, width, _measure(pdf, MONO, "", sizes[-1])), sizes[-1]


def _draw_cut_lines(pdf: FPDF, *, rows: int) -> None:
    """Dashed lines around and between the used cells: cut along them with scissors or a guillotine."""
    pdf.set_draw_color(*CUT)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=1.5)
    top, bottom = MARGIN_TOP, MARGIN_TOP + rows * CELL_H
    left, right = MARGIN_X, PAGE_W - MARGIN_X
    for r in range(rows + 1):
        y = MARGIN_TOP + r * CELL_H
        pdf.line(left, y, right, y)
    for c in range(COLS + 1):
        x = MARGIN_X + c * CELL_W
        pdf.line(x, top, x, bottom)
    pdf.set_dash_pattern()


def _draw_footer(pdf: FPDF, text: str, note: str | None = None) -> None:
    pdf.set_font(SANS, "", 8)
    pdf.set_text_color(*MUTED)
    width = float(pdf.get_string_width(text))
    pdf.text((PAGE_W - width) / 2, PAGE_H - FOOTER_H / 2 + 2.0, text)
    if note:
        pdf.set_font(SANS, "B", 8)
        pdf.set_text_color(*INK)
        line = wrap_text(note, PAGE_W - 2 * MARGIN_X, _measure(pdf, SANS, "B", 8), 1)[0]
        pdf.text((PAGE_W - float(pdf.get_string_width(line))) / 2, PAGE_H - FOOTER_H / 2 - 2.0, line)
