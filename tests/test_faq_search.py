"""FAQ content, loading and search: shipped files load, search answers real phrasings, audiences hold."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from bot.domain.access import faq_audiences as audiences_for_roles
from bot.services.faq import Faq, FaqError, FaqLibrary

ROOT = Path(__file__).resolve().parent.parent
FAQ_DIR = ROOT / "content" / "faq"
PHRASINGS = tomllib.loads((Path(__file__).parent / "faq_phrasings.toml").read_text(encoding="utf-8"))
ACCURACY_BAR = 0.85
EVERYONE = {"all", "teacher", "pupil", "parent"}

MINIMAL = """
[categories]
login = "Вход"
teachers = "Учителям"

[[entry]]
id = "login-how"
category = "login"
audience = ["all"]
question = "Как войти?"
answer = "Введите <b>логин</b> и пароль."
keywords = ["вход"]

[[entry]]
id = "teacher-only"
category = "teachers"
audience = ["teacher"]
question = "Как заполнять журнал?"
answer = "Каждый день."
keywords = ["журнал"]
"""


@pytest.fixture(scope="module")
def library() -> FaqLibrary:
    return FaqLibrary.load(FAQ_DIR)


def _audiences(asker: str) -> set[str]:
    return {"all", asker}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_top3_accuracy_on_real_phrasings(
    library: FaqLibrary, lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    faq = library.get(lang)
    cases = PHRASINGS[lang]
    misses = []
    for case in cases:
        assert faq.get(case["expect"]) is not None, f"phrasing expects unknown id {case['expect']}"
        found = [e.id for e in faq.search(case["query"], _audiences(case["as"]), limit=3)]
        if case["expect"] not in found:
            misses.append(f"{case['query']!r}: expected {case['expect']}, got {found}")
    hits = len(cases) - len(misses)
    with capsys.disabled():
        print(f"\nFAQ top-3 accuracy {lang}: {hits}/{len(cases)} = {100 * hits / len(cases):.1f}%")
        for miss in misses:
            print(f"  miss {miss}")
    assert hits / len(cases) >= ACCURACY_BAR, misses


def test_phrasing_set_is_large_enough() -> None:
    assert len(PHRASINGS["ru"]) >= 45
    assert len(PHRASINGS["en"]) >= 10


def test_shipped_content_is_complete(library: FaqLibrary) -> None:
    ru, en = library.get("ru"), library.get("en")
    assert len(ru) >= 28
    assert [e.id for e in ru.all_entries()] == [e.id for e in en.all_entries()]
    for entry in ru.all_entries():
        assert entry.keywords, entry.id
        assert "TODO" not in entry.answer
        assert "XXX" not in entry.answer


@pytest.mark.parametrize("query", ["пароль", "пароля", "паролем", "паролю"])
def test_password_word_forms_match(library: FaqLibrary, query: str) -> None:
    found = [e.id for e in library.get("ru").search(query, EVERYONE)]
    assert "password-forgot" in found


@pytest.mark.parametrize("query", ["код", "кода", "коду", "кодом"])
def test_code_word_forms_match(library: FaqLibrary, query: str) -> None:
    found = library.get("ru").search(query, EVERYONE, limit=5)
    assert found
    assert all(e.category in {"codes", "login"} for e in found[:3])


def test_yo_and_punctuation_are_normalised(library: FaqLibrary) -> None:
    faq = library.get("ru")
    plain = [e.id for e in faq.search("как привязать ребенка", {"all", "parent"})]
    fancy = [e.id for e in faq.search("Как привязать РЕБЁНКА?!", {"all", "parent"})]
    assert plain == fancy
    assert plain[0] == "parent-link-child"


def test_small_typos_are_tolerated(library: FaqLibrary) -> None:
    faq = library.get("ru")
    assert faq.search("забыл пароьл", EVERYONE)[0].id == "password-forgot"
    assert faq.search("забыл пвроль", EVERYONE)[0].id == "password-forgot"


@pytest.mark.parametrize(
    ("lang", "query"),
    [("ru", "погода в москве"), ("ru", "привет"), ("ru", "когда каникулы"), ("en", "how to cook pasta")],
)
def test_irrelevant_queries_return_nothing(library: FaqLibrary, lang: str, query: str) -> None:
    assert library.get(lang).search(query, EVERYONE) == []


def test_empty_query_and_zero_limit(library: FaqLibrary) -> None:
    faq = library.get("ru")
    assert faq.search("", EVERYONE) == []
    assert faq.search("и в на", EVERYONE) == []
    assert faq.search("пароль", EVERYONE, limit=0) == []
    assert len(faq.search("пароль", EVERYONE, limit=1)) == 1


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_parent_never_sees_teacher_only_entries(library: FaqLibrary, lang: str) -> None:
    faq = library.get(lang)
    parent = audiences_for_roles(["parent"])
    teacher_only = {e.id for e in faq.all_entries() if set(e.audience) == {"teacher"}}
    assert teacher_only
    queries = [c["query"] for c in PHRASINGS[lang]] + [e.question for e in faq.all_entries()]
    for query in queries:
        for entry in faq.search(query, parent, limit=10):
            assert entry.id not in teacher_only, (query, entry.id)
    assert "teachers" not in {c.id for c in faq.categories(parent)}
    for category in faq.categories(parent):
        assert not {e.id for e in faq.entries(category.id, parent)} & teacher_only


def test_teacher_question_found_for_teacher_only(library: FaqLibrary) -> None:
    faq = library.get("ru")
    query = "как заполнять журнал"
    assert faq.search(query, audiences_for_roles(["teacher"]))[0].id == "teacher-fill-journal"
    assert all(e.id != "teacher-fill-journal" for e in faq.search(query, audiences_for_roles(["parent"])))


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("roles", [["parent"], ["student"], ["teacher"], ["director"], []])
def test_categories_non_empty_for_each_audience(library: FaqLibrary, lang: str, roles: list[str]) -> None:
    faq = library.get(lang)
    audiences = audiences_for_roles(roles)
    categories = faq.categories(audiences)
    assert categories
    for category in categories:
        assert category.title
        assert faq.entries(category.id, audiences)


def test_audiences_for_roles() -> None:
    assert audiences_for_roles([]) == {"all"}
    staff = ["director", "deputy_academic", "it_officer", "methodology_head", "site_admin", "class_teacher"]
    for role in [*staff, "teacher"]:
        assert audiences_for_roles([role]) == {"all", "teacher"}
    assert audiences_for_roles(["parent"]) == {"all", "parent"}
    assert audiences_for_roles(["student"]) == {"all", "pupil"}
    assert audiences_for_roles(["teacher", "parent"]) == {"all", "teacher", "parent"}
    assert audiences_for_roles(["nobody"]) == {"all"}


def test_unknown_language_falls_back_to_russian(library: FaqLibrary) -> None:
    assert library.get("de") is library.get("ru")
    assert library.get("en").get("login-how") is not None


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('question = "Как заполнять журнал?"', 'question = ""', "question"),
        ('audience = ["teacher"]', 'audience = ["teachers"]', "audience"),
        ('category = "teachers"', 'category = "nope"', "category"),
        ('answer = "Каждый день."', 'answer = "Каждый <i>день</i>."', "answer"),
        ('answer = "Каждый день."', 'answer = "Каждый <b>день."', "answer"),
        ('keywords = ["журнал"]', 'keywords = "журнал"', "keywords"),
        ('keywords = ["журнал"]', 'keyword = ["журнал"]', "keyword"),
        ('id = "teacher-only"', 'id = "login-how"', "id"),
    ],
)
def test_broken_entry_names_file_entry_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in MINIMAL
    path = _write(tmp_path, "ru.toml", MINIMAL.replace(old, new))
    with pytest.raises(FaqError) as info:
        Faq.load(path)
    error = info.value
    assert (error.path, error.entry, error.field) == (str(path), 2, field)
    assert new.split(" =")[0] in path.read_text(encoding="utf-8").splitlines()[error.line - 1]


def test_missing_field_and_bad_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "ru.toml", MINIMAL.replace('answer = "Каждый день."\n', ""))
    with pytest.raises(FaqError) as info:
        Faq.load(path)
    assert (info.value.code, info.value.entry, info.value.field) == ("answer_missing", 2, "answer")
    assert 'id = "teacher-only"' in MINIMAL.splitlines()[info.value.line - 1]  # the entry's id line
    _write(tmp_path, "ru.toml", MINIMAL + "\n[[entry]\n")
    with pytest.raises(FaqError) as info:
        Faq.load(path)
    assert info.value.code == "toml" and info.value.line == len(MINIMAL.splitlines()) + 2


def test_languages_must_agree(tmp_path: Path) -> None:
    _write(tmp_path, "ru.toml", MINIMAL)
    _write(tmp_path, "en.toml", MINIMAL.replace('id = "teacher-only"', 'id = "teacher-other"'))
    with pytest.raises(FaqError) as info:
        FaqLibrary.load(tmp_path)
    assert info.value.code == "ids_missing" and info.value.params["ids"] == "«teacher-only»"


def test_reload_swaps_content_and_keeps_old_on_error(tmp_path: Path) -> None:
    _write(tmp_path, "ru.toml", MINIMAL)
    _write(tmp_path, "en.toml", MINIMAL)
    library = FaqLibrary.load(tmp_path)
    before = library.get("ru").get("login-how")
    assert before is not None
    assert before.answer == "Введите <b>логин</b> и пароль."

    _write(tmp_path, "ru.toml", MINIMAL.replace("Введите <b>логин</b>", "Наберите <b>логин</b>"))
    library.reload()
    after = library.get("ru").get("login-how")
    assert after is not None
    assert after.answer.startswith("Наберите")
    assert before.answer.startswith("Введите")  # the old snapshot is immutable

    # A broken English file must not let the fixed Russian file in either: both or nothing.
    _write(tmp_path, "ru.toml", MINIMAL.replace("Введите <b>логин</b>", "Третья версия: <b>логин</b>"))
    _write(tmp_path, "en.toml", MINIMAL.replace('audience = ["all"]', "audience = []"))
    with pytest.raises(FaqError) as info:
        library.reload()
    assert info.value.path == str(tmp_path / "en.toml")
    current = library.get("ru").get("login-how")
    assert current is not None
    assert current.answer.startswith("Наберите")


def test_shipped_directory_copy_reloads(tmp_path: Path) -> None:
    for path in FAQ_DIR.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    library = FaqLibrary.load(tmp_path)
    library.reload()
    assert len(library.get("ru")) == len(FaqLibrary.load(FAQ_DIR).get("ru"))
