"""«🗂 Мои данные» (152-FZ art. 14, #24 item 4): a parent gets, as a document, what the bot holds about
them and their children. The file is personal data (declared with the flag): on a channel the
school's policy does not let carry it, the send guard puts the pointer in its place. The request is
logged either way: asking is a request under art. 14 whichever messenger it came through, and its
deadline runs; the pointer says where the answer is (the bot in MAX, or paper)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from bot.domain.access import PARENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.subject_report import SubjectReport
from bot.tg.filters import HasRole, MenuButton
from bot.tg.policy import personal_file


@personal_file
async def my_data(message: Message, person: Person, t: Translator, *, subject_report: SubjectReport) -> None:
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
