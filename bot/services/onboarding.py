"""Linking a Telegram account to a roster person: by their own phone contact or a one-time token."""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.services.people_text import normalize_phone
from storage.people import Person, PersonRepo
from storage.tokens import TokenRepo

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

LINK_TOKEN_TTL = timedelta(days=14)
ADMIN_TOKEN_TTL = timedelta(days=1)


class LinkOutcome(enum.Enum):
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"
    NOT_OWN_CONTACT = "not_own_contact"
    UNKNOWN = "unknown"          # also used for "known phone, but cannot be linked": nothing leaks
    BAD_TOKEN = "bad_token"  # noqa: S105 - an outcome name, not a secret; unknown, expired or spent: one answer for all three


@dataclass(frozen=True)
class TelegramUser:
    id: int
    full_name: str
    username: str | None


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    person: Person | None = None


async def _link(app: App, person_id: int, user: TelegramUser) -> Person:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        await PersonRepo.link_telegram(conn, person_id, user.id, user.username, now)
        person = await app.people.get(person_id)
        assert person is not None
        for hook in app.link_hooks:
            await hook(app, conn, person, now)
    log.info("person %s linked to a Telegram account", person_id)
    return person


async def link_by_contact(app: App, user: TelegramUser, contact_user_id: int | None, phone: str) -> LinkResult:
    # A contact is the sender's own only when Telegram says it belongs to the sender.
    if contact_user_id != user.id:
        return LinkResult(LinkOutcome.NOT_OWN_CONTACT)
    current = await app.people.by_tg(user.id)
    if current is not None:
        return LinkResult(LinkOutcome.ALREADY_LINKED, current)
    normalized = normalize_phone(phone)
    if normalized is None:
        return LinkResult(LinkOutcome.UNKNOWN)
    candidates = [p for p in await app.people.by_phone(normalized) if p.tg_user_id in (None, user.id)]
    if len(candidates) != 1:
        # Unknown phone, a phone shared by two roster people, or a person already linked to another
        # account: the same answer, so that nobody can probe the roster.
        return LinkResult(LinkOutcome.UNKNOWN)
    return LinkResult(LinkOutcome.LINKED, await _link(app, candidates[0].id, user))


async def link_by_token(app: App, user: TelegramUser, token: str) -> LinkResult:
    now = app.clock.now()
    async with app.db.transaction() as conn:
        found = await TokenRepo.get(conn, token)
        if found is None or found.used or found.expires_at <= now:
            return LinkResult(LinkOutcome.BAD_TOKEN)
        if not await TokenRepo.use(conn, token, user.id, now):
            return LinkResult(LinkOutcome.BAD_TOKEN)
        if found.purpose == "admin":
            current = await app.people.by_tg(user.id)
            if current is not None:
                await PersonRepo.add_role(conn, current.id, "it_officer")
                person_id = current.id
            else:
                person_id = await PersonRepo.create(
                    conn,
                    roster_key=f"admin:{user.id}",
                    full_name=user.full_name,
                    roles=["it_officer"],
                    now=now,
                )
        else:
            assert found.person_id is not None
            person_id = found.person_id
    return LinkResult(LinkOutcome.LINKED, await _link(app, person_id, user))


async def bootstrap_admin(app: App, user: TelegramUser) -> Person | None:
    """An ADMIN_IDS user who is not linked yet becomes an IT officer on /start."""
    if user.id not in app.settings.admin_ids:
        return None
    current = await app.people.by_tg(user.id)
    if current is not None:
        if not current.is_admin:
            async with app.db.transaction() as conn:
                await PersonRepo.add_role(conn, current.id, "it_officer")
            return await app.people.get(current.id)
        return current
    now = app.clock.now()
    async with app.db.transaction() as conn:
        existing = await app.people.by_key(f"admin:{user.id}")
        if existing is None:
            person_id = await PersonRepo.create(
                conn, roster_key=f"admin:{user.id}", full_name=user.full_name, roles=["it_officer"], now=now
            )
        else:
            person_id = existing.id
    return await _link(app, person_id, user)


async def create_token(app: App, *, purpose: str, person_id: int | None, created_by: int | None) -> str:
    token = secrets.token_urlsafe(18)
    now = app.clock.now()
    ttl = ADMIN_TOKEN_TTL if purpose == "admin" else LINK_TOKEN_TTL
    async with app.db.transaction() as conn:
        await TokenRepo.create(
            conn, token=token, purpose=purpose, person_id=person_id, created_by=created_by, now=now,
            expires_at=now + ttl,
        )
    return token


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"
