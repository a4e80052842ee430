"""Training sessions and parent meetings: the IT officer creates them (/admin → "training") and
marks attendance; invitees answer "Приду" / "Не смогу" (re-checked: only invitees)."""

from __future__ import annotations

import html
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
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
from bot.domain.access import ADMIN_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.ports import Buttons
from bot.services.training import (
    MAX_PLACE,
    MAX_TITLE,
    SessionSpec,
    TrainingService,
    parse_when,
)
from bot.tg.callbacks import AdminAction, TrAdm, TrainingAdminAction, TrRsvp
from bot.tg.filters import HasRole, IsLinked, PlainText
from storage.db import Database
from storage.help import HelpRepo, Session
from storage.people import PersonRepo

MARK_PAGE = 10


class TrNew(StatesGroup):
    title = State()
    audience = State()
    when = State()
    place = State()
    confirm = State()


def _btn(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _kb(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _msg(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


# --- invitees ---------------------------------------------------------------------------------


async def rsvp_pressed(
    query: CallbackQuery,
    callback_data: TrRsvp,
    person: Person,
    t: Translator,
    *,
    buttons: Buttons,
    training: TrainingService,
) -> None:
    status, session = await training.rsvp(person, callback_data.sid, callback_data.yes)
    if status != "ok" or session is None:
        await query.answer(t(f"help.training.rsvp_{status}"), show_alert=True)
        return
    choice = t("help.training.your_yes" if callback_data.yes else "help.training.your_no")
    await query.answer(choice)
    message = _msg(query)
    if message is not None:
        text = t("help.training.invitation", card=training.session_text(t, session)) + "\n\n" + choice
        markup = InlineKeyboardMarkup.model_validate(buttons.training_rsvp(session.id, t))
        await message.edit_text(text, reply_markup=markup)


# --- the IT officer: list and create ----------------------------------------------------------


async def sessions_menu(
    query: CallbackQuery,
    t: Translator,
    *,
    clock: Clock,
    db: Database,
    training: TrainingService,
) -> None:
    await query.answer()
    message = _msg(query)
    if message is None:
        return
    repo = HelpRepo(db)
    now = clock.now()
    sessions = [*await repo.recent_sessions(now, 5)][::-1] + await repo.sessions_after(now, 15)
    rows = [
        [_btn(
            f"{training.format_when(s.starts_at)} · {s.title}"[:60], TrAdm(action="view", sid=s.id)
        )] for s in sessions
    ]
    rows.append([_btn(t("help.training.btn_new"), TrAdm(action="new"))])
    await message.answer(t("help.training.menu"), reply_markup=_kb(rows))


async def new_session(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(TrNew.title)
    await query.answer()
    message = _msg(query)
    if message is not None:
        await message.answer(
            t("help.training.ask_title"), reply_markup=_kb([[_btn(t("help.cancel"), TrAdm(action="cancel"))]])
        )


async def got_title(message: Message, t: Translator, state: FSMContext) -> None:
    assert message.text is not None
    title = message.text.strip()
    if not title or len(title) > MAX_TITLE:
        await message.answer(t("help.training.bad_title", n=MAX_TITLE))
        return
    await state.update_data(tr_title=title)
    await state.set_state(TrNew.audience)
    rows = [
        [_btn(t(f"help.training.aud_btn.{a}"), TrAdm(action="aud", arg=a))]
        for a in ("teachers", "pupils", "parents", "everyone")
    ]
    rows.append([_btn(t("help.cancel"), TrAdm(action="cancel"))])
    await message.answer(t("help.training.ask_audience"), reply_markup=_kb(rows))


async def got_audience(
    query: CallbackQuery,
    callback_data: TrAdm,
    t: Translator,
    state: FSMContext,
    *,
    people: PersonRepo,
) -> None:
    audience = callback_data.arg
    message = _msg(query)
    if await state.get_state() != TrNew.audience.state or audience not in ("teachers", "pupils", "parents", "everyone"):
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(tr_audience=audience, tr_class=None)
    if audience in ("pupils", "parents"):
        classes = await people.classes()
        rows = [[_btn(c, TrAdm(action="cls", arg=c)) for c in classes[i : i + 4]] for i in range(0, len(classes), 4)]
        rows.append([_btn(t("help.cancel"), TrAdm(action="cancel"))])
        if message is not None:
            await message.edit_text(t("help.training.ask_class"), reply_markup=_kb(rows))
        return
    await state.set_state(TrNew.when)
    if message is not None:
        await message.edit_text(t("help.training.ask_when"))


async def got_class(
    query: CallbackQuery,
    callback_data: TrAdm,
    t: Translator,
    state: FSMContext,
    *,
    people: PersonRepo,
) -> None:
    data = await state.get_data()
    if await state.get_state() != TrNew.audience.state or callback_data.arg not in await people.classes():
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(tr_class=callback_data.arg)
    await state.set_state(TrNew.when)
    message = _msg(query)
    if message is not None and data.get("tr_audience"):
        await message.edit_text(t("help.training.ask_when"))


async def got_when(message: Message, t: Translator, state: FSMContext, *, clock: Clock, school: SchoolConfig) -> None:
    assert message.text is not None
    when = parse_when(message.text, school.tz)
    if when is None:
        await message.answer(t("help.training.bad_when"))
        return
    if when <= clock.now():
        await message.answer(t("help.training.past_when"))
        return
    await state.update_data(tr_when=when.isoformat())
    await state.set_state(TrNew.place)
    await message.answer(t("help.training.ask_place"))


def _spec(data: dict[str, object]) -> SessionSpec | None:
    try:
        return SessionSpec(
            title=str(data["tr_title"]),
            audience=data["tr_audience"],  # type: ignore[arg-type]
            class_label=str(data["tr_class"]) if data.get("tr_class") else None,
            starts_at=datetime.fromisoformat(str(data["tr_when"])),
            place=str(data["tr_place"]),
        )
    except (KeyError, ValueError):
        return None


async def got_place(message: Message, t: Translator, state: FSMContext, *, training: TrainingService) -> None:
    assert message.text is not None
    place = message.text.strip()
    if not place or len(place) > MAX_PLACE:
        await message.answer(t("help.training.bad_place", n=MAX_PLACE))
        return
    await state.update_data(tr_place=place)
    spec = _spec(await state.get_data())
    if spec is None:
        await state.set_state(None)
        await message.answer(t("help.expired"))
        return
    await state.set_state(TrNew.confirm)
    people = await training.resolve_invitees(spec.audience, spec.class_label)
    reachable = sum(p.reachable for p in people)
    text = training.session_text(t, spec) + "\n\n" + t("help.training.preview", n=len(people), reachable=reachable)
    await message.answer(
        text,
        reply_markup=_kb(
            [
                [
                    _btn(t("help.training.btn_create"), TrAdm(action="create")),
                    _btn(t("help.cancel"), TrAdm(action="cancel")),
                ]
            ]
        ),
    )


async def create(
    query: CallbackQuery,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    training: TrainingService,
) -> None:
    spec = _spec(await state.get_data()) if await state.get_state() == TrNew.confirm.state else None
    if spec is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await state.set_state(None)
    await query.answer()
    sid, invitees, sent = await training.create_session(person, spec)
    message = _msg(query)
    if message is not None:
        await message.edit_text(
            training.session_text(t, spec) + "\n\n" + t("help.training.created", n=invitees, sent=sent),
            reply_markup=_kb([[_btn(t("help.training.btn_open"), TrAdm(action="view", sid=sid))]]),
        )


async def cancel(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(None)
    await query.answer()
    message = _msg(query)
    if message is not None:
        await message.edit_text(t("help.cancelled"))


# --- the IT officer: one session, attendance, export ------------------------------------------


async def view(
    query: CallbackQuery,
    callback_data: TrAdm,
    t: Translator,
    *,
    db: Database,
    training: TrainingService,
) -> None:
    session = await HelpRepo(db).session(callback_data.sid)
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
        [_btn(t("help.training.btn_marks"), TrAdm(action="marks", sid=session.id))],
        [_btn(t("help.training.btn_xlsx"), TrAdm(action="xlsx", sid=session.id))],
        [_btn(t("help.back"), TrAdm(action="list"))],
    ]
    message = _msg(query)
    if message is not None:
        await message.edit_text(training.session_text(t, session) + "\n\n" + counts, reply_markup=_kb(rows))


def _mark_label(attended: bool | None, rsvp_value: str | None, name: str) -> str:
    sign = "✅" if attended else ("❌" if attended is False else "▫️")
    answer = {"yes": " (+)", "no": " (−)"}.get(rsvp_value or "", "")
    return f"{sign} {name}{answer}"


async def marks(
    query: CallbackQuery,
    callback_data: TrAdm,
    t: Translator,
    *,
    db: Database,
    training: TrainingService,
) -> None:
    session = await HelpRepo(db).session(callback_data.sid)
    if session is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await _show_marks(query, callback_data, t, session, training)


async def mark(
    query: CallbackQuery,
    callback_data: TrAdm,
    t: Translator,
    *,
    db: Database,
    training: TrainingService,
) -> None:
    """A name pressed on the roll: its attendance toggles, then the same page again."""
    session = await HelpRepo(db).session(callback_data.sid)
    if session is None or await training.toggle_attendance(session.id, callback_data.pid) is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await _show_marks(query, callback_data, t, session, training)


async def _show_marks(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, session: Session, training: TrainingService
) -> None:
    people = await training.roll(session.id)
    pages = max(1, (len(people) + MARK_PAGE - 1) // MARK_PAGE)
    page = min(max(callback_data.page, 0), pages - 1)
    rows = [
        [
            _btn(
                _mark_label(inv.attended, inv.rsvp, p.full_name)[:60],
                TrAdm(action="mark", sid=session.id, pid=p.id, page=page),
            )
        ]
        for inv, p in people[page * MARK_PAGE : (page + 1) * MARK_PAGE]
    ]
    nav = []
    if page > 0:
        nav.append(_btn(t("help.prev"), TrAdm(action="marks", sid=session.id, page=page - 1)))
    if page < pages - 1:
        nav.append(_btn(t("help.next"), TrAdm(action="marks", sid=session.id, page=page + 1)))
    if nav:
        rows.append(nav)
    rows.append([_btn(t("help.back"), TrAdm(action="view", sid=session.id))])
    message = _msg(query)
    if message is not None:
        text = t("help.training.marks_title", title=html.escape(session.title)) + (
            "\n" + t("help.faq.page", page=page + 1, pages=pages) if pages > 1 else ""
        )
        await message.edit_text(text, reply_markup=_kb(rows))


async def xlsx(query: CallbackQuery, callback_data: TrAdm, t: Translator, *, training: TrainingService) -> None:
    result = await training.attendance_xlsx(callback_data.sid, t.lang)
    if result is None:
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    data, filename = result
    message = _msg(query)
    if message is not None:
        await message.answer_document(
            BufferedInputFile(data, filename=filename), caption=t("help.training.xlsx_caption")
        )


async def back_to_list(
    query: CallbackQuery,
    t: Translator,
    *,
    clock: Clock,
    db: Database,
    training: TrainingService,
) -> None:
    await sessions_menu(query, t, clock=clock, db=db, training=training)


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
