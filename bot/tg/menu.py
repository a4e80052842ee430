"""The main menu and the command list, per role.

A menu entry is shown to a person holding any of its roles (None: everyone linked). The same
entry defines the slash command, so the reply keyboard and set_my_commands never disagree.
Each capability's router handles `Command(<command>) | MenuButton(<id>)`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from aiogram.types import BotCommand, KeyboardButton, ReplyKeyboardMarkup

from bot.domain.access import (
    ADMIN_ROLES,
    CLASS_TEACHER_ROLES,
    MANAGER_ROLES,
    PARENT_ROLES,
    STAFF_ROLES,
    STATUS_VIEWERS,
    holds_any,
)
from bot.domain.people import Person
from bot.i18n import LANGUAGES, Catalog, Translator


@dataclass(frozen=True)
class MenuEntry:
    id: str
    roles: frozenset[str] | None
    in_keyboard: bool = True


MENU: tuple[MenuEntry, ...] = (
    MenuEntry("tasks", STAFF_ROLES),
    MenuEntry("consent", PARENT_ROLES),
    # A class teacher's own class: its consents (paper forms, originals, reminder) and its code sheet.
    MenuEntry("class_consent", CLASS_TEACHER_ROLES),
    MenuEntry("codes", None),
    MenuEntry("class_codes", CLASS_TEACHER_ROLES),
    MenuEntry("faq", None),
    MenuEntry("ask", None),
    MenuEntry("surveys", None),  # answer the surveys one is asked; authors also manage them (issue #26)
    # The managers' everyday work on the keyboard, not only as commands: status, report, broadcast;
    # the IT officer's also the questions waiting for an answer and the bot's backups.
    MenuEntry("status", STATUS_VIEWERS),
    MenuEntry("report", MANAGER_ROLES),
    MenuEntry("broadcast", MANAGER_ROLES),
    MenuEntry("questions", ADMIN_ROLES),
    MenuEntry("backup", ADMIN_ROLES),
    MenuEntry("admin", ADMIN_ROLES),
    # A person's own data (152-FZ art. 14): the parents', who are the consent's subjects (staff use the CLI).
    MenuEntry("my_data", PARENT_ROLES),
    MenuEntry("language", None),
)


def visible_entries(person: Person) -> list[MenuEntry]:
    return [e for e in MENU if holds_any(person.roles, e.roles)]


def main_keyboard(person: Person, t: Translator) -> ReplyKeyboardMarkup:
    labels = [t(f"menu.{e.id}") for e in visible_entries(person) if e.in_keyboard]
    rows = [[KeyboardButton(text=label) for label in labels[i : i + 2]] for i in range(0, len(labels), 2)]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def commands_for(person: Person | None, t: Translator) -> list[BotCommand]:
    if person is None:
        return [
            BotCommand(command="start", description=t("commands.start")),
            BotCommand(command="language", description=t("commands.language")),
        ]
    cmds = [BotCommand(command="menu", description=t("commands.menu"))]
    cmds += [BotCommand(command=e.id, description=t(f"commands.{e.id}")) for e in visible_entries(person)]
    cmds.append(BotCommand(command="help", description=t("commands.help")))
    return cmds


# Button label (any language) -> entry, per catalog: the menu filters ask on every message.
_LABELS: weakref.WeakKeyDictionary[Catalog, dict[str, MenuEntry]] = weakref.WeakKeyDictionary()


def menu_entry_of(text: str, catalog: Catalog) -> MenuEntry | None:
    """The main-menu entry whose button label (in any language) is `text`."""
    labels = _LABELS.get(catalog)
    if labels is None:
        labels = {catalog.text(lang, f"menu.{e.id}"): e for e in MENU for lang in LANGUAGES}
        _LABELS[catalog] = labels
    return labels.get(text)
