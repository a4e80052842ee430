"""/consent for staff, the recording side: a paper form (child, decision, then the date typed), a
signed original received, and one reminder a class to the families still pending. The screens and
the class check these handlers share are handlers/consent_staff.py's. One handler per button."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.access import STAFF_CONSENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services import consent as svc
from bot.services.consent import ConsentService
from bot.services.consent_nudges import ConsentNudges
from bot.services.consent_paper import ConsentPaper, may_record_for, parse_paper_date
from bot.services.outbox import Outbox
from bot.tg.callbacks import StaffAction, StaffCb
from bot.tg.filters import HasContent, HasRole
from bot.tg.policy import child_data
from handlers.common import button, message_of
from handlers.consent_staff import ConsentScreens, own_class
from storage.people import PersonRepo


class PaperForm(StatesGroup):
    waiting_date = State()


@child_data
async def pick_paper_child(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *,
    people: PersonRepo,
) -> None:
    if not await own_class(query, callback_data, person, t, people=people):
        return
    cls = callback_data.cls
    await query.answer()
    pupils = await people.with_role("student", cls)
    rows = [[button(p.full_name, StaffCb(action="child", cls=cls, child=p.id))] for p in pupils]
    msg = message_of(query)
    if msg is not None:
        await msg.answer(t("consent.staff.pick_child", cls=html.escape(cls)),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@child_data
async def pick_original(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *,
    consent: ConsentService, consent_paper: ConsentPaper, people: PersonRepo,
) -> None:
    if not await own_class(query, callback_data, person, t, people=people):
        return
    cls = callback_data.cls
    await query.answer()
    version = await consent.current()
    pupils = await people.with_role("student", cls)
    have = await consent_paper.originals(version, [p.id for p in pupils])
    rows = [[button(p.full_name, StaffCb(action="origc", cls=cls, child=p.id))] for p in pupils if p.id not in have]
    msg = message_of(query)
    if msg is not None:
        if rows:
            await msg.answer(t("consent.staff.pick_original", cls=html.escape(cls)),
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
        else:
            await msg.answer(t("consent.staff.no_originals_left", cls=html.escape(cls)))


@child_data
async def original_received(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *, consent_screens: ConsentScreens,
    clock: Clock, consent_paper: ConsentPaper, outbox: Outbox, people: PersonRepo, school: SchoolConfig,
) -> None:
    if not await own_class(query, callback_data, person, t, people=people):
        return
    cls = callback_data.cls
    child = await people.get(callback_data.child)
    if child is None or child.class_label != cls:
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return
    outcome = await consent_paper.record_original(staff=person, child_id=child.id)
    if outcome is svc.Outcome.FORBIDDEN:
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return
    if outcome is svc.Outcome.UNCHANGED:
        await query.answer(t("consent.staff.original_already"), show_alert=True)
        return
    await query.answer()
    outbox.wake()
    today = clock.now().astimezone(school.tz).strftime("%d.%m.%Y")
    msg = message_of(query)
    if msg is not None:
        await msg.edit_text(
            t("consent.staff.original_recorded", child=Named(child.full_name, escape=True), date=today)
        )
        text, markup = await consent_screens.class_view(person, cls, t)
        await msg.answer(text, reply_markup=markup)


async def _paper_child(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *, people: PersonRepo,
) -> tuple[Person, Message] | None:
    if not await own_class(query, callback_data, person, t, people=people):
        return None
    child = await people.get(callback_data.child)
    if child is None or child.class_label != callback_data.cls or not may_record_for(person, child):
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return None
    await query.answer()
    msg = message_of(query)
    return None if msg is None else (child, msg)


@child_data
async def pick_paper_decision(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *,
    people: PersonRepo,
) -> None:
    found = await _paper_child(query, callback_data, person, t, people=people)
    if found is None:
        return
    child, msg = found
    cls = callback_data.cls
    rows = [[
        button(t(f"consent.btn.paper_{d}"), StaffCb(action="dec", cls=cls, child=child.id, decision=d))
        for d in ("given", "declined", "withdrawn")
    ]]
    await msg.edit_text(
        t("consent.staff.pick_decision", child=html.escape(child.full_name), cls=html.escape(cls)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


@child_data
async def ask_paper_date(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, state: FSMContext, *,
    people: PersonRepo,
) -> None:
    found = await _paper_child(query, callback_data, person, t, people=people)
    if found is None:
        return
    child, msg = found
    if callback_data.decision in ("given", "declined", "withdrawn"):
        await state.set_state(PaperForm.waiting_date)
        await state.update_data(paper_child=child.id, paper_decision=callback_data.decision)
        await msg.edit_text(t("consent.staff.ask_date"))


@child_data
async def remind(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *, consent_screens: ConsentScreens,
    consent_nudges: ConsentNudges, outbox: Outbox, people: PersonRepo,
) -> None:
    if not await own_class(query, callback_data, person, t, people=people):
        return
    sent = await consent_nudges.remind_class(person, callback_data.cls)
    if sent is None:
        await query.answer(t("consent.staff.remind_already"), show_alert=True)
        return
    await query.answer(t.plural("consent.staff.remind_sent", sent), show_alert=True)
    outbox.wake()
    text, markup = await consent_screens.class_view(person, callback_data.cls, t)
    msg = message_of(query)
    if msg is not None:
        await msg.edit_text(text, reply_markup=markup)


@child_data
async def paper_date(
    message: Message, person: Person, t: Translator, state: FSMContext, *, clock: Clock, consent_paper: ConsentPaper,
    outbox: Outbox, people: PersonRepo, school: SchoolConfig,
) -> None:
    data = await state.get_data()
    child_id, decision = data.get("paper_child"), data.get("paper_decision")
    if not isinstance(child_id, int) or decision not in ("given", "declined", "withdrawn"):
        await state.set_state(None)
        await message.answer(t("consent.staff.expired"))
        return
    today = clock.now().astimezone(school.tz).date()
    when = parse_paper_date(message.text or "", today)
    if when is None:
        await message.answer(t("consent.staff.bad_date"))
        return
    result = await consent_paper.record_paper(staff=person, child_id=child_id, decision=decision, paper_date=when)
    await state.set_state(None)
    await state.update_data(paper_child=None, paper_decision=None)
    if result.outcome is svc.Outcome.FORBIDDEN:
        await message.answer(t("consent.staff.forbidden"))
        return
    if result.outcome is not svc.Outcome.RECORDED or result.row is None:
        await message.answer(t(f"consent.{result.outcome.value}"))
        return
    child = await people.get(child_id)
    assert child is not None
    outbox.wake()
    await message.answer(t(
        "consent.staff.paper_recorded", child=html.escape(child.full_name), cls=html.escape(child.class_label or "—"),
        decision=t(f"consent.decision.{decision}"), paper_date=when.strftime("%d.%m.%Y"), receipt=result.row.receipt_id,
    ))


def build_router() -> Router:
    """One handler per staff button for paper forms, originals and reminders; the class it names is
    checked in each. Placed right after handlers/consent_staff.py's router."""
    router = Router(name="consent_paper")
    router.callback_query.filter(HasRole(*STAFF_CONSENT_ROLES))
    on = router.callback_query.register
    on(pick_paper_child, StaffCb.filter(F.action == StaffAction.PAPER))
    on(pick_original, StaffCb.filter(F.action == StaffAction.ORIG))
    on(original_received, StaffCb.filter(F.action == StaffAction.ORIGC))
    on(pick_paper_decision, StaffCb.filter(F.action == StaffAction.CHILD))
    on(ask_paper_date, StaffCb.filter(F.action == StaffAction.DEC))
    on(remind, StaffCb.filter(F.action == StaffAction.REMIND))
    router.message.register(
        paper_date, StateFilter(PaperForm.waiting_date), HasContent("text"), HasRole(*STAFF_CONSENT_ROLES)
    )
    return router
