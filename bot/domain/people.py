"""A person on the roster, as the rest of the bot sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.access import is_admin, is_staff


@dataclass(frozen=True)
class Account:
    """One messenger account of a person (storage: the accounts table). ``channel`` is a
    bot.channels.Channel value; user ids of different channels are separate spaces and are only
    ever compared together with their channel."""

    id: int
    channel: str
    user_id: int
    username: str | None = None
    unreachable_reason: str | None = None  # set when the messenger refused delivery
    linked_at: datetime | None = None
    # In a district (#27): whether the account has written to the school through the school's own bot
    # on its messenger, and through the district bot; a bot reaches only those who wrote to it
    # (bot/reach.py `via` picks the bot a message goes by).
    via_own: bool = False
    via_district: bool = False

    @property
    def reachable(self) -> bool:
        return self.unreachable_reason is None


@dataclass(frozen=True)
class Person:
    id: int
    roster_key: str
    full_name: str
    class_label: str | None
    phone: str | None
    lang: str | None
    active: bool
    roles: frozenset[str]
    # The person's messenger accounts, at most one per channel, in bot.channels.Channel order.
    accounts: tuple[Account, ...] = ()

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_staff(self) -> bool:
        return is_staff(self.roles)

    @property
    def is_admin(self) -> bool:
        return is_admin(self.roles)

    def account(self, channel: str) -> Account | None:
        """The account on ``channel`` (a Channel value), if linked there."""
        return next((a for a in self.accounts if a.channel == channel), None)

    def user_id(self, channel: str) -> int | None:
        found = self.account(channel)
        return None if found is None else found.user_id

    @property
    def linked(self) -> bool:
        return bool(self.accounts)

    @property
    def reachable(self) -> bool:
        """Reachable on some messenger; the outbox sender picks which (bot.channels)."""
        return any(a.reachable for a in self.accounts)

    @property
    def unreachable_reason(self) -> str | None:
        """Why the first refusing account refused (None when no account has refused)."""
        return next((a.unreachable_reason for a in self.accounts if a.unreachable_reason is not None), None)


def class_sort_key(label: str) -> tuple[int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (int(digits) if digits else 0, label)


@dataclass(frozen=True)
class MergeReport:
    moved: dict[str, int]  # "table.column" -> rows re-pointed
    kept_as_evidence: list[str]  # append-only tables left as they are


@dataclass(frozen=True)
class RosterRecord:
    """One person as a roster import wants them to be."""

    roster_key: str
    full_name: str
    class_label: str | None
    phone: str | None
    roles: frozenset[str]
    children: frozenset[str]  # roster keys of the pupils a parent represents
