"""Every catalog text, rendered with a man, a woman and a person whose gender the name does not tell,
and with the counts 0, 1, 2, 5, 11, 21 and 101, reads as correct Russian (and English).

pymorphy3 reads each rendering: a past-tense verb, short participle or short adjective standing next
to a person named in the nominative agrees with that person's gender ("(а)" when unknown); a
preposition never governs a name left in the nominative; a noun right after a number is in the form
the number governs (1 получатель, 2 получателя, 5 получателей; из 21 ребёнка, из 2 детей); no
placeholder, `None`, dash standing for a name or doubled phrase survives. Values a school writes
in school.toml come from the shipped example school, so a text that repeats its config is seen too.
The English catalog is checked for plurals the same way.
"""

from __future__ import annotations

import re
import string
import tomllib
from functools import cache
from typing import Any

import pymorphy3
import pytest

from bot.i18n import Catalog, Count, plural_form
from bot.paths import CONTENT_DIR
from bot.russian import Named, mid_sentence

PEOPLE = {"male": "Петров Иван Сергеевич", "female": "Павлова Алиса Сергеевна", "unknown": "Ли Саша"}
COUNTS = (0, 1, 2, 5, 11, 21, 101)
# Fields that carry a person (rendered as a `Named`).
PERSON_FIELDS = frozenset({"name", "child", "parent", "by", "who", "teacher"})
# Fields that carry a number of things (rendered as a `Count`).
COUNT_FIELDS = frozenset({
    "n", "total", "done", "count", "activated", "delivered", "codes", "children", "declined", "given", "pending",
    "sent", "failed", "invited", "attended", "imported", "linked", "reachable", "dead", "lost", "cancelled",
    "graduated", "promoted", "present", "missing", "reminders", "digests", "days", "minutes", "limit", "left",
    "consent", "open", "overdue", "tg", "max", "both", "receipts", "pages", "page", "yes", "no", "none", "size",
    "free", "need", "known", "unanswered", "aged", "old_n", "tasks", "hours",
})
# Values the school writes in school.toml, as the shipped example writes them.
_EXAMPLE = tomllib.loads((CONTENT_DIR / "school.example.toml").read_text(encoding="utf-8"))
CONFIG_FIELDS = {
    "contact": _EXAMPLE["school"]["it_officer_contact"],
    "note": _EXAMPLE["consent"]["paper_original_note"],
    "school": _EXAMPLE["school"]["name"],
}
OPEN, CLOSE = "\x01", "\x02"   # around a rendered name: its case follows OPEN
NUM_OPEN, NUM_CLOSE = "\x03", "\x04"
WORD = re.compile(r"[А-Яа-яЁё]+(?:-[А-Яа-яЁё]+)*(?:\([а-яё]+\))?")
ABBREVIATIONS = {"дн", "раб", "чел", "мин", "ч", "стр", "шт", "руб", "сек", "кв"}
# Words before a number that put it in an oblique case: «из 21 ребёнка», «нет 1 квитанции».
GOVERN_GENITIVE = {"из", "нет", "больше", "меньше", "длиннее", "короче", "около", "до"}
GENDERED = {"VERB", "PRTS", "ADJS"}
# Prepositions that govern a case other than the nominative, as they stand before a name.
PREPOSITIONS = {"для", "от", "у", "к", "с", "со", "о", "об", "за", "про", "при", "без", "по", "над", "под"}


class _Name(Named):
    """A Named whose renderings are marked, so the checks know where the name stands and in which case."""

    def __format__(self, spec: str) -> str:
        text = super().__format__(spec)
        if "|" in spec:
            return text
        case = next((t for t in spec.split(".") if t in {"gent", "datv", "accs", "ablt", "loct"}), "nomn")
        return f"{OPEN}{case}:{text}{CLOSE}"


class _Count(Count):
    def __format__(self, spec: str) -> str:
        return f"{NUM_OPEN}{super().__format__(spec)}{NUM_CLOSE}"


@cache
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


@cache
def _catalog() -> Catalog:
    return Catalog.load()


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def _templates(lang: str) -> list[tuple[str, str, str | None]]:
    """(key, template, plural form or None) for every text in a language."""
    out = []
    for key in sorted(_catalog().keys(lang)):
        raw = _catalog()._raw(lang, key)
        if isinstance(raw, dict):
            out += [(key, template, form) for form, template in raw.items()]
        else:
            out.append((key, raw, None))
    return out


def _render(template: str, lang: str, gender: str, n: int) -> str:
    params: dict[str, Any] = {}
    for field in _fields(template):
        if field in PERSON_FIELDS:
            params[field] = _Name(PEOPLE[gender])
        elif field in COUNT_FIELDS:
            params[field] = _Count(n, lang)
        elif field in CONFIG_FIELDS:
            params[field] = CONFIG_FIELDS[field]
        else:
            params[field] = f"X{field}"   # Latin: no Russian check reads it
    return template.format(**params)


def _plain(text: str) -> str:
    text = re.sub(f"{OPEN}\\w+:", "", text)
    return re.sub(f"[{CLOSE}{NUM_OPEN}{NUM_CLOSE}]", "", text)


def _tag(word: str) -> Any:
    return _morph().parse(word.split("(")[0])[0].tag


def _gender_slip(word: str, gender: str) -> bool:
    tag = _tag(word)
    if tag.POS not in GENDERED or "sing" not in tag or tag.gender not in ("masc", "femn"):
        return False
    if tag.POS == "VERB" and "past" not in tag:
        return False
    if gender == "unknown":
        return "(" not in word
    return tag.gender != {"male": "masc", "female": "femn"}[gender]


def _agreement_slips(text: str, gender: str) -> list[str]:
    slips = []
    for m in re.finditer(f"{OPEN}(\\w+):([^{CLOSE}]*){CLOSE}", text):
        case, name = m.group(1), m.group(2)
        before = [w.group(0) for w in WORD.finditer(_plain(text[: m.start()]).split("\n")[-1])]
        after_text = _plain(text[m.end():])
        after = re.match(r"[ :,]*(" + WORD.pattern + ")", after_text)
        quoted = text[: m.start()].endswith(("«", "“", '"'))
        if case == "nomn" and not quoted:
            governed = re.search(r"(?:^|[^\w])(\w+) $", _plain(text[: m.start()]))
            if governed and governed.group(1).lower() in PREPOSITIONS:
                slips.append(f"«{governed.group(1)} {name}»: the name stays in the nominative after a preposition")
            neighbours = [after.group(1)] if after else []
            if before and re.search(r"[ ]$", _plain(text[: m.start()])):
                neighbours.append(before[-1])
            slips += [f"«{w}» next to {name}" for w in neighbours if _gender_slip(w, gender)]
    return slips


def _nominal_ok(form: str, tag: Any) -> bool:
    """1 получатель (nominative or accusative singular), 2 получателя (genitive singular; an
    adjective stands in the plural: 2 открытых вопроса), 5 получателей (genitive plural)."""
    if form == "one":
        return "sing" in tag and bool({"nomn", "accs"} & tag.grammemes)
    if form == "few":
        return ("gent" in tag and "sing" in tag) or ("ADJF" in tag and "plur" in tag)
    return "gent" in tag and "plur" in tag


def _governs(n: int, word: str, oblique: bool) -> bool:
    """Whether a noun after the number n is in a form n governs (oblique: after a preposition)."""
    form = plural_form("ru", n)
    for parse in _morph().parse(word):
        tag = parse.tag
        if "NOUN" not in tag and "ADJF" not in tag:
            continue
        # A dative, instrumental or prepositional noun is in the case of the numeral itself.
        if oblique or {"datv", "ablt", "loct"} & tag.grammemes:
            if ("sing" in tag) == (form == "one"):
                return True
        elif _nominal_ok(form, tag):
            return True
    return not any({"NOUN", "ADJF"} & set(p.tag.grammemes) for p in _morph().parse(word) if p.score > 0.2)


def _numeral_slips(text: str, n: int) -> list[str]:
    slips = []
    for m in re.finditer(f"{NUM_OPEN}(\\d+)([^{NUM_CLOSE}]*){NUM_CLOSE}", text):
        before = WORD.findall(_plain(text[: m.start()]))
        tail = m.group(2) or _plain(text[m.end():])
        word = re.match(r" (" + WORD.pattern + ")", tail)
        if not word or word.group(1).isupper() or word.group(1) in ABBREVIATIONS:
            continue   # no noun follows ("детей: 5"), or an abbreviation ("5 дн.", "5 МБ")
        oblique = bool(before) and before[-1].lower() in GOVERN_GENITIVE | PREPOSITIONS
        if not _governs(n, word.group(1), oblique):
            slips.append(f"«{n} {word.group(1)}»")
    return slips


def _doubled(text: str) -> list[str]:
    words = [w.lower() for w in WORD.findall(text)]
    seen: set[tuple[str, ...]] = set()
    doubled = []
    for i in range(len(words) - 3):
        shingle = tuple(words[i : i + 4])
        if shingle in seen:
            doubled.append(" ".join(shingle))
        seen.add(shingle)
    return doubled


def _capitalised_mid_sentence(text: str) -> list[str]:
    """A school's own phrase ("Ответственный по информатизации: каб. 214") set inside a sentence."""
    slips = []
    for value in CONFIG_FIELDS.values():
        for m in re.finditer(re.escape(value), text):
            if re.search(r"[а-яё,] $", text[: m.start()]) and mid_sentence(value) != value:
                slips.append(f"capitalised mid-sentence: «…{text[max(0, m.start() - 20): m.start() + 30]}…»")
    return slips


def _leftovers(text: str) -> list[str]:
    found = re.findall(r"\{\w*\}|\bNone\b(?! of)|[,:]\s*—\s*[,:]|\(—\)", text)
    return [f"leftover {x!r}" for x in found]


def _russian_cases() -> list[tuple[str, str, str | None]]:
    return _templates("ru")


def _ids(cases: list[tuple[str, str, str | None]]) -> list[str]:
    return [f"{k}:{f}" if f else k for k, _, f in cases]


@pytest.mark.parametrize(("key", "template", "form"), _russian_cases(), ids=_ids(_russian_cases()))
def test_every_russian_text_agrees_with_its_person_and_count(key: str, template: str, form: str | None) -> None:
    problems: set[str] = set()
    counts = [n for n in COUNTS if form is None or plural_form("ru", n) == form]
    for gender in PEOPLE:
        for n in counts:
            text = _render(template, "ru", gender, n)
            plain = _plain(text)
            problems.update(f"{gender}: {s}" for s in _agreement_slips(text, gender))
            if "{n}" in template or form is None or "n" in _fields(template):
                problems.update(_numeral_slips(text, n))
            problems.update(_leftovers(plain))
            problems.update(_capitalised_mid_sentence(plain))
            problems.update(f"doubled «{d}»" for d in _doubled(plain))
    assert not problems, f"{key}: {sorted(problems)}\n{_plain(_render(template, 'ru', 'female', 21))}"


# English: 1 recipient, 2 recipients.
_SINGULAR_S = {"status", "class", "access", "address", "process", "this", "is", "was", "has", "less", "its", "plus"}
_NOT_NOUNS = {"of", "out", "in", "at", "to", "from", "and", "or", "more", "min", "per", "a", "the", "by", "for",
              "left", "is", "are", "were", "was", "will", "times", "mb", "kb", "reachable", "delivered", "failed",
              "with", "on", "without", "would", "than", "answered", "given", "confirmed"}
_MODIFIERS = {"working", "open", "new", "consent", "unanswered", "overdue"}
_INVARIANT = {"people", "children", "staff", "feedback", "sheep"}


def _english_slips(text: str, n: int) -> list[str]:
    slips = []
    for m in re.finditer(f"{NUM_OPEN}(\\d+)([^{NUM_CLOSE}]*){NUM_CLOSE}", text):
        tail = m.group(2) or _plain(text[m.end():])
        word = re.match(r" ([a-z]+)\b(?![.'’])(?: ([a-z]+)\b)?", tail)
        if not word or word.group(1) in _NOT_NOUNS:
            continue
        # "5 working days", "2 open questions": the noun after a modifier.
        w = word.group(2) if word.group(1) in _MODIFIERS and word.group(2) else word.group(1)
        plural_looking = (w.endswith("s") and not w.endswith("ss") and w not in _SINGULAR_S) or w in _INVARIANT
        if (n == 1) == plural_looking and w not in {"staff", "feedback"}:
            slips.append(f"«{n} {w}»")
    return slips


@pytest.mark.parametrize(("key", "template", "form"), _templates("en"), ids=_ids(_templates("en")))
def test_every_english_text_has_its_plural(key: str, template: str, form: str | None) -> None:
    problems: set[str] = set()
    counts = [n for n in COUNTS if form is None or plural_form("en", n) == form]
    for n in counts:
        text = _render(template, "en", "unknown", n)
        problems.update(_english_slips(text, n))
        problems.update(_leftovers(_plain(text)))
    assert not problems, f"{key}: {sorted(problems)}"
