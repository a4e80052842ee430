"""A person on the roster, as the rest of the bot sees them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.access import is_admin, is_staff


@dataclass(frozen=True)
class Person:
    id: int
    roster_key: str
    full_name: str
    class_label: str | None
    phone: str | None
    tg_user_id: int | None
    tg_username: str | None
    lang: str | None
    active: bool
    unreachable_reason: str | None
    roles: frozenset[str]
    # MAX (issue #17): a separate id space from Telegram's, in its own field, never compared with it.
    max_user_id: int | None = None
    max_unreachable: bool = False

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_staff(self) -> bool:
        return is_staff(self.roles)

    @property
    def is_admin(self) -> bool:
        return is_admin(self.roles)

    @property
    def tg_reachable(self) -> bool:
        return self.tg_user_id is not None and self.unreachable_reason is None

    @property
    def max_reachable(self) -> bool:
        return self.max_user_id is not None and not self.max_unreachable

    @property
    def reachable(self) -> bool:
        """Reachable on Telegram or MAX; the outbox sender picks the channel (bot.channels)."""
        return self.tg_reachable or self.max_reachable


def class_sort_key(label: str) -> tuple[int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (int(digits) if digits else 0, label)
