"""Linking a messenger account to a roster person: by their own phone contact or a one-time token."""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.channels import Channel
from bot.domain.access import ADMIN_ROLE
from bot.domain.people import Person
from bot.reach import Reach
from bot.services.people_text import normalize_phone
from bot.services.repos import LinkTokens, MessengerAccounts, Messengers, People
from bot.unit_of_work import Transaction

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.clock import Clock
    from bot.config import Settings
    from bot.services.ports import PersonLinkedListener
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

LINK_TOKEN_TTL = timedelta(days=14)
ADMIN_TOKEN_TTL = timedelta(days=1)
# Roster key of an IT officer record made from a Telegram display name, not from the roster.
BOOTSTRAP_PREFIX = "admin:"


class LinkOutcome(enum.Enum):
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"
    NOT_OWN_CONTACT = "not_own_contact"
    UNKNOWN = "unknown"          # also used for "known phone, but cannot be linked": nothing leaks
    BAD_TOKEN = "bad_token"  # noqa: S105 - an outcome name, not a secret; unknown, expired or spent: one answer for all three
    # An ADMIN_IDS or admin-token user whose roster row may already exist: they pick it (or share
    # their contact) instead of the bot making a second person from their Telegram display name.
    CHOOSE_ADMIN = "choose_admin"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class TelegramUser:
    """The messenger account acting; ``id`` is a Telegram id or, with ``channel`` MAX, a MAX id."""

    id: int
    full_name: str
    username: str | None
    channel: Channel = Channel.TELEGRAM

    @property
    def on_telegram(self) -> bool:
        return self.channel is Channel.TELEGRAM


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    person: Person | None = None
    candidates: tuple[Person, ...] = ()


def _is_bootstrap(person: Person) -> bool:
    return person.roster_key.startswith(BOOTSTRAP_PREFIX)


async def _create_bootstrap(people: People, conn: Transaction, user: TelegramUser, now: datetime) -> int:
    # Telegram's keys stay as they were (admin:<id>); a MAX id names its messenger, as the two id
    # spaces overlap.
    key = f"{BOOTSTRAP_PREFIX}{user.id}" if user.on_telegram else f"{BOOTSTRAP_PREFIX}{user.channel.value}:{user.id}"
    existing = await people.id_by_key(conn, key)
    if existing is not None:
        await people.reactivate(conn, existing, now)
        return existing
    return await people.create(conn, roster_key=key, full_name=user.full_name, roles=[ADMIN_ROLE], now=now)


class MergeRefused(Exception):
    """The two records cannot be merged; the message is a catalog key."""


@dataclass(kw_only=True, eq=False)
class OnboardingService:
    """Linking a messenger account to a roster person (contact, deep link), admin claim, merges."""

    accounts: MessengerAccounts
    clock: Clock
    db: UnitOfWork
    link_listeners: Sequence[PersonLinkedListener]
    link_tokens: LinkTokens
    messengers: Messengers
    people: People
    settings: Settings


    async def _current(self, user: TelegramUser) -> Person | None:
        return await self.people.by_account(user.channel, user.id)

    def is_admin_id(self, user: TelegramUser) -> bool:
        # ADMIN_IDS names accounts with their messenger: a MAX account with the number of a Telegram
        # id in it is someone else.
        return self.settings.is_admin(user.channel, user.id)

    async def _link(self, person_id: int, user: TelegramUser, *, admin: bool = False) -> Person:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self.accounts.link(conn, person_id, user.channel, user.id, user.username, now)
            if admin:
                await self.people.add_role(conn, person_id, ADMIN_ROLE)
            person = await self.people.on(conn).get(person_id)
            assert person is not None
            for hook in self.link_listeners:
                await hook(conn, person, now)
        log.info("person %s linked to a %s account", person_id, user.channel.value)
        return person

    async def link_by_contact(self, user: TelegramUser, contact_user_id: int | None, phone: str) -> LinkResult:
        # A contact is the sender's own only when the messenger says it belongs to the sender.
        if contact_user_id != user.id:
            return LinkResult(LinkOutcome.NOT_OWN_CONTACT)
        current = await self._current(user)
        normalized = normalize_phone(phone)
        if current is not None and not _is_bootstrap(current):
            return LinkResult(LinkOutcome.ALREADY_LINKED, current)
        if normalized is None:
            return LinkResult(LinkOutcome.ALREADY_LINKED, current) if current else LinkResult(LinkOutcome.UNKNOWN)
        candidates = [
            p for p in await self.people.by_phone(normalized)
            if p.user_id(user.channel) in (None, user.id) and not _is_bootstrap(p)
        ]
        if len(candidates) != 1:
            # Unknown phone, a phone shared by two roster people, or a person already linked to another
            # account: the same answer, so that nobody can probe the roster.
            return LinkResult(LinkOutcome.ALREADY_LINKED, current) if current else LinkResult(LinkOutcome.UNKNOWN)
        if current is not None:
            # An IT officer bootstrapped from their display name found their roster row: one person.
            merged = await self.merge_people(duplicate_id=current.id, into_id=candidates[0].id)
            return LinkResult(LinkOutcome.LINKED, merged)
        admin = self.is_admin_id(user)
        return LinkResult(LinkOutcome.LINKED, await self._link(candidates[0].id, user, admin=admin))

    async def link_by_token(self, user: TelegramUser, token: str) -> LinkResult:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            found = await self.link_tokens.get(conn, token)
            if found is None or found.used or found.expires_at <= now:
                return LinkResult(LinkOutcome.BAD_TOKEN)
            account_id = await self.accounts.ensure(conn, user.channel, user.id, now)
            if not await self.link_tokens.use(conn, token, account_id, now):
                return LinkResult(LinkOutcome.BAD_TOKEN)
            if found.purpose == "admin":
                current = await self.people.on(conn).by_account(user.channel, user.id)
                if current is not None:
                    await self.people.add_role(conn, current.id, ADMIN_ROLE)
                    person_id = current.id
                else:
                    # The spent token (used_by_account) is this account's right to choose its roster row.
                    candidates = await self.people.on(conn).unclaimed_it_officers()
                    if candidates:
                        return LinkResult(LinkOutcome.CHOOSE_ADMIN, candidates=tuple(candidates))
                    person_id = await _create_bootstrap(self.people, conn, user, now)
            else:
                assert found.person_id is not None
                person_id = found.person_id
        return LinkResult(LinkOutcome.LINKED, await self._link(person_id, user))

    async def bootstrap_admin(self, user: TelegramUser) -> LinkResult | None:
        """An ADMIN_IDS user on /start: None for everyone else. Linked already: their person, with the
        IT officer role. Not linked: the roster's unclaimed IT officers to choose from, or, before any
        roster exists, a person made from the Telegram display name (merged later, see merge_people)."""
        if not self.is_admin_id(user):
            return None
        current = await self.people.by_account(user.channel, user.id)
        if current is not None:
            if not current.is_admin:
                async with self.db.transaction() as conn:
                    await self.people.add_role(conn, current.id, ADMIN_ROLE)
                current = await self.people.get(current.id)
            return LinkResult(LinkOutcome.ALREADY_LINKED, current)
        candidates = await self.people.unclaimed_it_officers()
        if candidates:
            return LinkResult(LinkOutcome.CHOOSE_ADMIN, candidates=tuple(candidates))
        return await self.claim_admin(user, None)

    async def claim_admin(self, user: TelegramUser, person_id: int | None) -> LinkResult:
        """An administrator says who they are: a roster IT officer (person_id) or "not in the list"
        (None: a person made from the display name). Allowed to ADMIN_IDS users and to whoever spent
        an admin token within its lifetime; anyone else is refused."""
        # Any messenger: the grant is an account's (ADMIN_IDS names it with its messenger, an admin
        # token is spent by one account), so a MAX-only school's first IT officer claims in MAX.
        now = self.clock.now()
        async with self.db.transaction() as conn:
            account_id = await self.accounts.find(conn, user.channel, user.id)
            allowed = self.is_admin_id(user) or (
                account_id is not None
                and await self.link_tokens.admin_grant_for(conn, account_id, now - ADMIN_TOKEN_TTL)
            )
        if not allowed:
            return LinkResult(LinkOutcome.FORBIDDEN)
        current = await self.people.by_account(user.channel, user.id)
        if current is not None:
            return LinkResult(LinkOutcome.ALREADY_LINKED, current)
        if person_id is None:
            async with self.db.transaction() as conn:
                new_id = await _create_bootstrap(self.people, conn, user, now)
            return LinkResult(LinkOutcome.LINKED, await self._link(new_id, user, admin=True))
        if person_id not in {p.id for p in await self.people.unclaimed_it_officers()}:
            return LinkResult(LinkOutcome.FORBIDDEN)
        return LinkResult(LinkOutcome.LINKED, await self._link(person_id, user, admin=True))

    async def merge_people(self, *, duplicate_id: int, into_id: int) -> Person:
        """One person per human: `duplicate_id` (typically an IT officer's display-name record) is
        folded into `into_id` (their roster row). The kept person gets the messenger accounts, the roles
        and every reference; link hooks run as for any new link."""
        duplicate, into = await self.people.get(duplicate_id), await self.people.get(into_id)
        if duplicate is None or into is None or duplicate.id == into.id or not duplicate.active or not into.active:
            raise MergeRefused("admin.merge_bad")
        if any(into.user_id(a.channel) not in (None, a.user_id) for a in duplicate.accounts):
            # Both linked on one messenger with different accounts: which is the human's is unclear.
            raise MergeRefused("admin.merge_both_linked")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            report = await self.people.merge(conn, duplicate_id=duplicate.id, into_id=into.id, now=now)
            person = await self.people.on(conn).get(into.id)
            assert person is not None
            if {a.channel for a in person.accounts} - {a.channel for a in into.accounts}:
                for hook in self.link_listeners:
                    await hook(conn, person, now)
        log.info("person %s merged into %s (%s)", duplicate.id, into.id, ", ".join(report.moved) or "no references")
        return person

    async def merge_suggestions(self) -> list[tuple[Person, Person]]:
        """Pairs (display-name record, roster row) that are probably one IT officer: the roster's
        IT officers, and roster people with exactly the record's name."""
        pairs: list[tuple[Person, Person]] = []
        roster_admins = [p for p in await self.people.with_role(ADMIN_ROLE) if not _is_bootstrap(p)]
        roster = [p for p in await self.people.active() if not _is_bootstrap(p)]
        for dup in await self.people.bootstrap_admins():
            same_name = [p for p in roster if p.full_name == dup.full_name]
            for target in {p.id: p for p in [*same_name, *roster_admins]}.values():
                if all(target.user_id(a.channel) in (None, a.user_id) for a in dup.accounts):
                    pairs.append((dup, target))
        return pairs

    async def reach(self, person_id: int) -> Reach | None:
        """Where a person is reached, and the messenger they chose (#17)."""
        return await self.messengers.reach(person_id)

    async def choose_messenger(self, person_id: int, channel: Channel) -> bool:
        """The messenger the bot's messages go to; False when the person is not linked there."""
        async with self.db.transaction() as conn:
            return await self.messengers.set_preferred(conn, person_id, channel, self.clock.now())

    async def set_language(self, person_id: int, lang: str) -> Person | None:
        async with self.db.transaction() as conn:
            await self.people.set_lang(conn, person_id, lang, self.clock.now())
        return await self.people.get(person_id)

    async def create_token(self, *, purpose: str, person_id: int | None, created_by: int | None) -> str:
        token = secrets.token_urlsafe(18)
        now = self.clock.now()
        ttl = ADMIN_TOKEN_TTL if purpose == "admin" else LINK_TOKEN_TTL
        async with self.db.transaction() as conn:
            await self.link_tokens.create(
                conn, token=token, purpose=purpose, person_id=person_id, created_by=created_by, now=now,
                expires_at=now + ttl,
            )
        return token
