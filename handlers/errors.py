"""The Dispatcher's last line of defence: whatever a handler raised, the user gets a short apology
(a pressed button stops spinning), the log gets where it happened, and the bot keeps polling.

The log names the exception type and the frames (file, line, function) but never the exception's
message or the update's content: messages can carry what a user typed, a roster name or an
invitation code, and none of that belongs in a log file.
"""

from __future__ import annotations

import logging
import traceback

from aiogram import Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, User

from bot.i18n import Catalog, pick_lang
from bot.tg.policy import public

log = logging.getLogger(__name__)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames))


@public
async def on_error(event: ErrorEvent, catalog: Catalog, event_from_user: User | None = None) -> bool:
    update = event.update
    log.error("update %s failed: %s at %s", update.update_id, type(event.exception).__name__, _where(event.exception))
    t = catalog.bind(pick_lang(event_from_user.language_code if event_from_user else None))
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(t("fallback.error"), show_alert=True)
        elif update.message is not None:
            await update.message.answer(t("fallback.error"))
    except TelegramAPIError as exc:  # e.g. the query is already answered or too old: nothing more to do
        log.warning("apology for update %s not delivered: %s", update.update_id, type(exc).__name__)
    return True  # handled: the update is done, polling goes on


def install_error_handler(dp: Dispatcher) -> None:
    dp.errors.register(on_error)
