"""/status with its chart, /report, /backup, and logging a journal backup (plan items 16-18)."""

from __future__ import annotations

import logging
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.access import ADMIN_ROLE, ADMIN_ROLES, MANAGER_ROLES, STATUS_VIEWERS
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services import backup as backup_service
from bot.services import status as status_service
from bot.services.backup import BackupService
from bot.services.chart import render_chart
from bot.services.report import ReportService
from bot.services.status import StatusService
from bot.tg.callbacks import JournalDone, StatusAction
from bot.tg.filters import HasContent, HasRole, MenuButton, PlainText
from bot.tg.policy import personal, personal_file, public

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True

log = logging.getLogger(__name__)

VIEWERS = STATUS_VIEWERS
MANAGERS = MANAGER_ROLES


class JournalFlow(StatesGroup):
    waiting_label = State()
    waiting_photo = State()


def _status_keyboard(person: Person, t: Translator) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=t("status.chart_button"), callback_data=StatusAction(action="chart").pack())]]
    if person.has_role(ADMIN_ROLE):
        rows.append(
            [InlineKeyboardButton(text=t("status.log_backup_button"), callback_data=StatusAction(action="log").pack())]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


@personal
async def show_status(
    message: Message, person: Person, t: Translator, *, school: SchoolConfig, status: StatusService,
) -> None:
    data = await status.collect(person)
    await message.answer(status_service.render(data, t, school.tz), reply_markup=_status_keyboard(person, t))


@public
async def send_chart(
    query: CallbackQuery, person: Person, t: Translator, *, school: SchoolConfig, status: StatusService,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    data = await status.collect(person)
    png = await render_chart(data, t)
    when = data.now.astimezone(school.tz).strftime("%d.%m.%Y %H:%M")
    await query.message.answer_photo(
        BufferedInputFile(png, filename="status.png"), caption=t("status.chart_caption", when=when)
    )


@personal_file
async def send_report(
    message: Message, t: Translator, *, clock: Clock,
    report: ReportService, school: SchoolConfig,
) -> None:
    data = await report.render_report(t)
    when = clock.now().astimezone(school.tz).strftime("%d.%m.%Y")
    await message.answer_document(
        BufferedInputFile(data, filename=report.report_filename()), caption=t("status.report_caption", when=when)
    )


def _size(n: int, t: Translator) -> str:
    if n >= 1_048_576:
        return t("status.db.size_mb", n=f"{n / 1_048_576:.1f}".replace(".", ","))
    return t("status.db.size_kb", n=max(1, n // 1024))


@personal_file
async def send_backup(message: Message, t: Translator, *, backup: BackupService, school: SchoolConfig) -> None:
    """Status and where the local copies are; the database itself never goes out in clear. With a
    passphrase set on the server, a button offers the encrypted archive (see send_archive)."""
    status = await backup.backup_status()
    tz = school.tz
    lines = [t("status.db.folder", folder=escape(str(status.folder)), count=status.copies)]
    if status.latest is not None and status.latest_at is not None:
        when = status.latest_at.astimezone(tz).strftime("%d.%m.%Y %H:%M")
        lines.append(t("status.db.latest", name=escape(status.latest.name), when=when,
                       size=_size(status.latest_size, t)))
    else:
        lines.append(t("status.db.none"))
    run = status.last_run
    if run is not None and not run.ok:
        lines.append(t("status.db.last_failed", when=run.taken_at.astimezone(tz).strftime("%d.%m.%Y %H:%M"),
                       detail=escape(run.detail or "")))
    markup = None
    if status.passphrase is None:
        lines.append(t("status.db.offsite_off"))
    elif len(status.passphrase) < backup_service.MIN_PASSPHRASE:
        lines.append(t("status.db.offsite_weak"))
    else:
        lines.append(t("status.db.offsite_on"))
        if status.latest is not None:
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=t("status.db.archive_button"), callback_data=StatusAction(action="archive").pack()
            )]])
    await message.answer("\n\n".join(lines), reply_markup=markup)


@personal_file
async def send_archive(
    query: CallbackQuery, t: Translator, *, backup: BackupService,
    school: SchoolConfig,
) -> None:
    """The encrypted off-site copy, to the IT officer who asked (the role is checked on the server
    by the filter, whatever the button's origin)."""
    if not isinstance(query.message, Message):
        await query.answer()
        return
    try:
        data, name, taken_at = await backup.encrypted_archive()
    except backup_service.ArchiveRefused as exc:
        await query.answer(t(str(exc)), show_alert=True)
        return
    await query.answer()
    when = taken_at.astimezone(school.tz).strftime("%d.%m.%Y %H:%M") if taken_at else ""
    await query.message.answer_document(
        BufferedInputFile(data, filename=name), caption=t("status.db.archive_caption", when=when), protect_content=True
    )


# --- journal backup (item 16) -------------------------------------------------------------------


async def _ask_label(query: CallbackQuery, quarter: int, t: Translator, state: FSMContext) -> None:
    await state.set_state(JournalFlow.waiting_label)
    await state.update_data(journal_quarter=quarter)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("status.journal.ask_label"))


@personal
async def journal_done(
    query: CallbackQuery, callback_data: JournalDone, t: Translator, state: FSMContext, *, school: SchoolConfig,
) -> None:
    # The callback names a quarter: only this school year's quarters are accepted.
    year = school.school_year
    if callback_data.year != year.year or not 1 <= callback_data.quarter <= len(year.quarters):
        await query.answer(t("status.journal.no_quarter"), show_alert=True)
        return
    await _ask_label(query, callback_data.quarter, t, state)


@personal
async def log_from_status(
    query: CallbackQuery, t: Translator, state: FSMContext, *, clock: Clock, school: SchoolConfig,
) -> None:
    today = clock.now().astimezone(school.tz).date()
    quarter = school.calendar.current_quarter(today)
    if quarter is None:
        await query.answer(t("status.journal.no_quarter"), show_alert=True)
        return
    await _ask_label(query, quarter.number, t, state)


@personal
async def journal_label(
    message: Message, person: Person, t: Translator, state: FSMContext, *, backup: BackupService,
) -> None:
    assert message.text is not None
    data = await state.get_data()
    quarter = int(data.get("journal_quarter") or 0)
    try:
        backup_id = await backup.log_journal(quarter=quarter, label=message.text, person_id=person.id)
    except backup_service.JournalError as exc:
        await message.answer(t(str(exc.args[0])))
        return
    await state.set_state(JournalFlow.waiting_photo)
    await state.update_data(journal_backup_id=backup_id)
    skip = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t("status.journal.skip_photo"),
                                               callback_data=StatusAction(action="skip_photo").pack())]]
    )
    label = " ".join(message.text.split())
    from html import escape

    await message.answer(t("status.journal.saved", quarter=quarter, label=escape(label)), reply_markup=skip)


@personal
async def journal_photo(message: Message, t: Translator, state: FSMContext, *, backup: BackupService) -> None:
    assert message.photo
    data = await state.get_data()
    backup_id = data.get("journal_backup_id")
    await state.clear()
    if backup_id:
        await backup.attach_photo(int(backup_id), message.photo[-1].file_id)
    await message.answer(t("status.journal.photo_saved"))


@personal
async def skip_photo(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(t("status.journal.done_final"))


def build_router() -> Router:
    router = Router(name="status")
    router.message.filter(HasRole(*VIEWERS))
    router.callback_query.filter(HasRole(*VIEWERS))
    router.message.register(show_status, Command("status"))
    router.message.register(show_status, MenuButton("status"))
    router.callback_query.register(send_chart, StatusAction.filter(F.action == "chart"))
    router.message.register(send_report, Command("report"), HasRole(*MANAGERS))
    router.message.register(send_report, MenuButton("report"), HasRole(*MANAGERS))
    router.message.register(send_backup, Command("backup"), HasRole(*ADMIN_ROLES))
    router.message.register(send_backup, MenuButton("backup"), HasRole(*ADMIN_ROLES))
    router.callback_query.register(send_archive, StatusAction.filter(F.action == "archive"), HasRole(*ADMIN_ROLES))
    router.callback_query.register(journal_done, JournalDone.filter(), HasRole(*ADMIN_ROLES))
    router.callback_query.register(log_from_status, StatusAction.filter(F.action == "log"), HasRole(*ADMIN_ROLES))
    router.callback_query.register(skip_photo, StatusAction.filter(F.action == "skip_photo"), HasRole(*ADMIN_ROLES))
    router.message.register(
        journal_label, StateFilter(JournalFlow.waiting_label), PlainText(), HasRole(*ADMIN_ROLES)
    )
    router.message.register(
        journal_photo, StateFilter(JournalFlow.waiting_photo), HasContent("photo"), HasRole(*ADMIN_ROLES)
    )
    return router
