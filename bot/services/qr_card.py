"""Invitation-code cards: a phone-readable PNG with the QR, the person and the code.

`render_card` is a pure function of `CardData` and is safe to call from worker threads
(`asyncio.to_thread`): every call builds its own image, and the only shared state is the
cache of loaded fonts. Pillow's FreeType binding never releases the GIL while it touches a
font face, so one `FreeTypeFont` can be shared by threads on a GIL build.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.paths import CONTENT_DIR
from bot.services.wrapping import split_chars, wrap_text

if TYPE_CHECKING:
    # Pillow and qrcode are imported where a card is drawn: a command that draws none (`schoolbot
    # backup`) never loads them (tests/test_cli_light.py).
    from PIL import Image, ImageFont

FONTS_DIR = CONTENT_DIR / "fonts"
FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"
FONT_MONO = "DejaVuSansMono.ttf"

CODE_PLACEHOLDER = "{code}"
QR_BORDER = 4  # modules of quiet zone, as the QR specification asks for

CARD_WIDTH = 900
CARD_HEIGHT = 560


@dataclass(frozen=True)
class CardData:
    full_name: str  # "Иванова Мария Петровна"
    role_label: str  # already localised, e.g. "Родитель", "Обучающийся", "Учитель"
    class_label: str | None  # "5А" or None for staff without a class
    code: str  # the invitation code, e.g. "AB12-CD34-EF56"
    qr_payload: str  # what the QR encodes: the code itself or a URL built from a template
    where_to_enter: str  # one line, e.g. "Введите код на dnevnik.ru → «Регистрация по коду»"
    school_name: str
    title: str = "Пригласительный код"  # localised header

    @property
    def role_line(self) -> str:
        return f"{self.role_label} · {self.class_label}" if self.class_label else self.role_label


def qr_payload(code: str, template: str | None) -> str:
    """What the QR encodes: the bare code, or `template` with `{code}` replaced.

    Plain replacement instead of `str.format` keeps other braces in a configured URL literal
    and never evaluates attribute lookups written into the template.
    """
    if template is None or not template.strip():
        return code
    if CODE_PLACEHOLDER not in template:
        raise ValueError(f"QR template must contain {CODE_PLACEHOLDER}: {template!r}")
    return template.replace(CODE_PLACEHOLDER, quote(code, safe=""))


# --------------------------------------------------------------------------------------
# shared helpers (also used by print_sheets)


def qr_matrix(payload: str) -> list[list[bool]]:
    """The QR modules including the quiet zone; True is a dark module."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_BORDER)
    qr.add_data(payload)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()
    return matrix


def qr_image(payload: str, module_px: int = 1) -> Image.Image:
    """A grayscale QR image, `module_px` pixels per module (integer scaling keeps edges sharp)."""
    return matrix_image(qr_matrix(payload), module_px)


def matrix_image(
    matrix: Sequence[Sequence[bool]], module_px: int = 1, *, dark: int = 0, light: int = 255
) -> Image.Image:
    from PIL import Image

    n = len(matrix)
    raw = bytes(dark if cell else light for row in matrix for cell in row)
    img = Image.frombytes("L", (n, n), raw)
    if module_px > 1:
        img = img.resize((n * module_px, n * module_px), Image.Resampling.NEAREST)
    return img


# --------------------------------------------------------------------------------------
# PNG card

MARGIN = 32
HEADER_HEIGHT = 100
QR_BOX = 400  # the QR (with its quiet zone) is scaled to fit this square
COLUMN_GAP = 24

# The card is drawn as an 8-bit grayscale image whose levels index a two-ramp palette, then
# saved as a palette PNG: a third of the bytes of RGB, which halves the PNG encoding time
# (the largest cost per card). Levels 0..127 run from the ink colour to white paper (the body),
# 128..255 from the header blue to white (the header). Anti-aliasing blends between a text level
# and its background level, so it stays on that background's ramp and edges keep their colours.
INK_RGB = (17, 24, 39)
PAPER_RGB = (255, 255, 255)
HEADER_RGB = (30, 58, 95)

PAPER = 127
INK = 0
MUTED = 38  # a grey on the ink ramp, for the role line
CODE_BG = 120  # a faint grey behind the code
HEADER_BG = 128
HEADER_FG = 255
HEADER_SUB = 222
CODE_BORDER = HEADER_BG  # outline is not anti-aliased, so it is exactly the header blue


def _ramp(start: tuple[int, int, int], end: tuple[int, int, int], steps: int) -> list[int]:
    out: list[int] = []
    for i in range(steps):
        t = i / (steps - 1)
        out.extend(round(a + (b - a) * t) for a, b in zip(start, end, strict=True))
    return out


_PALETTE = _ramp(INK_RGB, PAPER_RGB, 128) + _ramp(HEADER_RGB, PAPER_RGB, 128)


@lru_cache(maxsize=64)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    # Basic layout: Cyrillic needs no shaping, and it skips raqm's per-call overhead.
    return ImageFont.truetype(str(FONTS_DIR / name), size, layout_engine=ImageFont.Layout.BASIC)


@dataclass(frozen=True)
class TextBlock:
    """Lines of text placed on the card; `box` is (left, top, right, bottom) of the ink area."""

    role: str
    lines: tuple[str, ...]
    font_name: str
    size: int
    x: int
    y: int
    line_height: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class CardLayout:
    width: int
    height: int
    qr_box: tuple[int, int, int, int]
    qr_module_px: int
    qr_matrix: tuple[tuple[bool, ...], ...]
    code_box: tuple[int, int, int, int]
    blocks: tuple[TextBlock, ...]


def _block(role: str, lines: list[str], font_name: str, size: int, x: int, y: int) -> TextBlock:
    f = font(font_name, size)
    ascent, descent = f.getmetrics()
    line_height = round((ascent + descent) * 1.12)
    right = x + max((round(f.getlength(line)) for line in lines), default=0)
    bottom = y + line_height * (len(lines) - 1) + ascent + descent if lines else y
    return TextBlock(role, tuple(lines), font_name, size, x, y, line_height, (x, y, right, bottom))


def _fit_code(code: str, sizes: tuple[int, ...], max_width: int) -> tuple[list[str], int]:
    """One line at the largest size that fits; else two lines broken after a hyphen; else split anywhere."""
    for size in sizes:
        if font(FONT_MONO, size).getlength(code) <= max_width:
            return [code], size
    if " " not in code:
        for size in sizes:
            lines = wrap_text(code, max_width, font(FONT_MONO, size).getlength, 3)
            if len(lines) <= 2 and "".join(lines) == code:
                return lines, size
    size = sizes[-1]
    return split_chars(code, max_width, font(FONT_MONO, size).getlength), size


def _shifted(block: TextBlock, dy: int) -> TextBlock:
    left, top, right, bottom = block.box
    return replace(block, y=block.y + dy, box=(left, top + dy, right, bottom + dy))


def _wrap_fitting(
    text: str, font_name: str, sizes: tuple[int, ...], max_width: int, max_lines: int
) -> tuple[list[str], int]:
    """The largest size whose wrap needs no ellipsis; else the smallest size, ellipsized."""
    for size in sizes:
        measure = font(font_name, size).getlength
        lines = wrap_text(text, max_width, measure, max_lines + 1)
        if len(lines) <= max_lines:
            return lines, size
    size = sizes[-1]
    return wrap_text(text, max_width, font(font_name, size).getlength, max_lines), size


def layout_card(data: CardData) -> CardLayout:
    """Where everything goes; pure geometry, so tests can check nothing overflows."""
    w, h = CARD_WIDTH, CARD_HEIGHT
    blocks: list[TextBlock] = []
    inner = w - 2 * MARGIN

    # A school's full official name is long («Муниципальное бюджетное общеобразовательное
    # учреждение …»): one line while it fits, else two smaller lines, never cut.
    school, size = _wrap_fitting(data.school_name, FONT_BOLD, (28, 24, 20), inner, 1)
    if len(school) == 1 and school[0] != data.school_name:
        school, size = _wrap_fitting(data.school_name, FONT_BOLD, (22, 20, 18, 16, 14), inner, 2)
    two = len(school) > 1
    school_block = _block("school", school, FONT_BOLD, size, MARGIN, 8 if two else 18)
    blocks.append(school_block)
    title, size = _wrap_fitting(data.title, FONT_REGULAR, (18, 16) if two else (22, 18), inner, 1)
    blocks.append(_block("title", title, FONT_REGULAR, size, MARGIN, school_block.box[3] + 6 if two else 60))

    # QR: the largest integer module size that fits the box, centred vertically in the body.
    matrix = qr_matrix(data.qr_payload)
    modules = len(matrix)
    module_px = max(1, QR_BOX // modules)
    qr_side = modules * module_px
    body_top = HEADER_HEIGHT
    qr_area_left = MARGIN - 12  # the quiet zone is white already; let it eat into the margin
    qr_left = qr_area_left + (QR_BOX - qr_side) // 2
    qr_top = body_top + (h - body_top - qr_side) // 2
    qr_box = (qr_left, qr_top, qr_left + qr_side, qr_top + qr_side)

    col_x = qr_area_left + QR_BOX + COLUMN_GAP
    col_w = w - MARGIN - col_x
    y = body_top + 28

    name, size = _wrap_fitting(data.full_name, FONT_BOLD, (34, 30, 26, 22), col_w, 3)
    name_block = _block("name", name, FONT_BOLD, size, col_x, y)
    blocks.append(name_block)
    y = name_block.box[3] + 14

    role, size = _wrap_fitting(data.role_line, FONT_REGULAR, (24, 20), col_w, 1)
    role_block = _block("role", role, FONT_REGULAR, size, col_x, y)
    blocks.append(role_block)
    y = role_block.box[3] + 26

    # The code is never ellipsized: shrink it, and break it over lines only as a last resort.
    pad_x, pad_y = 16, 14
    code_sizes = (48, 44, 40, 36, 32, 28, 24)
    code_w = col_w - 2 * pad_x
    code_lines, size = _fit_code(data.code, code_sizes, code_w)
    code_block = _block("code", code_lines, FONT_MONO, size, col_x + pad_x, y + pad_y)
    blocks.append(code_block)
    code_box = (col_x, y, w - MARGIN, code_block.box[3] + pad_y)
    y = code_box[3] + 26

    where_lines_max = 9
    where, size = _wrap_fitting(data.where_to_enter, FONT_REGULAR, (22, 20, 18), col_w, where_lines_max)
    f = font(FONT_REGULAR, size)
    ascent, descent = f.getmetrics()
    line_height = round((ascent + descent) * 1.12)
    room = (h - MARGIN - y - (ascent + descent)) // line_height + 1
    if len(where) > room:
        where = wrap_text(data.where_to_enter, col_w, f.getlength, max(room, 0))
    if where:
        blocks.append(_block("where", where, FONT_REGULAR, size, col_x, y))

    # Centre the text column vertically in the body when it is short (staff, short names).
    body = [b for b in blocks if b.role not in ("school", "title")]
    shift = max(0, (h - MARGIN - max(b.box[3] for b in body) - 12) // 2)
    if shift:
        blocks = blocks[:2] + [_shifted(b, shift) for b in body]
        code_box = (code_box[0], code_box[1] + shift, code_box[2], code_box[3] + shift)

    frozen_matrix = tuple(tuple(row) for row in matrix)
    return CardLayout(w, h, qr_box, module_px, frozen_matrix, code_box, tuple(blocks))


_LEVELS = {
    "school": HEADER_FG,
    "title": HEADER_SUB,
    "name": INK,
    "role": MUTED,
    "code": INK,
    "where": INK,
}


def render_card(data: CardData) -> bytes:
    """The card as PNG bytes."""
    from PIL import Image, ImageDraw

    layout = layout_card(data)
    img = Image.new("L", (layout.width, layout.height), PAPER)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, layout.width, HEADER_HEIGHT - 1), fill=HEADER_BG)

    qr = matrix_image(layout.qr_matrix, layout.qr_module_px, dark=INK, light=PAPER)
    img.paste(qr, layout.qr_box[:2])

    draw.rounded_rectangle(layout.code_box, radius=10, fill=CODE_BG, outline=CODE_BORDER, width=2)

    for block in layout.blocks:
        f = font(block.font_name, block.size)
        for i, line in enumerate(block.lines):
            draw.text((block.x, block.y + i * block.line_height), line, font=f, fill=_LEVELS[block.role])

    img.putpalette(_PALETTE)  # turns the grayscale image into a palette image in place
    out = io.BytesIO()
    # Level 1: the card is mostly flat colour, so harder compression gains little size
    # for several milliseconds more per card.
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()
