import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot.services.print_sheets import CARDS_PER_PAGE, render_sheets
from bot.services.qr_card import CardData, qr_payload

URL_TEMPLATE = "https://dnevnik.ru/register?code={code}"
TITLE = "5А — пригласительные коды"


def make_cards(n: int) -> list[CardData]:
    cards = []
    for i in range(n):
        code = f"AB{i:02d}-CD34-EF56"
        cards.append(
            CardData(
                full_name="Константинопольская-Верхнеднепровская Александра" if i % 3 == 0 else "Петров Иван",
                role_label="Обучающийся" if i % 2 else "Учитель",
                class_label="5А" if i % 2 else None,
                code=code,
                qr_payload=qr_payload(code, URL_TEMPLATE if i % 2 else None),
                where_to_enter="Введите код на dnevnik.ru → «Регистрация по коду»",
                school_name="МБОУ «СОШ № 17»",
            )
        )
    return cards


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def image_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Subtype\s*/Image", pdf))


@pytest.mark.parametrize(("cards", "pages"), [(1, 1), (8, 1), (9, 2), (16, 2), (17, 3)])
def test_page_count(cards: int, pages: int) -> None:
    pdf = render_sheets(make_cards(cards), title=TITLE)
    assert pdf.startswith(b"%PDF")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) == pages
    assert image_count(pdf) == cards


def test_no_cards_is_an_error() -> None:
    with pytest.raises(ValueError, match="no cards"):
        render_sheets([], title=TITLE)


def test_creation_date_from_caller_makes_output_reproducible() -> None:
    created = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    cards = make_cards(3)
    first = render_sheets(cards, title=TITLE, created_at=created)
    assert first == render_sheets(cards, title=TITLE, created_at=created)
    assert b"D:20260901080000" in first


def test_fonts_are_embedded() -> None:
    pdf = render_sheets(make_cards(2), title=TITLE)
    assert b"DejaVuSans" in pdf
    assert b"DejaVuSansMono" in pdf
    assert b"/FontFile2" in pdf


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_qr_codes_on_pages_decode(tmp_path: Path) -> None:
    cards = make_cards(CARDS_PER_PAGE + 1)
    pdf_path = tmp_path / "sheets.pdf"
    pdf_path.write_bytes(render_sheets(cards, title=TITLE))
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm is not None
    subprocess.run([pdftoppm, "-png", "-r", "100", str(pdf_path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2
    decoded: list[str] = []
    for page in pages:
        with Image.open(page) as img:
            gray = img.convert("L")
        decoded.extend(r.text for r in zxingcpp.read_barcodes(gray))
    assert sorted(decoded) == sorted(c.qr_payload for c in cards)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_a_name_too_long_for_three_lines_wraps_further_and_is_never_cut(tmp_path: Path) -> None:
    name = ("Константинопольская-Голенищева-Верхнеднепровская Александра-Виктория-Анастасия "
            "Святославовна-Ярополковна")
    card = make_cards(1)[0]
    pdf_path = tmp_path / "long.pdf"
    pdf_path.write_bytes(render_sheets([CardData(
        full_name=name, role_label=card.role_label, class_label=card.class_label, code=card.code,
        qr_payload=card.qr_payload, where_to_enter=card.where_to_enter, school_name=card.school_name)], title=TITLE))
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], check=True, capture_output=True,  # noqa: S607
                          text=True).stdout
    flat = " ".join(text.split()).replace("- ", "-")
    assert "…" not in flat and name in flat, flat
    assert card.code in flat
