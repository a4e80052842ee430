"""Plan tasks, editing by the IT officer: a deadline (its kind, then a date typed where the kind
needs one) and the responsible roles (toggled, then saved). Also holds `edit_or_send`, the edit of
the pressed message the task handlers share; handlers/tasks.py builds the router."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.access import EDITOR_ROLES
from bot.domain.calendar import deadline_words
from bot.domain.people import Person
from bot.domain.plan import PlanItem
from bot.i18n import Translator
from bot.services import task_actions as actions
from bot.services.task_actions import Refused, TaskActions
from bot.services.tasks import TasksService
from bot.tg.callbacks import TaskEdit
from bot.tg.policy import personal
from handlers.tasks_proofs import TaskStates

# Every callback of this module is for staff only (tests/test_access.py relies on it).
STAFF_ONLY = True


async def edit_or_send(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


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


async def _editable(
    query: CallbackQuery, callback_data: TaskEdit, person: Person, t: Translator, tasks: TasksService,
) -> PlanItem | None:
    """The plan item a button names, if this person may edit it; otherwise None, said to them."""
    if not person.roles & EDITOR_ROLES:
        await query.answer(t("tasks.edit.not_allowed"), show_alert=True)
        return None
    item = await tasks.get_item(callback_data.item)
    if item is None:
        await query.answer(t("tasks.gone"), show_alert=True)
    return item


@personal
async def edit_deadline(
    query: CallbackQuery, callback_data: TaskEdit, person: Person, t: Translator, *, tasks: TasksService,
) -> None:
    item = await _editable(query, callback_data, person, t, tasks)
    if item is None:
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t("tasks.edit.choose_kind", number=item.number), reply_markup=_kinds_markup(item.number, t)
        )


@personal
async def edit_kind(
    query: CallbackQuery, callback_data: TaskEdit, person: Person, t: Translator, state: FSMContext, *,
    task_actions: TaskActions, tasks: TasksService,
) -> None:
    item = await _editable(query, callback_data, person, t, tasks)
    if item is None:
        return
    number, kind = item.number, callback_data.value
    if kind not in actions.EDIT_KINDS:
        await query.answer(t("tasks.edit.bad_kind"), show_alert=True)
        return
    if kind in actions.DATE_KINDS:
        await state.set_state(TaskStates.waiting_date)
        await state.update_data(edit_item=number, edit_kind=kind)
        await query.answer()
        await edit_or_send(query, t("tasks.edit.ask_date"), None)
        return
    new = await task_actions.set_deadline(person, number, kind, None)
    await query.answer()
    await edit_or_send(
        query, t("tasks.edit.saved", number=number, deadline=deadline_words(new.deadline, None, t.lang)), None
    )


@personal
async def edit_roles(
    query: CallbackQuery, callback_data: TaskEdit, person: Person, t: Translator, state: FSMContext, *,
    tasks: TasksService,
) -> None:
    item = await _editable(query, callback_data, person, t, tasks)
    if item is None:
        return
    await state.update_data(edit_item=item.number, edit_roles=list(item.responsible))
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t("tasks.edit.roles_title", number=item.number),
            reply_markup=_roles_markup(item.number, set(item.responsible), t),
        )


@personal
async def toggle_role(
    query: CallbackQuery, callback_data: TaskEdit, person: Person, t: Translator, state: FSMContext, *,
    tasks: TasksService,
) -> None:
    item = await _editable(query, callback_data, person, t, tasks)
    if item is None:
        return
    number = item.number
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


@personal
async def save_roles(
    query: CallbackQuery, callback_data: TaskEdit, person: Person, t: Translator, state: FSMContext, *,
    task_actions: TaskActions, tasks: TasksService,
) -> None:
    item = await _editable(query, callback_data, person, t, tasks)
    if item is None:
        return
    number = item.number
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
    await edit_or_send(query, t("tasks.edit.roles_saved", number=number, roles=roles), None)


@personal
async def date_typed(
    message: Message, person: Person, t: Translator, state: FSMContext, *, task_actions: TaskActions,
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
