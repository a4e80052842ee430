"""A broadcast author's progress message, edited in place until the broadcast is done."""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.clock import Clock
from bot.i18n import DEFAULT_LANG, Catalog, Translator
from bot.services.broadcast import PROGRESS_INTERVAL, render_progress
from bot.unit_of_work import UnitOfWork
from storage.delivery import DeliveryRepo


class ProgressWatchers:
    """The progress messages being edited, as tasks beside the updates (cancelled at shutdown)."""

    def __init__(self, *, db: UnitOfWork, clock: Clock, catalog: Catalog) -> None:
        self.db = db
        self.clock = clock
        self.catalog = catalog
        self.tasks: set[asyncio.Task[None]] = set()

    async def watch(self, bot: Bot, t: Translator, broadcast_id: int, chat_id: int, message_id: int) -> None:
        """Edit the author's progress message at most every PROGRESS_INTERVAL seconds until done."""
        repo = DeliveryRepo(self.db)
        last = ""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            try:
                progress = await repo.progress(broadcast_id)
            except Exception:  # the database closed: the bot is stopping
                return
            text = render_progress(t, progress)
            if text != last:
                with contextlib.suppress(TelegramAPIError):
                    await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id)
                last = text
            if progress.done:
                await repo.finish_broadcast(broadcast_id, self.clock.now())
                return

    def start(self, bot: Bot, t: Translator, broadcast_id: int, chat_id: int, message_id: int) -> None:
        task = asyncio.create_task(self.watch(bot, t, broadcast_id, chat_id, message_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def resume(self, bot: Bot) -> None:
        """After a restart, keep editing the progress messages of broadcasts still under way."""
        for row in await DeliveryRepo(self.db).unfinished_broadcasts():
            t = self.catalog.bind(row.lang or DEFAULT_LANG)
            self.start(bot, t, row.broadcast_id, row.chat_id, row.message_id)

    async def stop(self) -> None:
        tasks = self.tasks
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=1.0)
