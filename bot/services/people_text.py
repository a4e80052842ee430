"""Normalising what people type: names, phones, classes, role names."""

from __future__ import annotations

import re

from bot.domain.access import ALL_ROLES
from bot.domain.people import Person
from bot.services.repos import People

_LATIN_TO_CYRILLIC = str.maketrans("ABEKMHOPCTXYaekmhopctxy", "АВЕКМНОРСТХУАЕКМНОРСТХУ")
CLASS_RE = re.compile(r"^(1[01]|[1-9])[А-Я]$")

ROLE_NAMES: dict[str, str] = {
    # Russian, as a school writes them (lower case, ё as е, dots and spaces collapsed).
    "директор": "director",
    "директор оу": "director",
    "заместитель директора по увр": "deputy_academic",
    "зам по увр": "deputy_academic",
    "зам директора по увр": "deputy_academic",
    "завуч": "deputy_academic",
    "ответственный по информатизации": "it_officer",
    "отв по информатизации": "it_officer",
    "зам по информатизации": "it_officer",
    "информатизация": "it_officer",
    "руководитель шмо": "methodology_head",
    "рук шмо": "methodology_head",
    "руководитель мо": "methodology_head",
    "администратор сайта": "site_admin",
    "ответственный за сайт": "site_admin",
    "отв за сайт": "site_admin",
    "классный руководитель": "class_teacher",
    "кл руководитель": "class_teacher",
    "кл рук": "class_teacher",
    "учитель": "teacher",
    "учитель-предметник": "teacher",
    "учитель предметник": "teacher",
    "педагог": "teacher",
    "родитель": "parent",
    "законный представитель": "parent",
    "ученик": "student",
    "ученица": "student",
    "обучающийся": "student",
    "учащийся": "student",
    "школьник": "student",
}
ROLE_NAMES.update({role: role for role in ALL_ROLES})
ROLE_NAMES.update({"pupil": "student", "it": "it_officer", "deputy": "deputy_academic"})


def name_key(full_name: str) -> str:
    return " ".join(full_name.replace("ё", "е").replace("Ё", "Е").lower().split())


def clean_name(full_name: str) -> str:
    return " ".join(full_name.split())


def normalize_class(raw: str) -> str | None:
    """'5a', '5 А', '5-а' -> '5А'; None when it is not a class label."""
    text = re.sub(r"[\s\-–—\"«»]", "", raw).translate(_LATIN_TO_CYRILLIC).upper()
    return text if CLASS_RE.match(text) else None


def normalize_phone(raw: str) -> str | None:
    """'+7 (900) 123-45-67', '8 900 1234567', '9001234567' -> '+79001234567'; None if not a Russian mobile/landline."""
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] in "3489":
        return "+7" + digits
    return None


def parse_role(raw: str) -> str | None:
    key = " ".join(raw.replace("ё", "е").lower().replace(".", " ").split())
    return ROLE_NAMES.get(key)


def split_list(raw: str) -> list[str]:
    """Cells that hold several values: separated by ',', ';', '/', '+' or new lines."""
    return [part.strip() for part in re.split(r"[,;/+\n]", raw) if part.strip()]


def person_label(person: Person) -> str:
    """A person as staff pick them from a list: name, and class where there is one."""
    return f"{person.full_name} · {person.class_label}" if person.class_label else person.full_name


async def find_people(people: People, text: str, *, limit: int | None = 10) -> list[Person]:
    """Active people whose full name contains `text` (case and ё/е insensitive)."""
    wanted = name_key(text)
    found = [p for p in await people.active() if wanted in name_key(p.full_name)]
    return found if limit is None else found[:limit]
