"""Acknowledgement campaigns for their authors and class teachers: send a plan document or a text
asking for «Ознакомлен(а)» (or a broadcast, from its preview), see who has not confirmed per class
and role, remind them, hand the coverage to the plan item."""

from __future__ import annotations

import io
import re
from html import escape
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.channels import DataClass
from bot.domain.access import SURVEY_AUTHOR_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.acks import MAX_DOCUMENT, PLAN_ITEMS, AckRefused, AcksService, Coverage
from bot.services.broadcast import Audience, AudienceError
from bot.services.tasks import TasksService
from bot.tg import survey_keyboards as kb
from bot.tg.callbacks import AckAdm, AckAdminAction
from bot.tg.filters import HasContent, HasRole
from bot.tg.policy import declare, personal, public, varies
from handlers.common import message_of
from storage.people import PersonRepo

STAFF_ONLY = True
LIST_LIMIT = 10
PENDING_SHOWN = 40


class AckNew(StatesGroup):
    content = State()  # waiting for the document or the text
    setup = State()  # plan item, audience, confirmation


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = message_of(query)
    if message is not None:
        await message.edit_text(text, reply_markup=markup)


def coverage_text(t: Translator, cov: Coverage) -> str:
    lines = [t("acks.view_head", title=escape(cov.campaign.title), confirmed=cov.confirmed, total=cov.total,
               pct=cov.pct, sha=cov.campaign.sha256[:16])]
    if cov.campaign.plan_item:
        lines.append(t("acks.view_item", n=cov.campaign.plan_item))
    if cov.by_class:
        lines.append(t("acks.by_class") + " " + ", ".join(
            f"{escape(g.name) or '—'} {g.confirmed}/{g.total} ({g.pct}%)" for g in cov.by_class))
    lines.append(t("acks.by_role") + " " + ", ".join(
        f"{t('roles.' + g.name)} {g.confirmed}/{g.total} ({g.pct}%)" for g in cov.by_role))
    if cov.pending:
        names = [f"• {escape(p.full_name)}" + (f" ({escape(target.class_label)})" if target.class_label else "")
                 for p, target in cov.pending[:PENDING_SHOWN]]
        more = len(cov.pending) - PENDING_SHOWN
        lines.append(t("acks.pending_head", n=len(cov.pending)) + "\n" + "\n".join(names)
                     + (f"\n{t('acks.more', n=more)}" if more > 0 else ""))
    else:
        lines.append(t("acks.all_confirmed"))
    return "\n".join(lines)


# Titles are staff's free text (#22): the list is personal unless each shown was marked by its author
# as naming no one.
@varies(DataClass.PERSONAL, DataClass.PUBLIC, by="the campaigns' titles: public when their authors marked them")
async def ack_list(query: CallbackQuery, person: Person, t: Translator, state: FSMContext, *,
                   acks: AcksService) -> None:
    await state.clear()
    await query.answer()
    items = []
    shown = (await acks.campaigns(person))[:LIST_LIMIT]
    declare(DataClass.PUBLIC if all(c.public_title for c in shown) else DataClass.PERSONAL)
    for campaign in shown:
        cov = await acks.coverage(campaign, person)
        items.append((campaign.id, t("acks.list_item", title=campaign.title, confirmed=cov.confirmed,
                                     total=cov.total)))
    author = person.has_role(*SURVEY_AUTHOR_ROLES)
    await _edit(query, t("acks.list") if items else t("acks.list_empty"), kb.ack_list(t, items, author=author))


@personal
async def view(query: CallbackQuery, callback_data: AckAdm, person: Person, t: Translator, *,
               acks: AcksService) -> None:
    campaign = next((c for c in await acks.campaigns(person) if c.id == callback_data.cid), None)
    if campaign is None:
        await query.answer(t("acks.expired"), show_alert=True)
        return
    await query.answer()
    cov = await acks.coverage(campaign, person)
    await _edit(query, coverage_text(t, cov),
                kb.ack_view(t, campaign.id, pending=bool(cov.pending), plan_item=campaign.plan_item))


@public
async def remind(query: CallbackQuery, callback_data: AckAdm, person: Person, t: Translator, *,
                 acks: AcksService) -> None:
    try:
        n = await acks.remind(person, callback_data.cid)
    except AckRefused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await query.answer(t("acks.reminded", n=n), show_alert=True)


@public
async def to_plan(query: CallbackQuery, callback_data: AckAdm, person: Person, t: Translator, *,
                  acks: AcksService) -> None:
    try:
        await acks.to_plan(person, callback_data.cid)
    except AckRefused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await query.answer(t("acks.sent_to_plan"), show_alert=True)


# --- a new campaign ---------------------------------------------------------------------------------


@public
async def new(query: CallbackQuery, person: Person, t: Translator, state: FSMContext) -> None:
    if not person.has_role(*SURVEY_AUTHOR_ROLES):
        await query.answer(t("acks.not_author"), show_alert=True)
        return
    await query.answer()
    await state.set_state(AckNew.content)
    await _edit(query, t("acks.ask_content"), InlineKeyboardMarkup(inline_keyboard=[kb.ack_cancel_row(t)]))


@public
async def document_received(message: Message, t: Translator, state: FSMContext) -> None:
    doc = message.document
    assert doc is not None
    if doc.file_size is not None and doc.file_size > MAX_DOCUMENT:
        await message.answer(t("acks.too_big"))
        return
    name = doc.file_name or "document.pdf"
    await state.set_state(AckNew.setup)
    await state.set_data({"ack_file": doc.file_id, "ack_name": name, "ack_title": Path(name).stem.replace("_", " "),
                          "ack_body": message.html_text if message.caption else escape(Path(name).stem)})
    await message.answer(t("acks.ask_item"), reply_markup=kb.ack_items(t, PLAN_ITEMS))


@public
async def text_received(message: Message, t: Translator, state: FSMContext) -> None:
    assert message.text is not None
    first = message.text.strip().splitlines()[0] if message.text.strip() else ""
    await state.set_state(AckNew.setup)
    await state.set_data({"ack_title": first[:120], "ack_body": message.html_text})
    await message.answer(t("acks.ask_item"), reply_markup=kb.ack_items(t, PLAN_ITEMS))


@public
async def item_chosen(query: CallbackQuery, callback_data: AckAdm, t: Translator, state: FSMContext) -> None:
    item = callback_data.arg
    if await state.get_state() != AckNew.setup.state or (item != "-" and item not in PLAN_ITEMS):
        await query.answer(t("acks.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(ack_item=None if item == "-" else item)
    await _edit(query, t("acks.ask_audience"), kb.ack_audiences(t))


@personal  # the confirmation shows the title as typed, before its author says whether it names anyone
async def audience_chosen(query: CallbackQuery, callback_data: AckAdm, t: Translator, state: FSMContext, *,
                          acks: AcksService, people: PersonRepo) -> None:
    arg = callback_data.arg
    if await state.get_state() != AckNew.setup.state:
        await query.answer(t("acks.expired"), show_alert=True)
        return
    if arg == "class":
        await query.answer()
        await _edit(query, t("acks.ask_class"), kb.ack_classes(t, await people.classes()))
        return
    try:
        audience = Audience.parse(arg.replace(".", ":", 1))
    except AudienceError:
        await query.answer(t("acks.expired"), show_alert=True)
        return
    if audience.kind == "class" and audience.value not in await people.classes():
        await query.answer(t("acks.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(ack_audience=str(audience))
    data = await state.get_data()
    targets = await acks.targets_for(audience)
    await _edit(query, t("acks.confirm", title=escape(str(data.get("ack_title", ""))),
                         audience=audience.describe(t), n=len(targets),
                         reachable=sum(p.reachable for p, _ in targets),
                         item=t("acks.item_btn", n=data["ack_item"]) if data.get("ack_item") else t("acks.no_item"))
                + "\n\n" + t("acks.class_note"),
                kb.ack_confirm_send(t))


@public
async def create(query: CallbackQuery, callback_data: AckAdm, bot: Bot, person: Person, t: Translator,
                 state: FSMContext, *, acks: AcksService) -> None:
    data = await state.get_data()
    if await state.get_state() != AckNew.setup.state or not data.get("ack_audience"):
        await query.answer(t("acks.expired"), show_alert=True)
        return
    document = None
    if data.get("ack_file"):
        buffer = io.BytesIO()
        await bot.download(str(data["ack_file"]), destination=buffer)
        document = buffer.getvalue()
    try:
        _, n, sent = await acks.create(
            person, title=str(data.get("ack_title") or ""), body=str(data.get("ack_body") or ""),
            audience=Audience.parse(str(data["ack_audience"])), plan_item=data.get("ack_item"),
            document=document, file_name=data.get("ack_name"), public=callback_data.arg == kb.ACK_PUBLIC,
        )
    except AckRefused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await _edit(query, t("acks.created", n=n, sent=sent))


@public
async def from_broadcast(query: CallbackQuery, person: Person, t: Translator, state: FSMContext, *,
                         acks: AcksService) -> None:
    """The broadcast being previewed goes out with «Ознакомлен(а)» (as a campaign, not a plain broadcast)."""
    data = await state.get_data()
    text = str(data.get("bc_text") or "")
    try:
        audience = Audience.parse(str(data.get("bc_audience", "")))
    except AudienceError:
        audience = None
    if not text or audience is None:
        await query.answer(t("acks.expired"), show_alert=True)
        return
    plain = re.sub(r"<[^>]+>", "", text).strip()
    title = plain.splitlines()[0][:120] if plain else t("acks.untitled")
    try:
        _, n, sent = await acks.create(person, title=title, body=text, audience=audience)
    except AckRefused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await _edit(query, t("acks.created", n=n, sent=sent))


@public
async def from_proof(query: CallbackQuery, callback_data: AckAdm, t: Translator, state: FSMContext, *,
                     tasks: TasksService) -> None:
    """An accepted plan document (a local act, an instruction) goes out asking for «Ознакомлен(а)»,
    as evidence for its own plan item: the audience is asked next."""
    proof = await tasks.get_proof(callback_data.cid)
    if proof is None or proof.status != "accepted" or proof.kind != "document" or not proof.file_id or (
            proof.item_number not in PLAN_ITEMS):
        await query.answer(t("acks.expired"), show_alert=True)
        return
    await query.answer()
    name = proof.file_name or "document.pdf"
    await state.set_state(AckNew.setup)
    await state.set_data({"ack_file": proof.file_id, "ack_name": name, "ack_title": Path(name).stem.replace("_", " "),
                          "ack_body": escape(Path(name).stem), "ack_item": proof.item_number})
    message = message_of(query)
    if message is not None:
        await message.answer(t("acks.ask_audience"), reply_markup=kb.ack_audiences(t))


@public
async def cancel(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await _edit(query, t("acks.cancelled"))


def build_router() -> Router:
    router = Router(name="acks_admin")
    viewers = HasRole(*SURVEY_AUTHOR_ROLES, "class_teacher")
    authors = HasRole(*SURVEY_AUTHOR_ROLES)
    for action, handler, allowed in (
        (AckAdminAction.LIST, ack_list, viewers), (AckAdminAction.VIEW, view, viewers),
        (AckAdminAction.REMIND, remind, viewers), (AckAdminAction.PLAN, to_plan, viewers),
        (AckAdminAction.NEW, new, authors), (AckAdminAction.ITEM, item_chosen, authors),
        (AckAdminAction.AUDIENCE, audience_chosen, authors), (AckAdminAction.CREATE, create, authors),
        (AckAdminAction.CANCEL, cancel, viewers), (AckAdminAction.FROM_BROADCAST, from_broadcast, authors),
        (AckAdminAction.FROM_PROOF, from_proof, authors),
    ):
        router.callback_query.register(handler, AckAdm.filter(F.action == action), allowed)
    router.message.register(document_received, StateFilter(AckNew.content), HasContent("document"), authors)
    router.message.register(text_received, StateFilter(AckNew.content), HasContent("text"), authors)
    return router
