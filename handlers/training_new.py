"""Training sessions and parent meetings, the IT officer's side of creating them (/admin → "training"):
the list of sessions and the creation wizard (title, audience, class, date and time, place, preview,
create), with the button and keyboard helpers the training handlers share. One session's view,
attendance marks, the xlsx and the invitees' answers are handlers/training.py, which builds the router."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    Message,
)

from bot.channels import DataClass
from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.training import (
    MAX_PLACE,
    MAX_TITLE,
    SessionSpec,
    TrainingService,
    parse_when,
    text_class,
)
from bot.tg.callbacks import TrAdm
from bot.tg.policy import declare, personal, public, varies
from handlers.common import button, keyboard, message_of
from storage.people import PersonRepo


class TrNew(StatesGroup):
    title = State()
    audience = State()
    when = State()
    place = State()
    confirm = State()








# Titles and places are staff's free text (#22): a screen showing them is personal unless each one's
# author confirmed it names no one (bot/services/training.text_class).
by_titles = varies(
    DataClass.PERSONAL, DataClass.PUBLIC,
    by="the sessions' titles and places: public when their authors confirmed they name no one",
)

# A create button's `arg`: the author confirms the title and place name no one.
PUBLIC_TEXT = "public"


# --- the IT officer: list and create ----------------------------------------------------------


@by_titles
async def sessions_menu(
    query: CallbackQuery, t: Translator, *, training: TrainingService,
) -> None:
    await query.answer()
    message = message_of(query)
    if message is None:
        return
    sessions = await training.menu_sessions()
    declare(DataClass.PUBLIC if all(s.public_text for s in sessions) else DataClass.PERSONAL)
    rows = [
        [button(
            f"{training.format_when(s.starts_at)} · {s.title}"[:60], TrAdm(action="view", sid=s.id)
        )] for s in sessions
    ]
    rows.append([button(t("help.training.btn_new"), TrAdm(action="new"))])
    await message.answer(t("help.training.menu"), reply_markup=keyboard(rows))


@public
async def new_session(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(TrNew.title)
    await query.answer()
    message = message_of(query)
    if message is not None:
        await message.answer(
            t("help.training.ask_title"), reply_markup=keyboard([[button(t("help.cancel"), TrAdm(action="cancel"))]])
        )


@public
async def got_title(message: Message, t: Translator, state: FSMContext) -> None:
    assert message.text is not None
    title = message.text.strip()
    if not title or len(title) > MAX_TITLE:
        await message.answer(t("help.training.bad_title", n=MAX_TITLE))
        return
    await state.update_data(tr_title=title)
    await state.set_state(TrNew.audience)
    rows = [
        [button(t(f"help.training.aud_btn.{a}"), TrAdm(action="aud", arg=a))]
        for a in ("teachers", "pupils", "parents", "everyone")
    ]
    rows.append([button(t("help.cancel"), TrAdm(action="cancel"))])
    await message.answer(t("help.training.ask_audience"), reply_markup=keyboard(rows))


@public
async def got_audience(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, state: FSMContext, *, people: PersonRepo,
) -> None:
    audience = callback_data.arg
    message = message_of(query)
    if await state.get_state() != TrNew.audience.state or audience not in ("teachers", "pupils", "parents", "everyone"):
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(tr_audience=audience, tr_class=None)
    if audience in ("pupils", "parents"):
        classes = await people.classes()
        rows = [[button(c, TrAdm(action="cls", arg=c)) for c in classes[i : i + 4]] for i in range(0, len(classes), 4)]
        rows.append([button(t("help.cancel"), TrAdm(action="cancel"))])
        if message is not None:
            await message.edit_text(t("help.training.ask_class"), reply_markup=keyboard(rows))
        return
    await state.set_state(TrNew.when)
    if message is not None:
        await message.edit_text(t("help.training.ask_when"))


@public
async def got_class(
    query: CallbackQuery, callback_data: TrAdm, t: Translator, state: FSMContext, *, people: PersonRepo,
) -> None:
    data = await state.get_data()
    if await state.get_state() != TrNew.audience.state or callback_data.arg not in await people.classes():
        await query.answer(t("help.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(tr_class=callback_data.arg)
    await state.set_state(TrNew.when)
    message = message_of(query)
    if message is not None and data.get("tr_audience"):
        await message.edit_text(t("help.training.ask_when"))


@public
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


@personal  # the preview shows the title and place as typed, not yet confirmed to name no one
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
        text + "\n\n" + t("help.training.class_note"),
        # Two ways to create, as a broadcast is sent: as personal data (the default), or confirmed by
        # the author as naming no one (public: invitations and reminders reach every messenger).
        reply_markup=keyboard(
            [
                [button(t("help.training.btn_create"), TrAdm(action="create"))],
                [button(t("help.training.btn_create_public"), TrAdm(action="create", arg=PUBLIC_TEXT))],
                [button(t("help.cancel"), TrAdm(action="cancel"))],
            ]
        ),
    )


@by_titles
async def create(
    query: CallbackQuery, callback_data: TrAdm, person: Person, t: Translator, state: FSMContext, *,
    training: TrainingService,
) -> None:
    spec = _spec(await state.get_data()) if await state.get_state() == TrNew.confirm.state else None
    if spec is None:
        declare(DataClass.PUBLIC)
        await query.answer(t("help.expired"), show_alert=True)
        return
    spec = replace(spec, public_text=callback_data.arg == PUBLIC_TEXT)
    declare(text_class(spec))
    await state.set_state(None)
    await query.answer()
    sid, invitees, sent = await training.create_session(person, spec)
    message = message_of(query)
    if message is not None:
        await message.edit_text(
            training.session_text(t, spec) + "\n\n" + t("help.training.created", n=invitees, sent=sent),
            reply_markup=keyboard([[button(t("help.training.btn_open"), TrAdm(action="view", sid=sid))]]),
        )


@public
async def cancel(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(None)
    await query.answer()
    message = message_of(query)
    if message is not None:
        await message.edit_text(t("help.cancelled"))
