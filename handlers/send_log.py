"""The send log for an inspector from the IT officer's /admin menu (issue #17, item 5): the same
XLSX as `schoolbot export sends`. The file holds no personal data (time, channel, data class and
outcome only), so it is a public-class file any channel may carry."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.domain.access import ADMIN_ROLES
from bot.i18n import Translator
from bot.services.send_log_export import SendLogExport
from bot.tg.callbacks import AdminAction, AdminActionId
from bot.tg.filters import HasRole
from bot.tg.policy import public

# Every callback of this module is for the IT officer only (tests/test_access.py relies on it).
STAFF_ONLY = True
ACTION = AdminActionId.SENDS


@public
async def send_log_file(query: CallbackQuery, t: Translator, *, send_log_export: SendLogExport) -> None:
    # Building the file takes a moment: say so at once.
    await query.answer(t("channels.export.preparing"))
    if not isinstance(query.message, Message):
        return
    data, name, _ = await send_log_export.export("xlsx", t)
    await query.message.answer_document(BufferedInputFile(data, filename=name), caption=t("channels.export.title"))


def build_router() -> Router:
    router = Router(name="send_log")
    router.callback_query.register(send_log_file, AdminAction.filter(F.action == ACTION), HasRole(*ADMIN_ROLES))
    return router
