"""Training sessions and parent meetings: the IT officer creates them (/admin → "training") and
marks attendance; invitees answer "Приду" / "Не смогу" (re-checked: only invitees). This module
holds one session's view, the attendance marks and the xlsx, the invitees' answers, and the router;
the list of sessions and the creation wizard are handlers/training_new.py."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
)

from bot.channels import DataClass
from bot.domain.access import ADMIN_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.ports import Buttons
from bot.services.training import TrainingService, text_class
from bot.tg.callbacks import AdminAction, TrAdm, TrainingAdminAction, TrRsvp
from bot.tg.filters import HasRole, IsLinked, PlainText
from bot.tg.policy import declare, personal, personal_file
from handlers.common import button, keyboard, message_of
from handlers.training_new import (
    TrNew,
    by_titles,
    cancel,
    create,
    got_audience,
    got_class,
    got_place,
    got_title,
    got_when,
    new_session,
    sessions_menu,
)
from storage.help import Session

MARK_PAGE = 10


# --- invitees ---------------------------------------------------------------------------------


@by_titles
async def rsvp_pressed(
    query: CallbackQuery, callback_data: TrRsvp, person: Person, t: Translator, *, buttons: Buttons,
    training: TrainingService,
) -> None:
    status, session = await training.rsvp(person, callback_data.sid, callback_data.yes)
    if status != "ok" or session is None:
        declare(DataClass.PUBLIC)
        await query.answer(t(f"help.training.rsvp_{status}"), show_alert=True)
        return
    declare(text_class(session))  # the invitation shows the session's title and place
    choice = t("help.training.your_yes" if callback_data.yes else "help.training.your_no")
    await query.answer(choice)
    message = message_of(query)
    if message is not None:
        text = t("help.training.invitation", card=training.session_text(t, session)) + "\n\n" + choice
        markup = InlineKeyboardMarkup.model_validate(buttons.training_rsvp(session.id, t))
        await message.edit_text(text, reply_markup=markup)


# --- the IT officer: one session, attendance, export ------------------------------------------


@personal
async def view(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, *, training: TrainingService,
) -> None:
    session = await training.session(callback_data.sid)
    if session is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    invitees = [i for i, _ in await training.roll(session.id)]
    counts = t(
        "help.training.counts",
        n=len(invitees),
        yes=sum(i.rsvp == "yes" for i in invitees),
        no=sum(i.rsvp == "no" for i in invitees),
        none=sum(i.rsvp is None for i in invitees),
        present=sum(i.attended is True for i in invitees),
    )
    rows = [
        [button(t("help.training.btn_marks"), TrAdm(action="marks", sid=session.id))],
        [button(t("help.training.btn_xlsx"), TrAdm(action="xlsx", sid=session.id))],
        [button(t("help.back"), TrAdm(action="list"))],
    ]
    message = message_of(query)
    if message is not None:
        await message.edit_text(training.session_text(t, session) + "\n\n" + counts, reply_markup=keyboard(rows))


def _mark_label(attended: bool | None, rsvp_value: str | None, name: str) -> str:
    sign = "✅" if attended else ("❌" if attended is False else "▫️")
    answer = {"yes": " (+)", "no": " (−)"}.get(rsvp_value or "", "")
    return f"{sign} {name}{answer}"


@personal
async def marks(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, *, training: TrainingService,
) -> None:
    session = await training.session(callback_data.sid)
    if session is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await _show_marks(query, callback_data, t, session, training)


@personal
async def mark(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, *, training: TrainingService,
) -> None:
    """A name pressed on the roll: its attendance toggles, then the same page again."""
    session = await training.session(callback_data.sid)
    if session is None or await training.toggle_attendance(session.id, callback_data.pid) is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await _show_marks(query, callback_data, t, session, training)


async def _show_marks(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, session: Session, training: TrainingService,
) -> None:
    people = await training.roll(session.id)
    pages = max(1, (len(people) + MARK_PAGE - 1) // MARK_PAGE)
    page = min(max(callback_data.page, 0), pages - 1)
    rows = [
        [
            button(
                _mark_label(inv.attended, inv.rsvp, p.full_name)[:60],
                TrAdm(action="mark", sid=session.id, pid=p.id, page=page),
            )
        ]
        for inv, p in people[page * MARK_PAGE : (page + 1) * MARK_PAGE]
    ]
    nav = []
    if page > 0:
        nav.append(button(t("help.prev"), TrAdm(action="marks", sid=session.id, page=page - 1)))
    if page < pages - 1:
        nav.append(button(t("help.next"), TrAdm(action="marks", sid=session.id, page=page + 1)))
    if nav:
        rows.append(nav)
    rows.append([button(t("help.back"), TrAdm(action="view", sid=session.id))])
    message = message_of(query)
    if message is not None:
        text = t("help.training.marks_title", title=html.escape(session.title)) + (
            "\n" + t("help.faq.page", page=page + 1, pages=pages) if pages > 1 else ""
        )
        await message.edit_text(text, reply_markup=keyboard(rows))


@personal_file
async def xlsx(query: CallbackQuery, callback_data: TrAdm, t: Translator, *, training: TrainingService) -> None:
    result = await training.attendance_xlsx(callback_data.sid, t.lang)
    if result is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    data, filename = result
    message = message_of(query)
    if message is not None:
        await message.answer_document(
            BufferedInputFile(data, filename=filename), caption=t("help.training.xlsx_caption")
        )


@by_titles  # the same screen as sessions_menu, the same class
async def back_to_list(query: CallbackQuery, t: Translator, *, training: TrainingService) -> None:
    await sessions_menu(query, t, training=training)


def build_router() -> Router:
    router = Router(name="training")
    officer = Router(name="training-officer")
    officer.message.filter(HasRole(*ADMIN_ROLES))
    officer.callback_query.filter(HasRole(*ADMIN_ROLES))
    officer.callback_query.register(sessions_menu, AdminAction.filter(F.action == "training"))
    officer.callback_query.register(back_to_list, TrAdm.filter(F.action == TrainingAdminAction.LIST))
    officer.callback_query.register(new_session, TrAdm.filter(F.action == TrainingAdminAction.NEW))
    officer.callback_query.register(got_audience, TrAdm.filter(F.action == TrainingAdminAction.AUD))
    officer.callback_query.register(got_class, TrAdm.filter(F.action == TrainingAdminAction.CLS))
    officer.callback_query.register(create, TrAdm.filter(F.action == TrainingAdminAction.CREATE))
    officer.callback_query.register(cancel, TrAdm.filter(F.action == TrainingAdminAction.CANCEL))
    officer.callback_query.register(view, TrAdm.filter(F.action == TrainingAdminAction.VIEW))
    officer.callback_query.register(marks, TrAdm.filter(F.action == TrainingAdminAction.MARKS))
    officer.callback_query.register(mark, TrAdm.filter(F.action == TrainingAdminAction.MARK))
    officer.callback_query.register(xlsx, TrAdm.filter(F.action == TrainingAdminAction.XLSX))
    officer.message.register(got_title, StateFilter(TrNew.title), PlainText())
    officer.message.register(got_when, StateFilter(TrNew.when), PlainText())
    officer.message.register(got_place, StateFilter(TrNew.place), PlainText())

    invitee = Router(name="training-invitee")
    invitee.callback_query.filter(IsLinked())
    invitee.callback_query.register(rsvp_pressed, TrRsvp.filter())
    router.include_routers(officer, invitee)
    return router
