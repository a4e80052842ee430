"""Plan tasks: /tasks, opening a task, done-with-proof, review, snooze, deadline/role editing."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.access import ADMIN_ROLE, EDITOR_ROLES, REVIEWER_ROLES, STAFF_ROLES
from bot.domain.calendar import deadline_words
from bot.domain.people import Person
from bot.i18n import Catalog, Translator
from bot.services import task_actions as actions
from bot.services import tasks as svc
from bot.services.task_actions import Refused, TaskActions
from bot.services.tasks import TasksService
from bot.tg.callbacks import ProofAct, TaskAct, TaskEdit, TaskPage
from bot.tg.filters import HasContent, HasRole, MenuButton
from bot.tg.menu import menu_entry_of
from bot.tg.task_views import render_list, render_task, when
from handlers.status import JournalFlow

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True


class TaskStates(StatesGroup):
    waiting_proof = State()
    waiting_comment = State()
    waiting_date = State()


async def _edit_or_send(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


async def show_tasks(
    message: Message,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    clock: Clock,
    school: SchoolConfig,
    tasks: TasksService,
) -> None:
    current = await state.get_state()
    if current is not None and current.startswith("TaskStates:"):
        await state.clear()  # asking for the list again abandons a half-done proof or edit
    snap = await tasks.snapshot()
    text, markup = render_list(snap, person, school.calendar.local_date(clock.now()), 0, t)
    await message.answer(text, reply_markup=markup)


async def page(
    query: CallbackQuery,
    callback_data: TaskPage,
    person: Person,
    t: Translator,
    *,
    clock: Clock,
    school: SchoolConfig,
    tasks: TasksService,
) -> None:
    snap = await tasks.snapshot()
    text, markup = render_list(snap, person, school.calendar.local_date(clock.now()), callback_data.page, t)
    await query.answer()
    await _edit_or_send(query, text, markup)


async def open_task(
    query: CallbackQuery,
    callback_data: TaskAct,
    person: Person,
    t: Translator,
    *,
    clock: Clock,
    school: SchoolConfig,
    task_actions: TaskActions,
    tasks: TasksService,
) -> None:
    try:
        snap, task = await task_actions.checked_task(person, callback_data.item, callback_data.occ, responsible=False)
    except Refused as exc:
        # The IT officer may open unset items that are not theirs, to set a deadline.
        snap = await tasks.snapshot()
        maybe = snap.task(callback_data.item, callback_data.occ)
        if maybe is None or not person.roles & EDITOR_ROLES:
            await query.answer(t(exc.key), show_alert=True)
            return
        task = maybe
    text, markup = render_task(school, snap, task, person, school.calendar.local_date(clock.now()), t)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


async def done(
    query: CallbackQuery,
    callback_data: TaskAct,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
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


async def proof_received(
    message: Message,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    catalog: Catalog,
    task_actions: TaskActions,
) -> None:
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
    elif message.text and menu_entry_of(message.text, catalog) is not None:
        # Pressing a menu button while a proof is awaited means "never mind", not a text proof.
        await state.clear()
        await message.answer(t("tasks.cancelled"))
        return
    elif message.text and not message.text.startswith("/"):
        proof = actions.text_proof(message.text)
    else:
        await message.answer(t("tasks.proof_bad"))
        return
    try:
        await task_actions.submit_proof(person, number, key, proof)
    except Refused as exc:
        await state.clear()
        await message.answer(t(exc.key))
        return
    await state.clear()
    await message.answer(t("tasks.proof_saved", number=number))


async def cancel(message: Message, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t("tasks.cancelled"))


async def snooze(
    query: CallbackQuery,
    callback_data: TaskAct,
    person: Person,
    t: Translator,
    *,
    school: SchoolConfig,
    task_actions: TaskActions,
) -> None:
    try:
        at = await task_actions.snooze(person, callback_data.item, callback_data.occ)
    except Refused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await query.answer(t("tasks.snoozed", when=when(school, at)), show_alert=True)


# --- review ---------------------------------------------------------------------------------------


async def accept(
    query: CallbackQuery,
    callback_data: ProofAct,
    person: Person,
    t: Translator,
    *,
    task_actions: TaskActions,
) -> None:
    try:
        await task_actions.review(person, callback_data.proof_id, accept=True, comment=None)
    except Refused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await query.answer(t("tasks.review.done_accept"))
    if isinstance(query.message, Message):
        await query.message.answer(t("tasks.review.done_accept"))


async def return_start(
    query: CallbackQuery,
    callback_data: ProofAct,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
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


async def return_comment(
    message: Message,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    task_actions: TaskActions,
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


# --- editing (IT officer) -------------------------------------------------------------------------


def _kinds_markup(number: str, t: Translator) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=t(f"tasks.edit.kind.{k}"), callback_data=TaskEdit(action="kind", item=number, value=k).pack()
        )
        for k in actions.EDIT_KINDS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def _roles_markup(number: str, chosen: set[str], t: Translator) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=("☑️ " if role in chosen else "⬜️ ") + t(f"roles.{role}"),
                callback_data=TaskEdit(action="role", item=number, value=role).pack(),
            )
        ]
        for role in actions.STAFF_EDIT_ROLES
    ]
    rows.append(
        [InlineKeyboardButton(text=t("tasks.btn.save"), callback_data=TaskEdit(action="save", item=number).pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def edit(
    query: CallbackQuery,
    callback_data: TaskEdit,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    task_actions: TaskActions,
    tasks: TasksService,
) -> None:
    if not person.roles & EDITOR_ROLES:
        await query.answer(t("tasks.edit.not_allowed"), show_alert=True)
        return
    item = await tasks.get_item(callback_data.item)
    if item is None:
        await query.answer(t("tasks.gone"), show_alert=True)
        return
    action, number = callback_data.action, item.number
    if action == "deadline":
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(
                t("tasks.edit.choose_kind", number=number), reply_markup=_kinds_markup(number, t)
            )
    elif action == "kind":
        kind = callback_data.value
        if kind not in actions.EDIT_KINDS:
            await query.answer(t("tasks.edit.bad_kind"), show_alert=True)
            return
        if kind in actions.DATE_KINDS:
            await state.set_state(TaskStates.waiting_date)
            await state.update_data(edit_item=number, edit_kind=kind)
            await query.answer()
            await _edit_or_send(query, t("tasks.edit.ask_date"), None)
            return
        new = await task_actions.set_deadline(person, number, kind, None)
        await query.answer()
        await _edit_or_send(
            query, t("tasks.edit.saved", number=number, deadline=deadline_words(new.deadline, None, t.lang)), None
        )
    elif action == "roles":
        await state.update_data(edit_item=number, edit_roles=list(item.responsible))
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(
                t("tasks.edit.roles_title", number=number), reply_markup=_roles_markup(number, set(item.responsible), t)
            )
    elif action == "role":
        data = await state.get_data()
        chosen = set(data.get("edit_roles") or []) if data.get("edit_item") == number else set(item.responsible)
        if callback_data.value not in actions.STAFF_EDIT_ROLES:
            await query.answer(t("tasks.edit.no_roles"), show_alert=True)
            return
        chosen ^= {callback_data.value}
        await state.update_data(edit_item=number, edit_roles=sorted(chosen))
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=_roles_markup(number, chosen, t))
    elif action == "save":
        data = await state.get_data()
        picked = list(data.get("edit_roles") or []) if data.get("edit_item") == number else list(item.responsible)
        try:
            new = await task_actions.set_roles(person, number, picked)
        except Refused as exc:
            await query.answer(t(exc.key), show_alert=True)
            return
        await state.update_data(edit_item=None, edit_roles=None)
        await query.answer()
        roles = ", ".join(t(f"roles.{r}") for r in new.responsible)
        await _edit_or_send(query, t("tasks.edit.roles_saved", number=number, roles=roles), None)
    else:
        await query.answer(t("fallback.button_unavailable"), show_alert=True)


async def date_typed(
    message: Message,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    task_actions: TaskActions,
) -> None:
    assert message.text is not None
    day = actions.parse_day(message.text)
    if day is None:
        await message.answer(t("tasks.edit.bad_date"))
        return
    data = await state.get_data()
    await state.clear()
    number, kind = str(data.get("edit_item", "")), str(data.get("edit_kind", ""))
    try:
        new = await task_actions.set_deadline(person, number, kind, day)
    except Refused as exc:
        await message.answer(t(exc.key))
        return
    await message.answer(t("tasks.edit.saved", number=number, deadline=deadline_words(new.deadline, None, t.lang)))


def build_router() -> Router:
    router = Router(name="tasks")
    router.message.filter(HasRole(*STAFF_ROLES))
    router.callback_query.filter(HasRole(*STAFF_ROLES))
    router.message.register(cancel, Command("cancel"), StateFilter(TaskStates))
    router.message.register(show_tasks, Command("tasks"))
    router.message.register(show_tasks, MenuButton("tasks"))
    router.message.register(proof_received, StateFilter(TaskStates.waiting_proof))
    router.message.register(return_comment, StateFilter(TaskStates.waiting_comment), HasContent("text"))
    router.message.register(date_typed, StateFilter(TaskStates.waiting_date), HasContent("text"))
    router.callback_query.register(page, TaskPage.filter())
    router.callback_query.register(open_task, TaskAct.filter(F.action == "open"))
    router.callback_query.register(done, TaskAct.filter(F.action == "done"))
    router.callback_query.register(snooze, TaskAct.filter(F.action == "snooze"))
    router.callback_query.register(accept, ProofAct.filter(F.action == "accept"))
    router.callback_query.register(return_start, ProofAct.filter(F.action == "return"))
    router.callback_query.register(edit, TaskEdit.filter())
    return router
