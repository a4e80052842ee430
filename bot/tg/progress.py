"""A broadcast author's progress message, edited in place until the broadcast is done."""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.i18n import DEFAULT_LANG, Translator
from bot.services.broadcast import PROGRESS_INTERVAL, render_progress
from bot.services.core import Core
from storage.delivery import DeliveryRepo


async def watch_progress(app: Core, bot: Bot, t: Translator, broadcast_id: int, chat_id: int, message_id: int) -> None:
    """Edit the author's progress message at most every PROGRESS_INTERVAL seconds until done."""
    repo = DeliveryRepo(app.db)
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
            await repo.finish_broadcast(broadcast_id, app.clock.now())
            return


def start_watch(app: Core, bot: Bot, t: Translator, broadcast_id: int, chat_id: int, message_id: int) -> None:
    tasks = app.background_tasks
    task = asyncio.create_task(watch_progress(app, bot, t, broadcast_id, chat_id, message_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def resume_watchers(app: Core, bot: Bot) -> None:
    """After a restart, keep editing the progress messages of broadcasts still under way."""
    for row in await DeliveryRepo(app.db).unfinished_broadcasts():
        t = app.catalog.bind(row["lang"] or DEFAULT_LANG)
        start_watch(app, bot, t, row["id"], row["progress_chat_id"], row["progress_message_id"])


async def stop_watchers(app: Core) -> None:
    tasks = app.background_tasks
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.wait(list(tasks), timeout=1.0)
