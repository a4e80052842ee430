"""The one outbox helper: a message for a person, enqueued in the caller's write transaction (with
the state change that causes it), and the sender woken once that transaction commits; and the
answer a press is owed for an effect, queued the same way (`answer`, the rule in storage/outbox.py's
docstring: what must reach the user because an effect committed is committed with it)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.channels import Channel, DataClass
from bot.domain.messages import Answer, Kind, Payload
from bot.domain.people import Person
from bot.services.repos import OutboxQueue
from bot.unit_of_work import Transaction

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.clock import Clock
    from bot.unit_of_work import UnitOfWork


class Outbox:
    """Enqueues for a person in the caller's transaction; the sender is woken after it commits."""

    def __init__(
        self, *, clock: Clock, db: UnitOfWork, queue: OutboxQueue, wake_sender: Callable[[], None]
    ) -> None:
        self.db = db
        self.queue = queue
        self.wake_sender = wake_sender
        self.clock = clock

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

    async def answer(
        self,
        conn: Transaction,
        person: Person,
        *,
        key: str,
        payload: Payload,
        now: datetime,
        kind: Kind = "text",
        data_class: DataClass = DataClass.PERSONAL,
    ) -> Answer | None:
        """The answer the press being handled is owed for the effect this transaction records (a
        decision's receipt, the code card asked for), queued with it: the handler gives it after the
        commit and calls `answered`; if the handler cannot (it fails, is cancelled, its worker dies),
        the outbox's sender gives it. Call inside `UnitOfWork.transaction()`. None: ``key`` is queued
        already (the answer is owed to another press)."""
        added = await self.queue.enqueue_answer(
            conn, dedupe_key=key, person_id=person.id, kind=kind, payload=payload, now=now, data_class=data_class,
        )
        # Outside an update (nobody holds it) the row is the senders' at once.
        self.db.after_commit(self.wake_sender)
        return Answer(key=key, kind=kind, payload=payload) if added else None

    async def answered(self, answer: Answer, *, message_id: int, channel: Channel, user_id: int) -> bool:
        """The handler gave ``answer`` itself, as message ``message_id`` to the account that pressed."""
        async with self.db.transaction() as conn:
            return await self.queue.answered(
                conn, answer.key, message_id=message_id, channel=channel, user_id=user_id, now=self.clock.now(),
            )
