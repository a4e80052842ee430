"""Names in the case and gender a sentence needs: the rule, the declension, and a table that
covers every catalog text naming a person (the consent document first, through the Dispatcher)."""

from __future__ import annotations

import string
from typing import Any

import pytest

from bot.i18n import Catalog
from bot.russian import Gender, Named, decline, gender_of
from tests.consent_helpers import buttons, last_with_buttons, sent
from tests.harness import Harness, csv_bytes

MALE, FEMALE, UNKNOWN = "male", "female", "unknown"
# Parents and their children: gender from the patronymic; the third has none.
PARENT = {MALE: "Петров Иван Сергеевич", FEMALE: "Иванова Мария Петровна", UNKNOWN: "Ли Саша"}
CHILD = {MALE: "Петров Миша Иванович", FEMALE: "Иванова Маша Андреевна", UNKNOWN: "Ким Женя"}


@pytest.mark.parametrize(
    ("name", "gender"),
    [
        ("Петров Иван Сергеевич", Gender.MALE),
        ("Иванова Маша Андреевна", Gender.FEMALE),
        ("Кузнецова Анна Ильинична", Gender.FEMALE),
        ("Фомин Пётр Ильич", Gender.MALE),
        ("Алиев Рашид Тофиг оглы", Gender.MALE),
        ("Мамедова Айгуль Рашид кызы", Gender.FEMALE),
        ("Иванова Маша", Gender.UNKNOWN),
        ("Smith John", Gender.UNKNOWN),
        ("Лебедь", Gender.UNKNOWN),
    ],
)
def test_gender_comes_from_the_patronymic_only(name: str, gender: Gender) -> None:
    assert gender_of(name) is gender


@pytest.mark.parametrize(
    ("name", "case", "expected"),
    [
        ("Иванова Маша Андреевна", "gent", "Ивановой Маши Андреевны"),
        ("Иванова Маша Андреевна", "datv", "Ивановой Маше Андреевне"),
        ("Иванова Маша Андреевна", "accs", "Иванову Машу Андреевну"),
        ("Петров Иван Сергеевич", "gent", "Петрова Ивана Сергеевича"),
        ("Петров Иван Сергеевич", "ablt", "Петровым Иваном Сергеевичем"),
        ("Черных Ольга Ивановна", "gent", "Черных Ольги Ивановны"),
        ("Алиев Рашид Тофиг оглы", "gent", "Алиева Рашида Тофиг оглы"),
        # No patronymic: the dictionary's guess declines a known first name...
        ("Иванова Маша", "gent", "Ивановой Маши"),
        # ...and a name it cannot place stays as written rather than be declined wrongly.
        ("Ли Саша", "gent", "Ли Саша"),
        ("Smith John", "gent", "Smith John"),
        ("Иванова Маша Андреевна", "nomn", "Иванова Маша Андреевна"),
    ],
)
def test_names_decline_into_the_case(name: str, case: str, expected: str) -> None:
    assert decline(name, case) == expected


def test_named_escapes_for_html_and_prints_a_blank_line_when_empty() -> None:
    assert f"{Named('О<Брайен Джон', escape=True):gent}" == "О&lt;Брайен Джон"
    assert f"{Named('', blank='_____'):gent}" == "_____"
    assert f"{Named(''):ознакомлен|ознакомлена}" == "ознакомлен(а)"


def _params(key: str, gender: str) -> dict[str, Any]:
    parent, child = Named(PARENT[gender], escape=True), Named(CHILD[gender], escape=True)
    base: dict[str, Any] = {
        "name": parent, "parent": parent, "child": child, "who": parent, "by": parent, "teacher": parent,
        "roles": "—", "link": "L", "links": "L", "label": "L", "number": "1", "text": "T", "deadline": "D", "what": "W",
        "comment": "C", "paper_date": "01.12.2026", "when": "W", "version": 1, "date": "01.12.2026",
        "cls": "5А", "to": "6А", "old": "5А", "new": "6А", "task": "7", "platform": "P", "due": "D",
        "receipt": "R", "day": "D", "act": "A", "codes": "C", "title": "T",
        "intro": "I", "n": 3, "privacy": "P", "anonymous": "A", "author": "A", "id": "1",
        "hours": 9,
    }
    return base


# Every catalog text that names a person with a case or a gendered word, per gender: what must be in it.
TABLE: dict[str, dict[str, list[str]]] = {
    "start.welcome": {
        MALE: ["Здравствуйте, Иван Сергеевич!"], FEMALE: ["Здравствуйте, Мария Петровна!"],
        UNKNOWN: ["Здравствуйте, Саша!"],
    },
    "consent.ack": {MALE: ["«Согласен»"], FEMALE: ["«Согласна»"], UNKNOWN: ["«Согласен(на)»"]},
    "consent.read_first": {MALE: ["«Согласен»"], FEMALE: ["«Согласна»"], UNKNOWN: ["«Согласен(на)»"]},
    "consent.btn.give": {MALE: ["Согласен: Миша"], FEMALE: ["Согласна: Маша"], UNKNOWN: ["Согласен(на): Женя"]},
    "consent.btn.decline": {
        MALE: ["Не согласен: Миша"], FEMALE: ["Не согласна: Маша"], UNKNOWN: ["Не согласен(на): Женя"],
    },
    "consent.btn.form": {MALE: ["подписи: Миша"], FEMALE: ["подписи: Маша"], UNKNOWN: ["подписи: Женя"]},
    "consent.staff.original_recorded": {
        MALE: ["за Петрова Мишу Ивановича"], FEMALE: ["за Иванову Машу Андреевну"], UNKNOWN: ["за Ким Женя"],
    },
    "consent.btn.read": {MALE: ["документ: Миша"], FEMALE: ["документ: Маша"], UNKNOWN: ["документ: Женя"]},
    "consent.btn.withdraw": {MALE: ["согласие: Миша"], FEMALE: ["согласие: Маша"], UNKNOWN: ["согласие: Женя"]},
    "consent.btn.give_all": {MALE: ["Согласен —"], FEMALE: ["Согласна —"], UNKNOWN: ["Согласен(на) —"]},
    "consent.btn.decline_all": {MALE: ["Не согласен —"], FEMALE: ["Не согласна —"], UNKNOWN: ["Не согласен(на) —"]},
    "consent.withdraw_confirm": {
        MALE: ["за ребёнка <b>Петрова Мишу Ивановича</b>"], FEMALE: ["за ребёнка <b>Иванову Машу Андреевну</b>"],
        UNKNOWN: ["за ребёнка <b>Ким Женя</b>"],
    },
    "consent.nudge_1": {
        MALE: ["Здравствуйте, Иван Сергеевич!", "«Согласен» или «Не согласен»"],
        FEMALE: ["Здравствуйте, Мария Петровна!", "«Согласна» или «Не согласна»"],
        UNKNOWN: ["Здравствуйте, Саша!", "«Согласен(на)» или «Не согласен(на)»"],
    },
    "consent.nudge_2": {MALE: ["Иван Сергеевич, напоминаем"], FEMALE: ["Мария Петровна, напоминаем"],
                        UNKNOWN: ["Саша, напоминаем"]},
    "consent.class_reminder": {
        MALE: ["Иван Сергеевич, классный руководитель Иван Сергеевич просит"],
        FEMALE: ["Мария Петровна, классный руководитель Мария Петровна просит"],
        UNKNOWN: ["Саша, классный руководитель Саша просит"],
    },
    "consent.staff.details_paper": {
        MALE: ["внёс Петров Иван Сергеевич"], FEMALE: ["внесла Иванова Мария Петровна"],
        UNKNOWN: ["внёс(ла) Ли Саша"],
    },
    # The acknowledgement of having read 152-FZ: a document of its own, no longer inside the consent.
    "consent.form.ack_body": {
        MALE: ["что ознакомлен с"], FEMALE: ["что ознакомлена с"], UNKNOWN: ["что ознакомлен(а) с"],
    },
    "codes.caption": {MALE: ["«Я активировал»"], FEMALE: ["«Я активировала»"], UNKNOWN: ["«Я активировал(а)»"]},
    "codes.caption_own": {
        MALE: ["код, Иван Сергеевич.", "«Я активировал»"], FEMALE: ["код, Мария Петровна.", "«Я активировала»"],
        UNKNOWN: ["код, Саша.", "«Я активировал(а)»"],
    },
    "codes.btn_activated": {MALE: ["Я активировал"], FEMALE: ["Я активировала"], UNKNOWN: ["Я активировал(а)"]},
    "codes.nudge": {MALE: ["«Я активировал»"], FEMALE: ["«Я активировала»"], UNKNOWN: ["«Я активировал(а)»"]},
    "codes.card_role.student": {MALE: ["Обучающийся"], FEMALE: ["Обучающаяся"], UNKNOWN: ["Обучающийся(аяся)"]},
    "codes.issue_ask": {
        MALE: ["для Петрова Ивана Сергеевича"], FEMALE: ["для Ивановой Марии Петровны"], UNKNOWN: ["для Ли Саша"],
    },
    "admin.link_created": {
        MALE: ["для Петрова Ивана Сергеевича"], FEMALE: ["для Ивановой Марии Петровны"], UNKNOWN: ["для Ли Саша"],
    },
    "tasks.review.new": {
        MALE: ["Петров Иван Сергеевич отметил выполнение"], FEMALE: ["Иванова Мария Петровна отметила выполнение"],
        UNKNOWN: ["Ли Саша отметил(а) выполнение"],
    },
    "tasks.review.accepted": {
        MALE: ["Сергеевич принял выполнение"], FEMALE: ["Петровна приняла выполнение"], UNKNOWN: ["Саша принял(а)"],
    },
    "consent.destroy.remind": {
        MALE: ["запись Петрова Миши Ивановича"], FEMALE: ["запись Ивановой Маши Андреевны"],
        UNKNOWN: ["запись Ким Женя"],
    },
    "consent.destroy.overdue": {
        MALE: ["данных Петрова Миши Ивановича"], FEMALE: ["данных Ивановой Маши Андреевны"],
        UNKNOWN: ["данных Ким Женя"],
    },
    "consent.destroy.parent_opened": {
        MALE: ["за ребёнка Петрова Мишу Ивановича"], FEMALE: ["за ребёнка Иванову Машу Андреевну"],
        UNKNOWN: ["за ребёнка Ким Женя"],
    },
    "consent.destroy.parent_done": {
        MALE: ["ребёнка Петрова Миши Ивановича"], FEMALE: ["ребёнка Ивановой Маши Андреевны"],
        UNKNOWN: ["ребёнка Ким Женя"],
    },
    "help.escalation.line": {
        MALE: ["от Петрова Ивана Сергеевича, ждёт 9 рабочих часов"],
        FEMALE: ["от Ивановой Марии Петровны, ждёт 9 рабочих часов"], UNKNOWN: ["от Ли Саша, ждёт"],
    },
    "surveys.invitation": {
        MALE: ["📋 Иван Сергеевич, просим"], FEMALE: ["📋 Мария Петровна, просим"], UNKNOWN: ["📋 Саша, просим"],
    },
    "imports.moved": {
        MALE: ["Петров Иван Сергеевич: переведён"], FEMALE: ["Иванова Мария Петровна: переведена"],
        UNKNOWN: ["Ли Саша: переведён(а)"],
    },
    "imports.ambiguous_was": {
        MALE: ["Петров Иван Сергеевич, был в"], FEMALE: ["Иванова Мария Петровна, была в"],
        UNKNOWN: ["Ли Саша, был(а) в"],
    },
    "year.change.promoted": {
        MALE: ["Петров Иван Сергеевич: переведён"], FEMALE: ["Иванова Мария Петровна: переведена"],
        UNKNOWN: ["Ли Саша: переведён(а)"],
    },
    "tasks.review.returned": {
        MALE: ["Сергеевич вернул пункт"], FEMALE: ["Петровна вернула пункт"], UNKNOWN: ["Саша вернул(а) пункт"],
    },
}
NAME_SPECS = {"nomn", "gent", "datv", "accs", "ablt", "loct", "fio", "io", "i", "f"}


def _person_keys(catalog: Catalog) -> set[str]:
    """Keys whose Russian text declines a name or picks a gendered word."""
    found = set()
    for key in catalog.keys("ru"):
        raw = catalog._raw("ru", key)
        for template in raw.values() if isinstance(raw, dict) else [raw]:
            for _, field, spec, _ in string.Formatter().parse(template):
                # A "|" spec on a count ({n:строки|строк|строк}) is the number's noun, not a person's word.
                person = field in {"name", "parent", "child", "who", "by", "teacher"}
                if field and spec and person and ("|" in spec or set(spec.split(".")) <= NAME_SPECS):
                    found.add(key)
    return found


def test_the_table_covers_every_text_that_declines_or_genders_a_name() -> None:
    assert _person_keys(Catalog.load()) == set(TABLE)


@pytest.mark.parametrize("gender", [MALE, FEMALE, UNKNOWN])
@pytest.mark.parametrize("key", sorted(TABLE))
def test_every_text_naming_a_person_is_in_their_case_and_gender(key: str, gender: str) -> None:
    catalog = Catalog.load()
    text = catalog.text("ru", key, **_params(key, gender))
    for expected in TABLE[key][gender]:
        assert expected in text, (key, gender, text)
    # "(а)" only when the patronymic does not tell.
    if gender != UNKNOWN:
        assert "(а)" not in text and "(на)" not in text and "(ла)" not in text and "(аяся)" not in text
    # English texts render with the same values (no case or gender machinery leaks).
    assert "|" not in catalog.text("en", key, **_params(key, gender))


# --- the consent document, through the Dispatcher -------------------------------------------------

PHONES = {MALE: "+79000000011", FEMALE: "+79000000012", UNKNOWN: "+79000000013"}
USERS = {MALE: 2011, FEMALE: 2012, UNKNOWN: 2013}
DOCUMENT = {
    MALE: ["Я, Петров Иван Сергеевич,", "обучающегося Петрова Миши Ивановича", "/ Петров И. С. /"],
    FEMALE: ["Я, Иванова Мария Петровна,", "обучающейся Ивановой Маши Андреевны", "/ Иванова М. П. /"],
    UNKNOWN: ["Я, Ли Саша,", "обучающегося (обучающейся) Ким Женя", "/ Ли С. /"],
}


async def _three_families(h: Harness) -> None:
    rows = [["ФИО", "Роль", "Класс", "Телефон", "Дети"]]
    for g in (MALE, FEMALE, UNKNOWN):
        rows.append([CHILD[g], "ученик", "5А", "", ""])
        rows.append([PARENT[g], "родитель", "", PHONES[g], CHILD[g]])
    report = await h.app.services.roster_import.import_roster(csv_bytes(rows), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    for g in (MALE, FEMALE, UNKNOWN):
        await h.contact(USERS[g], PHONES[g], USERS[g])


@pytest.mark.parametrize("gender", [MALE, FEMALE, UNKNOWN])
async def test_consent_document_names_parent_and_child_in_case_and_gender(harness: Harness, gender: str) -> None:
    await _three_families(harness)
    first = CHILD[gender].split()[1]
    keys = buttons(last_with_buttons(await harness.text(USERS[gender], "/consent")))
    calls = await harness.press(USERS[gender], keys[f"📄 Прочитать документ: {first}"])
    document = "\n".join(m.text for m in sent(calls)[:-1])
    for expected in DOCUMENT[gender]:
        assert expected in document, (gender, expected)
    if gender != UNKNOWN:
        assert "(а)" not in document and "(на)" not in document
    menu = buttons(last_with_buttons(calls))
    agree = {MALE: "Согласен", FEMALE: "Согласна", UNKNOWN: "Согласен(на)"}[gender]
    assert f"✅ {agree}: {first}" in menu
