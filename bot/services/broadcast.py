"""Broadcasts: one message to an audience, one outbox row per reachable recipient.

Audiences are strings so that the bot, the CLI and the database speak the same language:
`parents`, `parents:<class>`, `staff`, `role:<role>`, `all`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.access import ALL_ROLES, STAFF_ROLES
from bot.domain.broadcast import Progress
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.repos import OutboxRecords, People

if TYPE_CHECKING:

    from bot.clock import Clock
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

BROADCAST_PRIORITY = 8  # after reminders and codes (5): a bulk message never delays them
PROGRESS_INTERVAL = 3.0  # seconds between edits of the progress message (real time)
# A broadcast is meant to be one message on either wire (Telegram 4096 seen, MAX 4000 as sent): room
# is left for the header. (A longer one would still arrive whole, cut into parts by the wire.)
MAX_TEXT = 3800


class AudienceError(ValueError):
    pass


@dataclass(frozen=True)
class Audience:
    kind: str  # parents | class | staff | role | all
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Audience:
        kind, _, value = text.strip().partition(":")
        kind = kind.lower()
        if kind == "parents" and value:
            return cls("class", value)
        if kind in ("parents", "staff", "all") and not value:
            return cls(kind)
        if kind == "role" and value in ALL_ROLES:
            return cls("role", value)
        raise AudienceError(
            f"unknown audience {text!r}; use parents, parents:<class>, staff, role:<role>, all "
            f"(roles: {', '.join(ALL_ROLES)})"
        )

    def __str__(self) -> str:
        if self.kind == "class":
            return f"parents:{self.value}"
        if self.kind == "role":
            return f"role:{self.value}"
        return self.kind

    def describe(self, t: Translator) -> str:
        if self.kind == "class":
            return t("broadcast.audience_class", label=self.value or "")
        if self.kind == "role":
            return t("broadcast.audience_role", role=t(f"roles.{self.value}"))
        return t(f"broadcast.audience.{self.kind}")


@dataclass(frozen=True)
class Preview:
    total: int
    reachable: int


def render_progress(t: Translator, progress: Progress) -> str:
    key = "broadcast.done" if progress.done else "broadcast.progress"
    return t(key, sent=progress.sent, failed=progress.failed, left=progress.left, total=progress.total)


@dataclass(kw_only=True, eq=False)
class BroadcastService:
    """Announcements to an audience, enqueued in one transaction, with progress."""

    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    outbox_repo: OutboxRecords
    people: People


    async def resolve(self, audience: Audience) -> list[Person]:
        """Active people in the audience (reachable or not), each once."""
        people = self.people
        if audience.kind == "parents":
            found = await people.with_role("parent")
        elif audience.kind == "class":
            found = await people.parents_of_class(audience.value or "")
        elif audience.kind == "role":
            found = await people.with_role(audience.value or "")
        elif audience.kind == "staff":
            found = [p for p in await people.active() if p.roles & STAFF_ROLES]
        else:
            found = await people.active()
        unique = {p.id: p for p in found}
        return list(unique.values())

    async def remember_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        """The author's progress message, edited until the broadcast is done (also after a restart)."""
        await self.outbox_repo.set_progress_message(broadcast_id, chat_id, message_id)

    async def dead_letters(self) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """The outbox's counts by status, and the commonest reasons messages died."""
        repo = self.outbox_repo
        return await repo.counts(), await repo.dead_by_error()

    async def requeue_dead(self) -> int:
        """Every dead message back in the queue; the sender woken."""
        count = await self.outbox_repo.requeue_dead(self.clock.now())
        self.outbox.wake()
        return count

    async def preview(self, audience: Audience) -> Preview:
        people = await self.resolve(audience)
        return Preview(total=len(people), reachable=sum(1 for p in people if p.reachable))

    async def create(
        self, *, audience: Audience, html_text: str, author: Person | None, data_class: DataClass = DataClass.PERSONAL,
    ) -> tuple[int, int]:
        """Enqueue the broadcast in one transaction: the broadcast row and one outbox row per reachable
        recipient (dedupe key bc:<broadcast>:<person>). Returns (broadcast id, rows enqueued).

        A broadcast's text is the author's: personal data unless the author marked it as carrying
        none (``data_class`` public), since nothing else can tell."""
        people = await self.resolve(audience)
        reachable = [p for p in people if p.reachable]
        now = self.clock.now()
        async with self.db.transaction() as conn:
            broadcast_id = await self.outbox_repo.create_broadcast(
                conn, created_by=author.id if author else None, audience=str(audience), text=html_text,
                total=len(people), reachable=len(reachable), now=now,
            )
            for person in reachable:
                header = self.catalog.translator_for(person)("broadcast.header")
                await self.outbox.notify(
                    conn, person, data_class=data_class,
                    key=f"bc:{broadcast_id}:{person.id}",
                    kind="text",
                    payload=Payload(text=f"{header}\n\n{html_text}"),
                    now=now,
                    priority=BROADCAST_PRIORITY,
                    broadcast_id=broadcast_id,
                )
        log.info("broadcast %s to %s: %d of %d reachable", broadcast_id, audience, len(reachable), len(people))
        self.outbox.wake()
        return broadcast_id, len(reachable)
