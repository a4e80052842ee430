"""Outbox sender (minimal version; the delivery engine replaces it with paced, retrying sends)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from storage.outbox import Payload
from storage.timefmt import to_db

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


class OutboxSender:
    def __init__(self, app: App, bot: Bot) -> None:
        self.app = app
        self.bot = bot
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.drain_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.app.outbox_wakeup.wait(), timeout=1.0)
            self.app.outbox_wakeup.clear()

    async def drain_once(self) -> int:
        now = self.app.clock.now()
        rows = await self.app.db.fetchall(
            "SELECT id, chat_id, kind, payload FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            " ORDER BY priority, id LIMIT 100",
            (to_db(now),),
        )
        for row in rows:
            payload = Payload.from_json(row["payload"])
            markup = InlineKeyboardMarkup.model_validate(payload.reply_markup) if payload.reply_markup else None
            if row["kind"] == "text":
                msg = await self.bot.send_message(
                    row["chat_id"], payload.text or "", reply_markup=markup, protect_content=payload.protect_content
                )
            else:
                assert payload.renderer is not None
                data, filename = await self.app.renderers[payload.renderer](self.app, payload.args)
                file = BufferedInputFile(data, filename=payload.filename or filename)
                if row["kind"] == "photo":
                    msg = await self.bot.send_photo(
                        row["chat_id"], file, caption=payload.text, reply_markup=markup,
                        protect_content=payload.protect_content,
                    )
                else:
                    msg = await self.bot.send_document(
                        row["chat_id"], file, caption=payload.text, reply_markup=markup,
                        protect_content=payload.protect_content,
                    )
            async with self.app.db.transaction() as conn:
                await conn.execute(
                    "UPDATE outbox SET status = 'sent', tg_message_id = ?, sent_at = ?, attempts = attempts + 1"
                    " WHERE id = ?",
                    (msg.message_id, to_db(self.app.clock.now()), row["id"]),
                )
        return len(rows)
