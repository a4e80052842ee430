"""Plan tasks: /tasks and its pages, opening a task, snooze and /cancel, and the router for every
task handler: done-with-proof and review are handlers/tasks_proofs.py, deadline and role editing
handlers/tasks_edit.py."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.access import EDITOR_ROLES, STAFF_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.task_actions import Refused, TaskActions
from bot.services.tasks import TasksService
from bot.tg.callbacks import ProofAct, TaskAct, TaskEdit, TaskEditAction, TaskPage
from bot.tg.filters import HasContent, HasRole, MenuButton
from bot.tg.policy import personal, public
from bot.tg.task_views import render_list, render_task, when
from handlers.tasks_edit import date_typed, edit_deadline, edit_kind, edit_or_send, edit_roles, save_roles, toggle_role
from handlers.tasks_proofs import TaskStates, accept, done, proof_received, return_comment, return_start

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True


@personal
async def show_tasks(
    message: Message, person: Person, t: Translator, state: FSMContext, *, clock: Clock, school: SchoolConfig,
    tasks: TasksService,
) -> None:
    current = await state.get_state()
    if current is not None and current.startswith("TaskStates:"):
        await state.clear()  # asking for the list again abandons a half-done proof or edit
    snap = await tasks.snapshot()
    text, markup = render_list(snap, person, school.calendar.local_date(clock.now()), 0, t)
    await message.answer(text, reply_markup=markup)


@personal
async def page(
    query: CallbackQuery, callback_data: TaskPage, person: Person, t: Translator, *, clock: Clock, school: SchoolConfig,
    tasks: TasksService,
) -> None:
    snap = await tasks.snapshot()
    text, markup = render_list(snap, person, school.calendar.local_date(clock.now()), callback_data.page, t)
    await query.answer()
    await edit_or_send(query, text, markup)


@personal
async def open_task(
    query: CallbackQuery, callback_data: TaskAct, person: Person, t: Translator, *, clock: Clock, school: SchoolConfig,
    task_actions: TaskActions, tasks: TasksService,
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


@public
async def cancel(message: Message, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t("tasks.cancelled"))


@personal
async def snooze(
    query: CallbackQuery, callback_data: TaskAct, person: Person, t: Translator, *, school: SchoolConfig,
    task_actions: TaskActions,
) -> None:
    try:
        at = await task_actions.snooze(person, callback_data.item, callback_data.occ)
    except Refused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await query.answer(t("tasks.snoozed", when=when(school, at)), show_alert=True)


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
    router.callback_query.register(edit_deadline, TaskEdit.filter(F.action == TaskEditAction.DEADLINE))
    router.callback_query.register(edit_kind, TaskEdit.filter(F.action == TaskEditAction.KIND))
    router.callback_query.register(edit_roles, TaskEdit.filter(F.action == TaskEditAction.ROLES))
    router.callback_query.register(toggle_role, TaskEdit.filter(F.action == TaskEditAction.ROLE))
    router.callback_query.register(save_roles, TaskEdit.filter(F.action == TaskEditAction.SAVE))
    return router
