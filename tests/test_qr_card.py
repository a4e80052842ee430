import io
from concurrent.futures import ThreadPoolExecutor

import pytest
import zxingcpp
from PIL import Image

from bot.services.qr_card import (
    CARD_HEIGHT,
    CARD_WIDTH,
    HEADER_HEIGHT,
    CardData,
    layout_card,
    qr_payload,
    render_card,
)
from bot.services.wrapping import ELLIPSIS, wrap_text

CODE = "AB12-CD34-EF56"
URL_TEMPLATE = "https://dnevnik.ru/register?code={code}"
WHERE = "Введите код на dnevnik.ru → «Регистрация по коду»"


def make_card(**overrides: object) -> CardData:
    fields: dict[str, object] = {
        "full_name": "Иванова Мария Петровна",
        "role_label": "Родитель",
        "class_label": "5А",
        "code": CODE,
        "qr_payload": CODE,
        "where_to_enter": WHERE,
        "school_name": "МБОУ «СОШ № 17»",
    }
    fields.update(overrides)
    return CardData(**fields)  # type: ignore[arg-type]


def decode(png: bytes) -> list[str]:
    with Image.open(io.BytesIO(png)) as img:
        gray = img.convert("L")
    return [r.text for r in zxingcpp.read_barcodes(gray)]


def test_qr_payload_without_template_is_the_code() -> None:
    assert qr_payload(CODE, None) == CODE
    assert qr_payload(CODE, "  ") == CODE


def test_qr_payload_fills_template() -> None:
    assert qr_payload(CODE, URL_TEMPLATE) == f"https://dnevnik.ru/register?code={CODE}"


def test_qr_payload_quotes_code_and_keeps_other_braces() -> None:
    assert qr_payload("A B/C", "x{y}?c={code}") == "x{y}?c=A%20B%2FC"


def test_qr_payload_rejects_template_without_placeholder() -> None:
    with pytest.raises(ValueError, match=r"\{code\}"):
        qr_payload(CODE, "https://dnevnik.ru/register")


def test_card_is_png_of_expected_size() -> None:
    png = render_card(make_card())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == (CARD_WIDTH, CARD_HEIGHT)
        assert img.mode == "P"
        rgb = img.convert("RGB")
    # Header band is coloured, the body is white paper.
    assert rgb.getpixel((5, 5)) != (255, 255, 255)
    assert rgb.getpixel((CARD_WIDTH - 5, CARD_HEIGHT - 5)) == (255, 255, 255)


def test_qr_decodes_to_plain_code() -> None:
    assert decode(render_card(make_card())) == [CODE]


def test_qr_decodes_to_url_from_template() -> None:
    payload = qr_payload(CODE, URL_TEMPLATE)
    assert decode(render_card(make_card(qr_payload=payload))) == [payload]


def test_staff_card_without_class() -> None:
    card = make_card(role_label="Учитель", class_label=None)
    assert card.role_line == "Учитель"
    assert decode(render_card(card)) == [CODE]
    assert make_card().role_line == "Родитель · 5А"


def _inside(box: tuple[int, int, int, int], width: int, height: int) -> bool:
    left, top, right, bottom = box
    return 0 <= left <= right <= width and 0 <= top <= bottom <= height


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


LONG_NAME = "Константинопольская-Верхнеднепровская Александра-Екатерина Констанциевна-Владиславовна оглы"
LONG_WHERE = (
    "Откройте dnevnik.ru, нажмите «Войти», затем «Регистрация по коду», введите код с этой "
    "карточки и следуйте подсказкам на экране; если что-то не получается — напишите классному "
    "руководителю или в школьную поддержку, вам обязательно помогут"
)
LONG_SCHOOL = "Муниципальное бюджетное общеобразовательное учреждение «Средняя школа № 17 имени героев»"


@pytest.mark.parametrize(
    "card",
    [
        make_card(),
        make_card(full_name=LONG_NAME, where_to_enter=LONG_WHERE, school_name=LONG_SCHOOL),
        make_card(full_name="Щ" * 80, role_label="Обучающийся", class_label="11Б"),
        make_card(code="ABCD-EFGH-IJKL-MNOP-QRST-UVWX", qr_payload=qr_payload(CODE, URL_TEMPLATE)),
    ],
    ids=["normal", "long-texts", "unbreakable-name", "long-code"],
)
def test_layout_keeps_everything_inside_and_apart(card: CardData) -> None:
    layout = layout_card(card)
    boxes = {b.role: b.box for b in layout.blocks}
    assert {"school", "title", "name", "role", "code", "where"} <= boxes.keys()
    for role, box in boxes.items():
        assert _inside(box, layout.width, layout.height), role
    assert _inside(layout.qr_box, layout.width, layout.height)
    assert _inside(layout.code_box, layout.width, layout.height)
    placed = [*boxes.items(), ("qr", layout.qr_box)]
    for i, (role_a, a) in enumerate(placed):
        for role_b, b in placed[i + 1 :]:
            assert not _overlap(a, b), (role_a, role_b)
    # The code block sits inside its frame and is never shortened.
    code_block = next(b for b in layout.blocks if b.role == "code")
    assert "".join(code_block.lines) == card.code
    cx0, cy0, cx1, cy1 = layout.code_box
    assert cx0 <= code_block.box[0]
    assert code_block.box[2] <= cx1
    assert cy0 <= code_block.box[1]
    assert code_block.box[3] <= cy1


def test_a_long_school_name_is_wrapped_in_the_header_not_cut() -> None:
    name = "Муниципальное бюджетное общеобразовательное учреждение «Средняя общеобразовательная школа № 1»"
    layout = layout_card(make_card(school_name=name))
    school = next(b for b in layout.blocks if b.role == "school")
    title = next(b for b in layout.blocks if b.role == "title")
    assert " ".join(school.lines) == name and "…" not in "".join(school.lines)
    assert school.box[3] <= title.box[1] and title.box[3] <= HEADER_HEIGHT
    assert school.box[2] <= layout.width - 20


def test_long_name_is_wrapped_at_hyphen_and_ellipsized() -> None:
    layout = layout_card(make_card(full_name=LONG_NAME))
    name = next(b for b in layout.blocks if b.role == "name")
    assert 1 < len(name.lines) <= 3
    assert name.lines[0].endswith("-")
    assert name.lines[-1].endswith(ELLIPSIS)


def test_long_texts_leave_right_margin_blank() -> None:
    png = render_card(make_card(full_name=LONG_NAME, where_to_enter=LONG_WHERE, school_name=LONG_SCHOOL))
    with Image.open(io.BytesIO(png)) as img:
        rgb = img.convert("RGB")
    header_rgb = rgb.getpixel((CARD_WIDTH - 2, 2))
    for x in range(CARD_WIDTH - 24, CARD_WIDTH):
        for y in range(0, CARD_HEIGHT, 2):
            expected = header_rgb if y < 100 else (255, 255, 255)
            assert rgb.getpixel((x, y)) == expected, (x, y)


def test_render_is_deterministic_across_threads() -> None:
    cards = [make_card(code=f"AB12-CD34-EF{i:02d}", qr_payload=f"AB12-CD34-EF{i:02d}") for i in range(8)]
    expected = [render_card(c) for c in cards]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(render_card, cards)) == expected


def test_wrap_text_rules() -> None:
    def measure(s: str) -> float:
        return float(len(s))

    assert wrap_text("aa bb cc", 5, measure, 3) == ["aa bb", "cc"]
    assert wrap_text("aa-bbbb", 4, measure, 3) == ["aa-", "bbbb"]
    assert wrap_text("abcdefgh", 3, measure, 5) == ["abc", "def", "gh"]
    assert wrap_text("aa bb cc dd", 5, measure, 1) == ["aa b…"]
    assert wrap_text("   ", 5, measure, 2) == []
