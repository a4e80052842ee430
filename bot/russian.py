"""Russian names in the case and gender a sentence needs.

A roster name is "Фамилия Имя Отчество" (the way Russian school lists write it). Gender comes
from the patronymic only (…вич/…ич/…оглы male, …вна/…чна/…кызы female); anything else is unknown,
and gendered words then carry "(а)". Names are declined with pytrovich (the petrovich rules for
surnames, first names and patronymics). When the patronymic gives no gender, the grammatical
gender needed to decline a surname is guessed from the first name or surname with pymorphy3;
that guess never picks a gendered word ("Согласен" / "Согласна"), it only chooses the ending of a
name, and without a guess the name stays as written rather than be declined wrongly.

Catalog templates use the format spec of a `Named` value:
    {child}                 Иванова Маша Андреевна        (as written)
    {child:gent}            Ивановой Маши Андреевны       (full name, case: nomn gent datv accs ablt loct)
    {parent:io}             Мария Петровна                (first name and patronymic: greetings)
    {child:i}               Маша                          (first name)
    {parent:fi}             Иванова М. А.                 (surname and initials, under a signature)
    {parent:io.datv}        Марии Петровне
    {child:обучающегося|обучающейся}             gendered word, unknown -> first form + "(а)"
    {parent:Согласен|Согласна|Согласен(на)}      an explicit third form for unknown
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING

from pytrovich.enums import Case, NamePart
from pytrovich.enums import Gender as PGender
from pytrovich.maker import PetrovichDeclinationMaker

if TYPE_CHECKING:
    import pymorphy3


class Gender(Enum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


CASES: dict[str, Case | None] = {
    "nomn": None,
    "gent": Case.GENITIVE,
    "datv": Case.DATIVE,
    "accs": Case.ACCUSATIVE,
    "ablt": Case.INSTRUMENTAL,
    "loct": Case.PREPOSITIONAL,
}
PARTS = ("fio", "io", "i", "f", "fi")
_MALE_ENDINGS = ("ич", "оглы", "улы", "уулу")
_FEMALE_ENDINGS = ("вна", "чна", "кызы", "гызы", "қызы")
_FEMALE_SURNAME = ("ова", "ева", "ёва", "ина", "ына", "ская", "цкая")
_MALE_SURNAME = ("ов", "ев", "ёв", "ин", "ын", "ский", "цкий")
_CYRILLIC = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюя-")


@dataclass(frozen=True)
class NameParts:
    last: str
    first: str
    middle: str   # patronymic, possibly two words ("Тофиг оглы")


def split_name(full_name: str) -> NameParts:
    words = full_name.split()
    if len(words) >= 3:
        return NameParts(words[0], words[1], " ".join(words[2:]))
    if len(words) == 2:
        return NameParts(words[0], words[1], "")
    return NameParts(full_name.strip(), "", "")


def gender_of(full_name: str) -> Gender:
    """The gender the patronymic gives; unknown without one."""
    middle = split_name(full_name).middle.lower().replace("ё", "е")
    if not middle:
        return Gender.UNKNOWN
    if middle.endswith(_MALE_ENDINGS):
        return Gender.MALE
    if middle.endswith(_FEMALE_ENDINGS):
        return Gender.FEMALE
    return Gender.UNKNOWN


@cache
def _maker() -> PetrovichDeclinationMaker:
    return PetrovichDeclinationMaker()


@cache
def _morph() -> pymorphy3.MorphAnalyzer:
    # About 25 MB of dictionaries: loaded the first time a name without a patronymic is declined,
    # so a school whose roster has patronymics never pays for it; the module itself too, so that a
    # command that declines no name (`schoolbot backup`) never imports it.
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def _guess(word: str, tag: str) -> Gender:
    for parse in _morph().parse(word):
        if tag in parse.tag and parse.score >= 0.3:
            if parse.tag.gender == "masc":
                return Gender.MALE
            if parse.tag.gender == "femn":
                return Gender.FEMALE
    return Gender.UNKNOWN


def grammatical_gender(full_name: str) -> Gender:
    """The gender to decline a name with: the patronymic's, else a dictionary guess."""
    gender = gender_of(full_name)
    if gender is not Gender.UNKNOWN:
        return gender
    parts = split_name(full_name)
    if not _is_cyrillic(parts.last + parts.first):
        return Gender.UNKNOWN
    if parts.first:
        gender = _guess(parts.first, "Name")
    if gender is Gender.UNKNOWN and parts.last:
        # A surname tells only by a clearly gendered ending ("Ким", "Черных", "Петренко" do not).
        last = parts.last.lower()
        if last.endswith(_FEMALE_SURNAME):
            gender = Gender.FEMALE
        elif last.endswith(_MALE_SURNAME):
            gender = Gender.MALE
    return gender


def _is_cyrillic(text: str) -> bool:
    letters = text.lower().replace("ё", "е")
    return bool(letters) and all(ch in _CYRILLIC for ch in letters)


def _decline_word(part: NamePart, gender: Gender, case: Case, word: str) -> str:
    if not word or not _is_cyrillic(word.replace(" ", "")):
        return word
    pg = {Gender.MALE: PGender.MALE, Gender.FEMALE: PGender.FEMALE}[gender]
    if part is NamePart.MIDDLENAME and " " in word:
        # "Тофиг оглы": the father's name and the particle stay as they are.
        return word
    return "-".join(_maker().make(part, pg, case, piece) for piece in word.split("-"))


def decline(full_name: str, case: str = "nomn", parts: str = "fio") -> str:
    """The name (all of it, or first name and patronymic "io", or first name "i", or surname "f")
    in a grammatical case; unchanged when the case is nominative or the gender cannot be told."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}")
    if parts not in PARTS:
        raise ValueError(f"unknown name parts {parts!r}")
    p = split_name(full_name)
    if not p.first:
        return full_name.strip()
    if parts == "fi":
        # Surname and initials, as under a signature: "Иванова М. А."
        initials = " ".join(f"{w[0]}." for w in (p.first, *p.middle.split()[:1]) if w)
        return f"{decline(full_name, case, 'f')} {initials}".strip()
    pick = {"fio": (p.last, p.first, p.middle), "io": ("", p.first, p.middle), "i": ("", p.first, ""),
            "f": (p.last, "", "")}[parts]
    target = CASES[case]
    gender = grammatical_gender(full_name) if target is not None else Gender.UNKNOWN
    if target is None or gender is Gender.UNKNOWN:
        return " ".join(w for w in pick if w)
    last, first, middle = pick
    words = (
        _decline_word(NamePart.LASTNAME, gender, target, last),
        _decline_word(NamePart.FIRSTNAME, gender, target, first),
        _decline_word(NamePart.MIDDLENAME, gender, target, middle),
    )
    return " ".join(w for w in words if w)


def gendered(gender: Gender, forms: str) -> str:
    """"m|f" or "m|f|unknown": the form for the gender; unknown without a third form is the
    masculine form with "(а)" (активировал(а), ознакомлен(а))."""
    pieces = forms.split("|")
    if len(pieces) not in (2, 3):
        raise ValueError(f"gendered forms need 'm|f' or 'm|f|u', got {forms!r}")
    if gender is Gender.MALE:
        return pieces[0]
    if gender is Gender.FEMALE:
        return pieces[1]
    return pieces[2] if len(pieces) == 3 else pieces[0] + "(а)"


# Words that stay capitalised inside a sentence: names, places, organisations, abbreviations.
_PROPER = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad", "Abbr"})


def mid_sentence(text: str) -> str:
    """A phrase written to stand alone ("Ответственный по информатизации: каб. 214") as it reads after
    «или» or a comma: its first word lower-cased unless it is a proper name or an abbreviation."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    word = first.strip("«»\"'(),.:;")
    if len(word) < 2 or not word[0].isupper() or not word[1:].islower() or not _is_cyrillic(word):
        return text
    if any(_PROPER & parse.tag.grammemes for parse in _morph().parse(word)[:2]):
        return text
    at = text.index(word[0])
    return text[:at] + word[0].lower() + text[at + 1 :]


class Named:
    """A person's name as a catalog value: str.format's spec picks the case, parts or a gendered
    word (see the module docstring). `escape` makes every rendering HTML-safe."""

    __slots__ = ("blank", "escape", "full_name", "gender")

    def __init__(self, full_name: str, *, escape: bool = False, blank: str = "") -> None:
        self.full_name = " ".join(full_name.split())
        self.gender = gender_of(self.full_name)
        self.escape = escape
        # What an empty name prints as (a line to fill in by hand on a printed form).
        self.blank = blank

    def __format__(self, spec: str) -> str:
        if "|" in spec:
            return gendered(self.gender, spec)
        parts, case = "fio", "nomn"
        for token in filter(None, spec.split(".")):
            if token in PARTS:
                parts = token
            elif token in CASES:
                case = token
            else:
                raise ValueError(f"unknown name format {spec!r}")
        text = decline(self.full_name, case, parts) if self.full_name else self.blank
        return html.escape(text) if self.escape else text

    def __str__(self) -> str:
        return format(self, "")

    def __repr__(self) -> str:
        return f"Named({self.full_name!r})"


def named_html(full_name: str) -> Named:
    return Named(full_name, escape=True)
