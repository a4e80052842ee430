"""«🗂 Мои данные» (152-FZ art. 14, #24 item 4): a parent gets, as a document, what the bot holds about
them and their children. The file is personal data: on a channel the school's policy does not let
carry it, the parent gets the pointer instead, and nothing is built or logged."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from bot.channels import Channel, DataClass
from bot.domain.access import PARENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.subject_report import SubjectReport
from bot.tg.filters import HasRole, MenuButton
from bot.tg.policy import AnswerPolicy


async def my_data(
    message: Message, person: Person, t: Translator, channel: Channel = Channel.TELEGRAM, *, policy: AnswerPolicy,
    subject_report: SubjectReport,
) -> None:
    if not await policy.may_send(message, t, channel, DataClass.PERSONAL_FILE):
        return
    data, name, due = await subject_report.build(person, t)
    await message.answer_document(
        BufferedInputFile(data, filename=name), caption=t("subject.caption", due=due.strftime("%d.%m.%Y")),
        protect_content=True,
    )


def build_router() -> Router:
    router = Router(name="my_data")
    router.message.register(my_data, Command("my_data"), HasRole(*PARENT_ROLES))
    router.message.register(my_data, MenuButton("my_data"), HasRole(*PARENT_ROLES))
    return router
