"""Plain A4 documents for an inspector (the destruction act, the consent evidence): a list of
paragraphs rendered with the shipped DejaVu fonts. The paragraphs are the document: tests read
them as text, and `render` lays them out without adding or dropping a word."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.paths import CONTENT_DIR

FONT_DIR = CONTENT_DIR / "fonts"
Style = Literal["title", "heading", "body", "small", "mono", "sign"]


@dataclass(frozen=True)
class Para:
    text: str
    style: Style = "body"


def plain_text(paras: Sequence[Para]) -> str:
    return "\n\n".join(p.text for p in paras)


def render(paras: Sequence[Para], *, title: str) -> bytes:
    """Portrait A4: the title bold and centred, headings bold, hashes and quoted texts in a
    monospaced font (an inspector compares them character by character), signature lines."""
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVuMono", "", str(FONT_DIR / "DejaVuSansMono.ttf"))
    pdf.set_title(title)
    pdf.alias_nb_pages()
    pdf.add_page()
    for para in paras:
        if para.style == "title":
            pdf.set_font("DejaVu", "B", 12)
            pdf.multi_cell(0, 6, para.text, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif para.style == "heading":
            pdf.ln(2)
            pdf.set_font("DejaVu", "B", 10)
            pdf.multi_cell(0, 5, para.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif para.style == "mono":
            pdf.set_font("DejaVuMono", "", 7.5)
            # Flush left: a quoted text is compared character by character, its spaces as they are.
            pdf.multi_cell(0, 3.6, para.text, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif para.style == "small":
            pdf.set_font("DejaVu", "", 8)
            pdf.multi_cell(0, 4, para.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif para.style == "sign":
            pdf.ln(6)
            pdf.set_font("DejaVu", "", 9.5)
            pdf.multi_cell(0, 5, para.text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("DejaVu", "", 9.5)
            # Justified, a line with a hash in it spread its other words across the page: such a
            # paragraph is set flush left.
            long_word = any(len(word) > 30 for word in para.text.split())
            pdf.multi_cell(0, 5, para.text, align="L" if long_word else "J", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    return bytes(pdf.output())
