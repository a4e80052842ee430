"""/codes: my invitation codes again (mine and my children's), activation, "it does not work",
the class teacher's print sheet, and the IT officer's revoke/reissue (admin action "codes").

Every callback names a person or a code; each is re-checked by the service against the caller's
rights (`bot.services.codes.recipients`), so forged callback data gets the same refusal as a
person who does not exist.
"""

from __future__ import annotations

import html
import logging

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import Channel
from bot.config import SchoolConfig
from bot.domain.access import ADMIN_ROLES, CLASS_TEACHER_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services import codes as svc
from bot.services.access_log import AccessKind, AccessLog
from bot.services.codes import CodesService
from bot.services.codes_print import CodesPrint, left_out_lines, left_out_summary
from bot.services.outbox import Outbox
from bot.services.people_text import find_people, person_label
from bot.tg.callbacks import (
    AdminAction,
    CodeActivated,
    CodeAdminPick,
    CodeIssue,
    CodePrint,
    CodeRevoke,
    CodeShow,
    CodeTrouble,
)
from bot.tg.filters import HasContent, HasRole, IsLinked, MenuButton
from bot.tg.policy import child_data, credential, personal_file, public
from storage.people import PersonRepo

log = logging.getLogger(__name__)


class CodeAdmin(StatesGroup):
    waiting_name = State()
    waiting_code = State()


def _button(text: str, data: CallbackData) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data.pack())]


@child_data
async def my_codes(message: Message, person: Person, t: Translator, *, codes: CodesService) -> None:
    visible = await codes.visible_codes(person)
    owners: dict[int, Person] = {}
    # The caller's own code first, then the children's.
    for owner, _ in sorted(visible, key=lambda oc: oc[0].id != person.id):
        owners.setdefault(owner.id, owner)
    rows = [
        _button(t("codes.btn_mine") if o.id == person.id else t("codes.btn_child", name=o.full_name),
                CodeShow(person_id=o.id))
        for o in owners.values()
    ]
    if person.has_role("class_teacher") and person.class_label:
        rows.append(_button(t("codes.btn_print", cls=person.class_label), CodePrint()))
    if owners:
        text = t("codes.menu_title")
    elif person.has_role("parent", "student"):
        text = t("codes.none_gate")
    else:
        text = t("codes.none")
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None)


@credential
async def show(
    query: CallbackQuery, callback_data: CodeShow, person: Person, t: Translator, channel: Channel = Channel.TELEGRAM,
    *, codes: CodesService, outbox: Outbox,
) -> None:
    shown = await codes.request_cards(person, callback_data.person_id, t.lang)
    if shown.status == "forbidden":
        await query.answer(t("codes.forbidden"), show_alert=True)
        return
    if shown.status == "too_soon":
        await query.answer(t("codes.too_soon", n=shown.wait_minutes), show_alert=True)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return  # the cards were queued with the request: the outbox gives them
    # Each card was queued with the request (bot/services/codes.py request_cards): given here, and
    # whichever this handler does not give (a send that fails, a worker that dies now) by the outbox.
    for card in shown.cards:
        png, filename = await codes.render_card_for(card.payload.args)
        sent = await query.message.answer_photo(
            BufferedInputFile(png, filename=filename),
            caption=card.payload.text,
            reply_markup=InlineKeyboardMarkup.model_validate(card.payload.reply_markup),
            protect_content=card.payload.protect_content,
        )
        await outbox.answered(card, message_id=sent.message_id, channel=channel, user_id=query.from_user.id)


@public
async def activated(
    query: CallbackQuery, callback_data: CodeActivated, person: Person, t: Translator, *, codes: CodesService,
) -> None:
    outcome = await codes.confirm_activation(person, callback_data.code_id)
    if outcome == "forbidden":
        await query.answer(t("codes.forbidden"), show_alert=True)
        return
    await query.answer(t(f"codes.activated_{outcome}"), show_alert=True)


@public
async def trouble(
    query: CallbackQuery, callback_data: CodeTrouble, person: Person, t: Translator,
    channel: Channel = Channel.TELEGRAM, *, codes: CodesService, outbox: Outbox,
) -> None:
    outcome, confirmation = await codes.report_trouble(person, callback_data.code_id, t)
    if outcome == "forbidden":
        await query.answer(t("codes.forbidden"), show_alert=True)
        return
    await query.answer()
    # The confirmation was queued with the question: given here, or by the outbox if this worker cannot.
    if isinstance(query.message, Message) and confirmation is not None:
        sent = await query.message.answer(confirmation.payload.text or "")
        await outbox.answered(confirmation, message_id=sent.message_id, channel=channel, user_id=query.from_user.id)


@personal_file
async def print_class(
    query: CallbackQuery, person: Person, t: Translator, *, codes_print: CodesPrint, school: SchoolConfig,
) -> None:
    # No object in the callback: the class is the caller's own, from the roster.
    if not person.class_label:
        await query.answer(t("codes.forbidden"), show_alert=True)
        return
    await query.answer(t("codes.preparing"))
    if isinstance(query.message, Message):
        await _send_sheet(query.message, person, t, codes_print=codes_print, school=school)


@personal_file
async def class_sheet(
    message: Message, person: Person, t: Translator, *, codes_print: CodesPrint, school: SchoolConfig,
) -> None:
    """The class teacher's menu button: the class's code sheet for families without Telegram."""
    if not person.class_label:
        await message.answer(t("codes.forbidden"))
        return
    await message.answer(t("codes.preparing"))
    await _send_sheet(message, person, t, codes_print=codes_print, school=school)


async def _send_sheet(
    message: Message, person: Person, t: Translator, *, codes_print: CodesPrint,
    school: SchoolConfig,
) -> None:
    assert person.class_label is not None
    sheet = await codes_print.print_cards(person.class_label, everyone=False, lang=t.lang)
    cls = html.escape(person.class_label)
    summary = left_out_summary(t, sheet.left_out) if sheet.left_out else ""
    if sheet.pdf is None:
        await message.answer("\n".join(filter(None, [t("codes.print_none", cls=cls), summary])))
    else:
        await message.answer_document(
            BufferedInputFile(sheet.pdf, filename=f"codes-{person.class_label}.pdf"),
            caption="\n".join(filter(None, [t("codes.print_caption", cls=cls, n=sheet.printed), summary])),
            protect_content=school.codes.protect_content,
        )
    if sheet.left_out:
        # Who is not on the sheet and why, so the class teacher knows whom to ask for consent.
        lines = [html.escape(line) for line in left_out_lines(t, sheet.left_out)]
        await message.answer("\n".join([t("codes.left_out_title"), *lines]))


# --- the IT officer: revoke and reissue ------------------------------------------------------------


@public
async def admin_start(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(CodeAdmin.waiting_name)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("codes.admin_ask_name"))


@child_data
async def admin_search(
    message: Message, t: Translator, state: FSMContext, *, access_log: AccessLog, people: PersonRepo,
) -> None:
    assert message.text is not None
    found = await find_people(people, message.text)
    # The log keeps who was found (ids), never the name typed.
    await access_log.record(AccessKind.PERSON_SEARCH, ",".join(str(p.id) for p in found))
    if not found:
        await message.answer(t("codes.admin_none"))
        return
    await state.clear()
    rows = [
        _button(person_label(p), CodeAdminPick(person_id=p.id))
        for p in found
    ]
    await message.answer(t("codes.admin_pick"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def _person_view(target: Person, t: Translator, codes: CodesService) -> tuple[str, InlineKeyboardMarkup]:
    lines = [t("codes.admin_person", name=html.escape(target.full_name))]
    rows: list[list[InlineKeyboardButton]] = []
    history = await codes.history(target.id)
    for code in history:
        mark = t("codes.activated_mark") if code.activated_at else ""
        lines.append(
            t("codes.admin_code_line", role=t(f"codes.role.{code.role}"), masked=html.escape(svc.mask(code.code)),
              status=t(f"codes.status.{code.status}"), activated=mark)
        )
        if code.active:
            rows.append(_button(t("codes.btn_revoke", masked=svc.mask(code.code)), CodeRevoke(code_id=code.id)))
    if not history:
        lines.append(t("codes.admin_no_codes"))
    groups = {c.role for c in history}
    own = svc.role_group(target.roles)
    if own:
        groups.add(own)
    for group in sorted(groups):
        rows.append(_button(t("codes.btn_issue", role=t(f"codes.role.{group}")),
                            CodeIssue(person_id=target.id, role=group)))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


@child_data
async def admin_pick(
    query: CallbackQuery, callback_data: CodeAdminPick, t: Translator, *, codes: CodesService, people: PersonRepo,
) -> None:
    target = await people.get(callback_data.person_id)
    if target is None or not target.active:
        await query.answer(t("codes.admin_none"), show_alert=True)
        return
    await query.answer()
    text, markup = await _person_view(target, t, codes)
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


@child_data
async def admin_revoke(
    query: CallbackQuery, callback_data: CodeRevoke, t: Translator, *, codes: CodesService,
    people: PersonRepo,
) -> None:
    code = await codes.code(callback_data.code_id)
    if code is None or not await codes.revoke(code.id):
        await query.answer(t("codes.revoke_gone"), show_alert=True)
        return
    await query.answer(t("codes.revoked_ok"))
    target = await people.get(code.person_id)
    if target is not None and isinstance(query.message, Message):
        text, markup = await _person_view(target, t, codes)
        await query.message.edit_text(text, reply_markup=markup)


@child_data
async def admin_issue(
    query: CallbackQuery, callback_data: CodeIssue, t: Translator, state: FSMContext, *, people: PersonRepo,
) -> None:
    target = await people.get(callback_data.person_id)
    if target is None or not target.active or callback_data.role not in ("staff", "parent", "student"):
        await query.answer(t("codes.admin_none"), show_alert=True)
        return
    await state.set_state(CodeAdmin.waiting_code)
    await state.update_data(code_person=target.id, code_role=callback_data.role)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("codes.issue_ask", name=Named(target.full_name, escape=True)))


@public
async def admin_code_typed(message: Message, t: Translator, state: FSMContext, *, codes: CodesService) -> None:
    assert message.text is not None
    data = await state.get_data()
    outcome = await codes.issue(int(data.get("code_person") or 0), str(data.get("code_role") or ""),
                              message.text)
    if outcome == "bad_code":
        await message.answer(t("codes.issue_bad"))
        return
    await state.clear()
    await message.answer(t(f"codes.issue_{outcome}"))


def build_router() -> Router:
    router = Router(name="codes")
    router.message.filter(IsLinked())
    router.callback_query.filter(IsLinked())
    router.message.register(my_codes, Command("codes"))
    router.message.register(my_codes, MenuButton("codes"))
    router.callback_query.register(show, CodeShow.filter())
    router.callback_query.register(activated, CodeActivated.filter())
    router.callback_query.register(trouble, CodeTrouble.filter())
    router.callback_query.register(print_class, CodePrint.filter(), HasRole(*CLASS_TEACHER_ROLES))
    router.message.register(class_sheet, Command("class_codes"), HasRole(*CLASS_TEACHER_ROLES))
    router.message.register(class_sheet, MenuButton("class_codes"), HasRole(*CLASS_TEACHER_ROLES))
    admin = HasRole(*ADMIN_ROLES)
    router.callback_query.register(admin_start, AdminAction.filter(F.action == "codes"), admin)
    router.message.register(admin_search, StateFilter(CodeAdmin.waiting_name), HasContent("text"), admin)
    router.callback_query.register(admin_pick, CodeAdminPick.filter(), admin)
    router.callback_query.register(admin_revoke, CodeRevoke.filter(), admin)
    router.callback_query.register(admin_issue, CodeIssue.filter(), admin)
    router.message.register(admin_code_typed, StateFilter(CodeAdmin.waiting_code), HasContent("text"), admin)
    return router
