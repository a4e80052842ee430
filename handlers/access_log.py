"""The access log for an inspector from the IT officer's /admin menu (#24 item 5): the same XLSX as
`schoolbot export access`. The file names people by record number only (no names, phones or texts),
but a record number is still a person to the school that holds the roster, and the log says what
each of them opened: a file of personal data, kept off a channel that may not carry one."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.domain.access import ADMIN_ROLES
from bot.i18n import Translator
from bot.services.access_log import AccessLog
from bot.tg.callbacks import AdminAction, AdminActionId
from bot.tg.filters import HasRole
from bot.tg.policy import personal_file

# Every callback of this module is for the IT officer only (tests/test_access.py relies on it).
STAFF_ONLY = True
ACTION = AdminActionId.ACCESS


@personal_file
async def access_log_file(query: CallbackQuery, t: Translator, *, access_log: AccessLog) -> None:
    await query.answer(t("access.export.preparing"))
    if not isinstance(query.message, Message):
        return
    data, name, _ = await access_log.export(t)
    await query.message.answer_document(BufferedInputFile(data, filename=name), caption=t("access.export.title"))


def build_router() -> Router:
    router = Router(name="access_log")
    router.callback_query.register(access_log_file, AdminAction.filter(F.action == ACTION), HasRole(*ADMIN_ROLES))
    return router
