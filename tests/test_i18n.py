from __future__ import annotations

import pytest

from bot.i18n import Catalog, pick_lang, plural_form


@pytest.mark.parametrize(
    ("n", "form"),
    [(1, "one"), (2, "few"), (4, "few"), (5, "many"), (11, "many"), (12, "many"), (21, "one"), (22, "few"),
     (25, "many"), (101, "one"), (111, "many"), (0, "many")],
)
def test_russian_plural_forms(n: int, form: str) -> None:
    assert plural_form("ru", n) == form


def test_plural_texts_in_both_languages() -> None:
    catalog = Catalog.load()
    assert catalog.plural("ru", "imports.errors_title", 1) == "В файле 1 ошибка:"
    assert catalog.plural("ru", "imports.errors_title", 3) == "В файле 3 ошибки:"
    assert catalog.plural("ru", "imports.errors_title", 5) == "В файле 5 ошибок:"
    assert catalog.plural("en", "imports.errors_title", 1) == "The file has 1 error:"
    assert catalog.plural("en", "imports.errors_title", 2) == "The file has 2 errors:"


def test_every_russian_text_has_an_english_one_and_back() -> None:
    catalog = Catalog.load()
    assert catalog.keys("ru") - catalog.keys("en") == set()
    assert catalog.keys("en") - catalog.keys("ru") == set()


def test_language_from_telegram() -> None:
    assert pick_lang("en-US") == "en"
    assert pick_lang("ru") == "ru"
    assert pick_lang("uk") == "ru"
    assert pick_lang(None) == "ru"
