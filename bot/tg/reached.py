"""Which of a school's bots each account writes through (#27 item 3), recorded for the outbox.

In a district one person may talk to a school through the school's own bot, through the district bot,
or both, on the same messenger with the same account; a bot may only write to whoever has written to
it. `ReachedThrough` sits in each of a school's middleware chains (bot/multibot.py `School.build`),
after `PersonContext`, and records on the person's account that the bot of this chain reaches it
(storage/accounts.py `reached_through`), so that the school's outbox sends each person's messages
through a bot that reaches them (bot/reach.py `via`, bot/tg/sender_row.py).

It writes only when something is new: the account has not written through this bot before, or was
marked unreachable (writing to a bot unblocks it). An account linked while an update is handled (a
shared contact, a sign-in link) is recorded by the link itself, in its transaction
(storage/accounts.py `CURRENT_VIA`): the messages the link enqueues (a code card) are routed by it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.channels import Channel
from bot.clock import Clock
from bot.domain.people import Person
from bot.reach import Via
from bot.unit_of_work import UnitOfWork
from storage.accounts import CURRENT_VIA, AccountRepo
from storage.db import CURRENT_UPDATE, StorageError

log = logging.getLogger(__name__)


class ReachedThrough(BaseMiddleware):
    """Records that the bot of this chain (``via``) reaches the account an update comes from."""

    def __init__(self, db: UnitOfWork, clock: Clock, via: Via) -> None:
        self.db = db
        self.clock = clock
        self.via = via

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        channel: Channel | None = data.get("channel")
        person: Person | None = data.get("person")
        # The person's own doing only (a message, a press): a member update may say they blocked the bot.
        written = isinstance(event, Update) and (event.message is not None or event.callback_query is not None)
        if written and channel is not None and person is not None:
            await self._record(person, channel)
        token = CURRENT_VIA.set(self.via)
        try:
            return await handler(event, data)
        finally:
            CURRENT_VIA.reset(token)

    async def _record(self, person: Person, channel: Channel) -> None:
        account = person.account(channel.value)
        if account is None:
            return
        known = account.via_own if self.via is Via.OWN else account.via_district
        if known and account.reachable:
            return
        # Bookkeeping, not the update's effect: it records no processed update (CURRENT_UPDATE), else a
        # worker dying before the handler's own write would have a redelivery dropped as done.
        token = CURRENT_UPDATE.set(None)
        try:
            async with self.db.transaction() as tx:
                await AccountRepo.reached_through(tx, account.id, self.via, self.clock.now())
        except StorageError:
            # The update is answered anyway; the next one records it.
            log.warning("could not record which bot reaches account %s", account.id, exc_info=True)
        finally:
            CURRENT_UPDATE.reset(token)
