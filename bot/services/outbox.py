"""The one outbox helper: a message for a person, enqueued in the caller's write transaction (with
the state change that causes it), and the sender woken once that transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.messages import Kind, Payload
from bot.domain.people import Person
from bot.services.repos import OutboxQueue
from bot.unit_of_work import Transaction

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.unit_of_work import UnitOfWork


class Outbox:
    """Enqueues for a person in the caller's transaction; the sender is woken after it commits."""

    def __init__(self, *, db: UnitOfWork, queue: OutboxQueue, wake_sender: Callable[[], None]) -> None:
        self.db = db
        self.queue = queue
        self.wake_sender = wake_sender

    def wake(self) -> None:
        """Wake the sender now (after a write that queued rows without `notify`)."""
        self.wake_sender()

    async def notify(
        self,
        conn: Transaction,
        person: Person,
        *,
        key: str,
        payload: Payload,
        now: datetime,
        kind: Kind = "text",
        not_before: datetime | None = None,
        priority: int = 5,
        broadcast_id: int | None = None,
        data_class: DataClass = DataClass.PERSONAL,
    ) -> bool:
        """Enqueue `payload` for `person` under the dedupe `key`; True when it was new. Call inside
        `UnitOfWork.transaction()`. A person without a messenger account gets nothing (False).

        The row addresses the person; ``data_class`` says what the message carries. The sender picks
        the account at send time, by the person's messengers and the channel policy (bot/channels.py).
        Unlabelled: personal data."""
        if not person.linked:
            return False
        added = await self.queue.enqueue(
            conn, dedupe_key=key, person_id=person.id, kind=kind, payload=payload,
            now=now, not_before=not_before, priority=priority, broadcast_id=broadcast_id, data_class=data_class,
        )
        self.db.after_commit(self.wake_sender)
        return added
