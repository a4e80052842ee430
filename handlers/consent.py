"""/consent entry points shared by parents and staff: the /consent command and menu button (a
parent's screen, a staff member's, or both), the class teacher's "class consents" button and the
IT officer's /admin entry. Builds the one consent router, with the parent's buttons from
handlers/consent_parent.py; the staff's buttons are handlers/consent_staff.py and consent_paper.py."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.domain.access import ADMIN_ROLES, CLASS_TEACHER_ROLES, CONSENT_ROLES, PARENT_ROLES, STAFF_CONSENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.consent import ConsentService
from bot.tg.callbacks import AdminAction, ConsentAction, ConsentCb
from bot.tg.filters import HasRole, MenuButton
from bot.tg.policy import child_data, public
from handlers.consent_parent import (
    DECISIONS,
    ParentScreens,
    ask_withdraw,
    decide,
    keep_consent,
    open_menu,
    read_document,
    signing_form_pdf,
)
from handlers.consent_staff import ConsentScreens


@child_data
async def consent_command(
    message: Message, person: Person, t: Translator, state: FSMContext, *,
    parent_screens: ParentScreens, consent_screens: ConsentScreens, consent: ConsentService,
) -> None:
    await state.set_state(None)
    shown = False
    # The parent's menu names the children and their classes; a class teacher's names their pupils.
    if person.has_role("parent"):
        text, markup = await parent_screens.view(person, t)
        await message.answer(text, reply_markup=markup)
        shown = True
    if person.has_role(*STAFF_CONSENT_ROLES):
        text, markup = await consent_screens.staff_view(person, t)
        await message.answer(text, reply_markup=markup)
        shown = True
    if not shown:
        await message.answer(t("consent.not_for_you"))


@child_data
async def class_consents(
    message: Message, person: Person, t: Translator, state: FSMContext, *,
    consent_screens: ConsentScreens,
) -> None:
    """The class teacher's menu button: their class's consents straight away."""
    await state.set_state(None)
    text, markup = await consent_screens.staff_view(person, t)
    await message.answer(text, reply_markup=markup)


@public
async def admin_entry(
    query: CallbackQuery, person: Person, t: Translator, *,
    consent_screens: ConsentScreens,
) -> None:
    await query.answer()
    text, markup = await consent_screens.staff_view(person, t)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


def build_router() -> Router:
    router = Router(name="consent")
    router.message.filter(HasRole(*CONSENT_ROLES))
    router.callback_query.filter(HasRole(*CONSENT_ROLES))
    router.message.register(consent_command, Command("consent"))
    router.message.register(consent_command, MenuButton("consent"))
    router.message.register(class_consents, Command("class_consent"), HasRole(*CLASS_TEACHER_ROLES))
    router.message.register(class_consents, MenuButton("class_consent"), HasRole(*CLASS_TEACHER_ROLES))
    parents = HasRole(*PARENT_ROLES)
    on = router.callback_query.register
    on(open_menu, ConsentCb.filter(F.action == ConsentAction.MENU), parents)
    on(read_document, ConsentCb.filter(F.action == ConsentAction.READ), parents)
    on(signing_form_pdf, ConsentCb.filter(F.action == ConsentAction.FORM), parents)
    on(ask_withdraw, ConsentCb.filter(F.action == ConsentAction.WITHDRAW), parents)
    on(keep_consent, ConsentCb.filter(F.action == ConsentAction.WNO), parents)
    on(decide, ConsentCb.filter(F.action.in_(DECISIONS)), parents)
    router.callback_query.register(admin_entry, AdminAction.filter(F.action == "consent"), HasRole(*ADMIN_ROLES))
    return router
