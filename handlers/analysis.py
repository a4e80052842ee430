"""/analysis: plan item 18's document - the year's analysis and next year's tasks as a PDF - for the
IT officer and the director; the IT officer edits the tasks by sending them as text."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.access import ADMIN_ROLE, ADMIN_ROLES, MANAGER_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services import analysis as svc
from bot.services.analysis import AnalysisService
from bot.tg.callbacks import AnalysisAction
from bot.tg.filters import HasRole, PlainText
from bot.tg.policy import personal_file, public


class AnalysisFlow(StatesGroup):
    waiting_tasks = State()


async def _send(
    message: Message, person: Person, t: Translator, intro: str, *, analysis: AnalysisService,
) -> None:
    found = await analysis.collect(t)
    data, name = await analysis.pdf_bytes(t)
    tasks = "\n".join(f"{i}. {escape(task)}" for i, task in enumerate(found.tasks, start=1))
    markup = None
    if person.has_role(ADMIN_ROLE):
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=t("analysis.btn_edit"),
                                                   callback_data=AnalysisAction(action="edit").pack())]]
        )
    await message.answer_document(BufferedInputFile(data, filename=name), caption=intro)
    await message.answer(t("analysis.tasks_now", tasks=tasks), reply_markup=markup)


@personal_file
async def show(
    message: Message, person: Person, t: Translator, state: FSMContext, *,
    analysis: AnalysisService,
) -> None:
    await state.clear()
    found = await analysis.collect(t)
    await _send(
        message,
        person,
        t,
        t("analysis.sending_edited" if found.tasks_edited else "analysis.sending"),
        analysis=analysis,
    )


@public
async def edit(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(AnalysisFlow.waiting_tasks)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("analysis.ask_tasks"))


@personal_file
async def tasks_received(
    message: Message, person: Person, t: Translator, state: FSMContext, *,
    analysis: AnalysisService,
) -> None:
    assert message.text is not None
    try:
        tasks = await analysis.save_tasks(message.text, by=person.id)
    except svc.TasksError as exc:
        await message.answer(t(exc.key))
        return
    await state.clear()
    await _send(message, person, t, t("analysis.saved", n=len(tasks)), analysis=analysis)


@public
async def cancel(message: Message, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await message.answer(t("tasks.cancelled"))


def build_router() -> Router:
    router = Router(name="analysis")
    router.message.register(show, Command("analysis"), HasRole(*MANAGER_ROLES))
    router.callback_query.register(edit, AnalysisAction.filter(F.action == "edit"), HasRole(*ADMIN_ROLES))
    router.message.register(cancel, Command("cancel"), StateFilter(AnalysisFlow))
    router.message.register(
        tasks_received, StateFilter(AnalysisFlow.waiting_tasks), PlainText(), HasRole(*ADMIN_ROLES)
    )
    return router
