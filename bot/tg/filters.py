"""Access filters: the one permission check, by role, on the server side."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject

from bot.domain.access import STAFF_ROLES
from bot.domain.people import Person
from bot.i18n import Catalog
from bot.tg.menu import menu_entry_of


class HasRole(Filter):
    """Passes when the caller is a linked roster person holding any of `roles`."""

    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return person is not None and bool(person.roles & self.roles)


class IsLinked(Filter):
    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return person is not None


# The router that holds the staff-only capabilities behind one IsStaff check (bot.app.build_routers).
STAFF_GROUP = "staff"


class IsStaff(HasRole):
    def __init__(self) -> None:
        super().__init__(*STAFF_ROLES)


class MenuButton(Filter):
    """Matches the text of a main-menu button in any language."""

    def __init__(self, button: str) -> None:
        self.button = button

    async def __call__(self, message: Message, catalog: Catalog) -> bool | dict[str, Any]:
        if not message.text:
            return False
        entry = menu_entry_of(message.text, catalog)
        return entry is not None and entry.id == self.button


class HasContent(Filter):
    """`F.text`, `F.contact`, ... as an async filter: aiogram runs magic filters and plain `def`
    callbacks in a worker thread, which costs a thread hop per update on hot paths."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    async def __call__(self, message: Message) -> bool:
        return getattr(message, self.attribute, None) is not None


class PlainText(Filter):
    """A text message that is not a command (`F.text & ~F.text.startswith("/")`, without the hop)."""

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and not message.text.startswith("/")
