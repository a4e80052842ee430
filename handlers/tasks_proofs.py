"""Plan tasks, done-with-proof and review: "done" asks for the proof (item 16 goes to the journal
backup log instead), the proof is received, and a reviewer accepts it or returns it with a comment.
Also holds `TaskStates`, the states of every task conversation (proof, comment, a deadline's date);
handlers/tasks.py builds the router."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.channels import Channel
from bot.domain.access import ADMIN_ROLE, REVIEWER_ROLES, SURVEY_AUTHOR_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services import task_actions as actions
from bot.services import tasks as svc
from bot.services.acks import PLAN_ITEMS as ACK_ITEMS
from bot.services.outbox import Outbox
from bot.services.task_actions import Refused, TaskActions
from bot.services.tasks import TasksService
from bot.tg.callbacks import ProofAct, TaskAct
from bot.tg.policy import personal
from bot.tg.survey_keyboards import ack_from_proof
from handlers.status import JournalFlow

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True


class TaskStates(StatesGroup):
    waiting_proof = State()
    waiting_comment = State()
    waiting_date = State()


@personal
async def done(
    query: CallbackQuery, callback_data: TaskAct, person: Person, t: Translator, state: FSMContext, *,
    task_actions: TaskActions,
) -> None:
    try:
        snap, task = await task_actions.checked_task(person, callback_data.item, callback_data.occ, responsible=True)
    except Refused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    if snap.accepted(task):
        await query.answer(t("tasks.already_accepted"), show_alert=True)
        return
    quarter = svc.quarter_of(task)
    if task.item.number == svc.JOURNAL_ITEM and quarter is not None and person.has_role(ADMIN_ROLE):
        # Item 16 is done by logging the backup itself (which medium, then a photo): the backup log
        # is the one record of it, read by /tasks, reminders, /status and the reports alike.
        await state.set_state(JournalFlow.waiting_label)
        await state.update_data(journal_quarter=quarter)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("status.journal.ask_label"))
        return
    await state.set_state(TaskStates.waiting_proof)
    await state.update_data(task_item=task.item.number, task_occ=task.key)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t(
                "tasks.ask_proof",
                number=task.item.number,
                text=svc.esc(svc.shorten(task.item.text, 300)),
                proof=svc.esc(task.item.proof or t("tasks.proof_any")),
            )
        )


@personal
async def proof_received(
    message: Message, person: Person, t: Translator, state: FSMContext, channel: Channel = Channel.TELEGRAM,
    *, task_actions: TaskActions, outbox: Outbox,
) -> None:
    # A menu button pressed while a proof is awaited never arrives here: it leaves the flow first
    # (bot.tg.middlewares.MenuLeavesFlow), so a label is never taken as a text proof.
    data = await state.get_data()
    number, key = str(data.get("task_item", "")), str(data.get("task_occ", ""))
    if message.document is not None:
        doc = message.document
        proof = actions.ProofInput(
            kind="document",
            body=message.caption,
            file_id=doc.file_id,
            file_unique_id=doc.file_unique_id,
            file_name=doc.file_name,
        )
    elif message.photo:
        photo = message.photo[-1]  # the largest size
        proof = actions.ProofInput(
            kind="photo", body=message.caption, file_id=photo.file_id, file_unique_id=photo.file_unique_id
        )
    elif message.text and not message.text.startswith("/"):
        proof = actions.text_proof(message.text)
    else:
        await message.answer(t("tasks.proof_bad"))
        return
    try:
        _, saved = await task_actions.submit_proof_answered(person, number, key, proof, saved_lang=t.lang)
    except Refused as exc:
        await state.clear()
        await message.answer(t(exc.key))
        return
    await state.clear()
    # The confirmation was queued with the proof: given here, or by the outbox if this worker cannot.
    if saved is not None and message.from_user is not None:
        sent = await message.answer(saved.payload.text or "")
        await outbox.answered(saved, message_id=sent.message_id, channel=channel, user_id=message.from_user.id)


# --- review ---------------------------------------------------------------------------------------


@personal
async def accept(
    query: CallbackQuery, callback_data: ProofAct, person: Person, t: Translator, *, task_actions: TaskActions,
) -> None:
    try:
        proof = await task_actions.review(person, callback_data.proof_id, accept=True, comment=None)
    except Refused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await query.answer(t("tasks.review.done_accept"))
    if isinstance(query.message, Message):
        # An accepted local act or instruction (items 5-7, 12-14) can go out asking for «Ознакомлен(а)».
        markup = None
        if proof.kind == "document" and proof.file_id and proof.item_number in ACK_ITEMS and person.has_role(
                *SURVEY_AUTHOR_ROLES):
            markup = InlineKeyboardMarkup(inline_keyboard=[[ack_from_proof(t, proof.id)]])
        await query.message.answer(t("tasks.review.done_accept"), reply_markup=markup)


@personal
async def return_start(
    query: CallbackQuery, callback_data: ProofAct, person: Person, t: Translator, state: FSMContext, *,
    tasks: TasksService,
) -> None:
    proof = await tasks.get_proof(callback_data.proof_id)
    if not person.roles & REVIEWER_ROLES:
        await query.answer(t("tasks.review.not_allowed"), show_alert=True)
        return
    if proof is None or proof.status != "submitted":
        await query.answer(t("tasks.review.already"), show_alert=True)
        return
    await state.set_state(TaskStates.waiting_comment)
    await state.update_data(proof_id=proof.id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("tasks.review.ask_comment"))


@personal
async def return_comment(
    message: Message, person: Person, t: Translator, state: FSMContext, *, task_actions: TaskActions,
) -> None:
    assert message.text is not None
    data = await state.get_data()
    await state.clear()
    try:
        proof_id = int(data.get("proof_id", 0))
        await task_actions.review(person, proof_id, accept=False, comment=message.text.strip()[:1000])
    except Refused as exc:
        await message.answer(t(exc.key))
        return
    await message.answer(t("tasks.review.done_return"))
