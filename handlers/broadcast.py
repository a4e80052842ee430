"""/broadcast for the IT officer and the director, and the dead-letter entry of /admin."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import DataClass
from bot.domain.access import ADMIN_ROLES, ALL_ROLES, MANAGER_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services import broadcast as service
from bot.services.broadcast import BroadcastService
from bot.tg.callbacks import AdminAction, BcAudience, BcConfirm
from bot.tg.filters import HasRole, MenuButton
from bot.tg.policy import personal, public
from bot.tg.progress import ProgressWatchers
from bot.tg.survey_keyboards import broadcast_with_ack
from storage.delivery import Progress
from storage.people import PersonRepo

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True


class BroadcastFlow(StatesGroup):
    waiting_text = State()
    confirming = State()


def _button(text: str, data: CallbackData) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data.pack())]


def _cancel_row(t: Translator) -> list[InlineKeyboardButton]:
    return _button(t("broadcast.cancel"), BcConfirm(ok=False))


@public
async def start(message: Message, t: Translator, state: FSMContext) -> None:
    await state.clear()
    rows = [_button(t(f"broadcast.audience.{kind}"), BcAudience(kind=kind))
            for kind in ("parents", "class", "staff", "role", "all")]
    rows.append(_cancel_row(t))
    await message.answer(t("broadcast.choose_audience"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@public
async def audience_chosen(
    query: CallbackQuery, callback_data: BcAudience, t: Translator, state: FSMContext, *, people: PersonRepo,
) -> None:
    if not isinstance(query.message, Message):
        await query.answer()
        return
    kind, value = callback_data.kind, callback_data.value
    if kind == "class" and not value:
        classes = await people.classes()
        rows = [_button(label, BcAudience(kind="class", value=label)) for label in classes]
        await query.answer()
        await query.message.edit_text(
            t("broadcast.choose_class"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[*rows, _cancel_row(t)])
        )
        return
    if kind == "role" and not value:
        rows = [_button(t(f"roles.{role}"), BcAudience(kind="role", value=role)) for role in ALL_ROLES]
        await query.answer()
        await query.message.edit_text(
            t("broadcast.choose_role"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[*rows, _cancel_row(t)])
        )
        return
    # Callback data comes from the client: re-check what it names.
    valid = (
        (kind in ("parents", "staff", "all") and not value)
        or (kind == "class" and value in await people.classes())
        or (kind == "role" and value in ALL_ROLES)
    )
    if not valid:
        await query.answer(t("broadcast.expired"), show_alert=True)
        return
    audience = service.Audience(kind, value or None)
    await state.set_state(BroadcastFlow.waiting_text)
    await state.update_data(bc_audience=str(audience))
    await query.answer()
    await query.message.edit_text(t("broadcast.ask_text", audience=audience.describe(t)))


@personal
async def text_received(message: Message, t: Translator, state: FSMContext, *, broadcast: BroadcastService) -> None:
    if not message.text:
        await message.answer(t("broadcast.text_only"))
        return
    if len(message.html_text) > service.MAX_TEXT:
        await message.answer(t("broadcast.too_long", limit=service.MAX_TEXT))
        return
    data = await state.get_data()
    try:
        audience = service.Audience.parse(str(data.get("bc_audience", "")))
    except service.AudienceError:
        await state.clear()
        await message.answer(t("broadcast.expired"))
        return
    seen = await broadcast.preview(audience)
    if seen.reachable == 0:
        await state.clear()
        await message.answer(t("broadcast.nobody", audience=audience.describe(t)))
        return
    html_text = message.html_text
    await state.set_state(BroadcastFlow.confirming)
    await state.update_data(bc_text=html_text)
    # Or sent asking for «Ознакомлен(а)», with who confirmed per class (handlers/acks_admin.py).
    # Two ways to send: as personal data (the default: where the school's rules keep it off a
    # messenger, people there get a pointer), or marked by the author as carrying none (public).
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            _button(t("broadcast.confirm"), BcConfirm(ok=True)),
            _button(t("broadcast.confirm_public"), BcConfirm(ok=True, public=True)),
            [broadcast_with_ack(t)], _cancel_row(t),
        ]
    )
    await message.answer(
        t("broadcast.preview", audience=audience.describe(t), total=seen.total, reachable=seen.reachable,
          text=html_text) + "\n\n" + t("broadcast.class_note"),
        reply_markup=markup,
    )


@personal
async def confirmed(
    query: CallbackQuery, callback_data: BcConfirm, bot: Bot, person: Person, t: Translator, state: FSMContext, *,
    broadcast: BroadcastService, watchers: ProgressWatchers,
) -> None:
    data = await state.get_data()
    await state.clear()
    if not callback_data.ok:
        await query.answer(t("broadcast.cancelled"))
        if isinstance(query.message, Message):
            await query.message.edit_text(t("broadcast.cancelled"))
        return
    text = data.get("bc_text")
    try:
        audience = service.Audience.parse(str(data.get("bc_audience", "")))
    except service.AudienceError:
        audience = None
    if not text or audience is None or not isinstance(query.message, Message):
        await query.answer(t("broadcast.expired"), show_alert=True)
        return
    data_class = DataClass.PUBLIC if callback_data.public else DataClass.PERSONAL
    broadcast_id, count = await broadcast.create(
        audience=audience, html_text=str(text), author=person, data_class=data_class
    )
    await query.answer(t("broadcast.started", total=count))
    progress = Progress(total=count, sent=0, failed=0, left=count)
    edited = await query.message.edit_text(service.render_progress(t, progress))
    message_id = edited.message_id if isinstance(edited, Message) else query.message.message_id
    await broadcast.remember_progress_message(broadcast_id, query.message.chat.id, message_id)
    watchers.start(bot, t, broadcast_id, query.message.chat.id, message_id)


# --- dead letters (an /admin action) --------------------------------------------------------------


@personal
async def dead_letters(query: CallbackQuery, t: Translator, *, broadcast: BroadcastService) -> None:
    counts, dead_by_error = await broadcast.dead_letters()
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if counts["dead"] == 0:
        await query.message.answer(t("broadcast.admin.dead_none", pending=counts["pending"], sent=counts["sent"]))
        return
    reasons = "\n".join(f"• {error[:120]} — {n}" for error, n in dead_by_error)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[_button(t("broadcast.admin.retry_all"), AdminAction(action="dead_retry"))]
    )
    await query.message.answer(
        t("broadcast.admin.dead_list", dead=counts["dead"], pending=counts["pending"], sent=counts["sent"],
          cancelled=counts["cancelled"], reasons=html.escape(reasons)),
        reply_markup=markup,
    )


@personal
async def dead_retry(query: CallbackQuery, t: Translator, *, broadcast: BroadcastService) -> None:
    count = await broadcast.requeue_dead()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(t("broadcast.admin.requeued", count=count))


def build_router() -> Router:
    router = Router(name="broadcast")
    managers = HasRole(*MANAGER_ROLES)
    router.message.register(start, Command("broadcast"), managers)
    router.message.register(start, MenuButton("broadcast"), managers)
    router.callback_query.register(audience_chosen, BcAudience.filter(), managers)
    router.callback_query.register(confirmed, BcConfirm.filter(), managers)
    router.message.register(text_received, StateFilter(BroadcastFlow.waiting_text), managers)
    admins = HasRole(*ADMIN_ROLES)
    router.callback_query.register(dead_letters, AdminAction.filter(F.action == "dead"), admins)
    router.callback_query.register(dead_retry, AdminAction.filter(F.action == "dead_retry"), admins)
    return router
