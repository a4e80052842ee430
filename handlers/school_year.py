"""The IT officer's new school year in the bot: a dry-run preview, then an explicit confirm button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.config import SchoolConfig
from bot.domain.access import ADMIN_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.school_year import SchoolYearService, YearError, render_report
from bot.tg.callbacks import AdminAction, YearConfirm
from bot.tg.filters import HasRole
from bot.tg.policy import child_data, public

# Every callback of this module is for the IT officer only (tests/test_access.py relies on it).
STAFF_ONLY = True
# A screen a person can read: the bot shows this many changes (the wire would cut more into parts), the
# CLI all of them.
SHOWN_CHANGES = 30


@child_data
async def preview(query: CallbackQuery, t: Translator, *, school: SchoolConfig, school_year: SchoolYearService) -> None:
    await query.answer()
    year = school.school_year.year + 1
    report = await school_year.new_year(year, dry_run=True)
    text = render_report(report, t, limit=SHOWN_CHANGES, html=True).replace(t("year.nothing_written"), "")
    text = f"{text.rstrip()}\n\n{t('year.mapping_hint')}"
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t("year.confirm"), callback_data=YearConfirm(year=year).pack()),
                InlineKeyboardButton(text=t("year.cancel"), callback_data=AdminAction(action="year_cancel").pack()),
            ]
        ]
    )
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=None if report.already else markup)


@child_data
async def confirm(
    query: CallbackQuery, callback_data: YearConfirm, person: Person, t: Translator, *, school: SchoolConfig,
    school_year: SchoolYearService,
) -> None:
    # A stale or forged button (another year than the next one) is refused, never applied.
    if callback_data.year != school.school_year.year + 1:
        await query.answer(t("year.expired"), show_alert=True)
        return
    try:
        report = await school_year.new_year(callback_data.year, dry_run=False, by=person.id)
    except YearError as exc:
        await query.answer(t(f"year.error.{exc.code}", **exc.params), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(render_report(report, t, limit=SHOWN_CHANGES, html=True))


@public
async def cancel(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("year.cancelled"))
    if isinstance(query.message, Message):
        await query.message.edit_text(t("year.cancelled"))


def build_router() -> Router:
    router = Router(name="school_year")
    router.message.filter(HasRole(*ADMIN_ROLES))
    router.callback_query.filter(HasRole(*ADMIN_ROLES))
    router.callback_query.register(preview, AdminAction.filter(F.action == "new_year"))
    router.callback_query.register(cancel, AdminAction.filter(F.action == "year_cancel"))
    router.callback_query.register(confirm, YearConfirm.filter())
    return router
