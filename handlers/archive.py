"""Plan item 19 in the bot: /archive for class teachers (confirm each step of their class's journal)
and for the IT officer (which classes are missing; the checklist and the consent register as PDF)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.config import SchoolConfig
from bot.domain.access import ARCHIVE_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services import archive as service
from bot.services.archive import ArchiveService
from bot.services.consent_export import ConsentExport
from bot.tg.callbacks import AdminAction, ArchiveStep, ArchiveView, ArchiveViewAction
from bot.tg.filters import HasRole
from bot.tg.policy import personal, personal_file
from storage.year import ARCHIVE_STEPS

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True


def _button(text: str, data: CallbackData) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data.pack())]


async def _view(
    person: Person, t: Translator, *, archive: ArchiveService, school: SchoolConfig,
) -> tuple[str, InlineKeyboardMarkup]:
    classes = service.own_classes(person, await archive.checklist())
    year = archive.archive_year()
    lines = [t("archive.title", label=f"{year}/{year + 1}")]
    rows: list[list[InlineKeyboardButton]] = []
    if person.is_admin:
        missing = [c.class_label for c in classes if not c.complete]
        done = [c.class_label for c in classes if c.complete]
        lines.append(t("archive.missing", classes=", ".join(missing)) if missing else t("archive.all_done"))
        if done:
            lines.append(t("archive.done_classes", classes=", ".join(done)))
        rows.append(_button(t("archive.pdf_button"), ArchiveView(action="pdf")))
        rows.append(_button(t("archive.register_button"), ArchiveView(action="register")))
    own = [c for c in classes if c.class_label == person.class_label and person.has_role("class_teacher")]
    if not person.is_admin and not own:
        lines.append(t("archive.no_class"))
    for c in own:
        lines.append("")
        lines.append(t("archive.class_head", cls=c.class_label))
        for step in ARCHIVE_STEPS:
            check = c.steps[step]
            if check is None:
                lines.append(f"⬜ {t(f'archive.step.{step}')}")
                label = t("archive.mark", step=t(f"archive.step.{step}"), cls=c.class_label)
                rows.append(_button(label, ArchiveStep(cls=c.class_label, step=step)))
            else:
                when = check.done_at.astimezone(school.tz)
                lines.append(
                    f"✅ {t(f'archive.step.{step}')} — "
                    + t("archive.done_by", name=check.person_name, when=f"{when:%d.%m.%Y %H:%M}")
                )
        if c.complete:
            lines.append(t("archive.class_complete", cls=c.class_label))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


@personal
async def archive_command(
    message: Message, person: Person, t: Translator, *, archive: ArchiveService, school: SchoolConfig,
) -> None:
    text, markup = await _view(person, t, archive=archive, school=school)
    await message.answer(text, reply_markup=markup)


@personal
async def archive_open(
    query: CallbackQuery, person: Person, t: Translator, *, archive: ArchiveService, school: SchoolConfig,
) -> None:
    await query.answer()
    text, markup = await _view(person, t, archive=archive, school=school)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


@personal
async def archive_step(
    query: CallbackQuery, callback_data: ArchiveStep, person: Person, t: Translator, *, archive: ArchiveService,
    school: SchoolConfig,
) -> None:
    result = await archive.mark(person, callback_data.cls, callback_data.step)
    if result is service.Marked.FORBIDDEN:
        await query.answer(t("archive.forbidden"), show_alert=True)
        return
    await query.answer(t("archive.recorded") if result is service.Marked.DONE else t("archive.already"))
    text, markup = await _view(person, t, archive=archive, school=school)
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


async def _file_allowed(query: CallbackQuery, person: Person, t: Translator) -> bool:
    if not person.is_admin:
        await query.answer(t("archive.forbidden"), show_alert=True)
        return False
    await query.answer()
    return isinstance(query.message, Message)


@personal_file
async def archive_pdf(
    query: CallbackQuery, person: Person, t: Translator, *, archive: ArchiveService,
) -> None:
    # The checklist names the class teachers, the register the children: files with personal data.
    if await _file_allowed(query, person, t) and isinstance(query.message, Message):
        data, name = await archive.checklist_pdf(t)
        await query.message.answer_document(BufferedInputFile(data, filename=name), caption=t("archive.pdf_caption"))


@personal_file
async def archive_register(
    query: CallbackQuery, person: Person, t: Translator, *, consent_export: ConsentExport,
) -> None:
    if await _file_allowed(query, person, t) and isinstance(query.message, Message):
        data, name, _ = await consent_export.export("pdf", t, None)
        await query.message.answer_document(
            BufferedInputFile(data, filename=name), caption=t("archive.register_caption")
        )


def build_router() -> Router:
    router = Router(name="archive")
    router.message.filter(HasRole(*ARCHIVE_ROLES))
    router.callback_query.filter(HasRole(*ARCHIVE_ROLES))
    router.message.register(archive_command, Command("archive"))
    router.callback_query.register(archive_open, ArchiveView.filter(F.action == ArchiveViewAction.OPEN))
    router.callback_query.register(archive_open, AdminAction.filter(F.action == "archive"))
    router.callback_query.register(archive_pdf, ArchiveView.filter(F.action == ArchiveViewAction.PDF))
    router.callback_query.register(archive_register, ArchiveView.filter(F.action == ArchiveViewAction.REGISTER))
    router.callback_query.register(archive_step, ArchiveStep.filter())
    return router
