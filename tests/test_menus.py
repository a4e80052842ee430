"""Menus people find: the class teacher's own buttons, /help by role, no two buttons alike."""

from __future__ import annotations

from itertools import combinations

import pytest
from aiogram.methods import SendDocument, SendMessage

from bot.domain.access import ALL_ROLES
from bot.domain.people import Account, Person
from bot.i18n import LANGUAGES, Catalog
from bot.tg.menu import MENU, main_keyboard
from tests.codes_helpers import load_school
from tests.consent_helpers import buttons, consent_menu, last_with_buttons, texts
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_TWO, Harness


def _person(roles: frozenset[str]) -> Person:
    return Person(id=1, roster_key="k", full_name="Иванова Анна Петровна", class_label="5А", phone=None,
                  lang="ru", active=True, roles=roles, accounts=(Account(1, "telegram", 1),))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_two_menu_buttons_share_a_label(lang: str) -> None:
    catalog = Catalog.load()
    t = catalog.bind(lang)
    labels = [t(f"menu.{e.id}") for e in MENU]
    assert len(labels) == len(set(labels)), labels
    # Whatever roles a person holds together, their keyboard has no two equal buttons.
    for n in (1, 2, 3):
        for roles in combinations(ALL_ROLES, n):
            shown = [b.text for row in main_keyboard(_person(frozenset(roles)), t).keyboard for b in row]
            assert len(shown) == len(set(shown)), (roles, shown)


def _keyboard(calls: list[object]) -> list[str]:
    for call in calls:
        markup = getattr(call, "reply_markup", None)
        if markup is not None and hasattr(markup, "keyboard"):
            return [b.text for row in markup.keyboard for b in row]
    return []


async def test_class_teacher_finds_class_consents_and_the_code_sheet(harness: Harness) -> None:
    await load_school(harness.app)
    calls = await harness.contact(CLASS_TEACHER, "+79000000003", CLASS_TEACHER)
    keyboard = _keyboard(calls)
    assert "✅ Согласия класса" in keyboard and "🖨 Лист кодов" in keyboard
    view = await harness.text(CLASS_TEACHER, "✅ Согласия класса")
    assert "Класс 5А" in texts(view)[0]
    labels = [b for row in last_with_buttons(view).reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
    assert len({b.text for b in labels}) == len(labels)
    sheet = await harness.text(CLASS_TEACHER, "🖨 Лист кодов")
    # "Preparing" at once, then the sheet (or why there is none).
    assert isinstance(sheet[0], SendMessage) and sheet[0].text == "Готовлю файл…"
    assert any(isinstance(c, SendDocument) for c in sheet) or "печатать нечего" in " ".join(texts(sheet))


async def test_parent_consent_buttons_are_all_different(harness: Harness) -> None:
    await load_school(harness.app)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    keys = await consent_menu(harness, PARENT_TWO)
    view = last_with_buttons(await harness.text(PARENT_TWO, "/consent"))
    labels = [b.text for row in view.reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
    assert len(labels) == len(set(labels)) and keys


async def test_help_lists_what_the_persons_roles_can_do(harness: Harness) -> None:
    await load_school(harness.app)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await harness.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    parent = texts(await harness.text(PARENT_TWO, "/help"))[0]
    assert "Вам доступно:" in parent and "📝 Согласие — Согласие на обработку персональных данных (/consent)" in parent
    assert "📊 Статус" not in parent and "⚙️ Администрирование" not in parent
    officer = texts(await harness.text(IT_OFFICER, "/help"))[0]
    assert "⚙️ Администрирование" in officer and "/broadcast" in officer and "📝 Согласие" not in officer
    assert buttons  # the helpers stay imported for the consent checks above


async def test_the_it_officers_menu_holds_the_everyday_work(harness: Harness) -> None:
    await load_school(harness.app)
    keyboard = _keyboard(await harness.contact(IT_OFFICER, "+79000000001", IT_OFFICER))
    for label in ("📊 Статус", "📑 Отчёт", "📣 Рассылка", "📨 Открытые вопросы", "💾 Резервные копии",
                  "⚙️ Администрирование"):
        assert label in keyboard, keyboard
    # Each of them answers from the keyboard, as its command does.
    assert "вопрос" in " ".join(texts(await harness.text(IT_OFFICER, "📨 Открытые вопросы"))).lower()
    assert "Копии базы бота" in " ".join(texts(await harness.text(IT_OFFICER, "💾 Резервные копии")))
    assert "Кому отправить" in " ".join(texts(await harness.text(IT_OFFICER, "📣 Рассылка")))
