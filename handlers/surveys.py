"""Answering a survey: /surveys (or the menu's button) lists what a person is asked; a question at a
time with buttons (a number or a short text typed as a message); the answer to any question can be
changed until the deadline (its buttons stay, and "change answers" walks through them all again);
"later" stops, and the list or a reminder's button resumes at the first unanswered question. Every
press is checked on the server: only a respondent, only an open survey, only an existing choice.
A survey about a child or a family is personal data: where the channel policy keeps it off this
messenger, the pointer is sent instead of the questions."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.channels import Channel, DataClass
from bot.domain.access import SURVEY_AUTHOR_ROLES
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.domain.surveys import Question
from bot.i18n import Translator
from bot.services.outbox import Outbox
from bot.services.surveys import AnswerResult, SurveysService, Then, title_class
from bot.tg import survey_keyboards as kb
from bot.tg.callbacks import SurveyAction, SurveyCb
from bot.tg.filters import IsLinked, MenuButton, PlainText
from bot.tg.policy import declare, public, varies
from handlers.common import message_of
from storage.surveys import SurveyRow

# A survey's questions and answers carry the survey's own class, fixed when it was created from its
# audience and content (bot/services/surveys.py): a staff survey can name colleagues (personal); one
# of pupils or parents, or about a family, can name a child (child data). Declared as soon as the
# survey is known, before any answer (a toast too) is sent; child data until then.
by_survey = varies(
    DataClass.CHILD_PERSONAL, DataClass.PERSONAL,
    by="the survey's: staff → personal; pupils, parents or about a family → child_personal",
)


class SurveyFlow(StatesGroup):
    typing = State()  # a number or a short text for question `svq` of survey `svs`


def answer_words(t: Translator, q: Question, value: Any) -> str:
    if value is None:
        return t("surveys.ask.skipped")
    if q.kind == "multi":
        return ", ".join(q.choices[i] for i in value if 0 <= i < len(q.choices))
    if q.kind == "single":
        return q.choices[value] if 0 <= value < len(q.choices) else "?"
    return str(value)


def question_text(t: Translator, survey: SurveyRow, index: int, answers: dict[int, Any]) -> str:
    questions = SurveysService.questions(survey)
    q = questions[index]
    text = t("surveys.ask.question", title=escape(survey.title), i=index + 1, n=len(questions), text=escape(q.text))
    hint = {"multi": "surveys.ask.hint_multi", "number": "surveys.ask.hint_number", "text": "surveys.ask.hint_text"}
    if q.kind in hint:
        text += "\n\n" + t(hint[q.kind])
    if index in answers and q.kind != "multi":
        text += "\n\n" + t("surveys.ask.current", answer=escape(answer_words(t, q, answers[index])))
    return text


def _declared(result: AnswerResult) -> AnswerResult:
    """What follows carries the survey's own class (bot/tg/policy.py decides at the send, replacing it
    by the pointer where the channel may not carry it); a survey not found keeps the bound."""
    if result.survey is not None:
        declare(DataClass(result.survey.data_class))
    return result


async def _refuse(query: CallbackQuery, t: Translator, result: AnswerResult) -> None:
    key = {"closed": "surveys.closed", "not_respondent": "surveys.not_respondent", "bad": "surveys.bad_answer"}
    title = escape(result.survey.title) if result.survey is not None else ""
    await query.answer(t(key.get(result.status, "surveys.expired"), title=title), show_alert=True)


async def _ask(message: Message, t: Translator, state: FSMContext, survey: SurveyRow, index: int,
               answers: dict[int, Any], *, walk: bool) -> None:
    q = SurveysService.questions(survey)[index]
    if q.kind in ("number", "text"):
        await state.set_state(SurveyFlow.typing)
        await state.update_data(svs=survey.id, svq=index, svw=walk)
    else:
        await state.clear()
    await message.answer(question_text(t, survey, index, answers),
                         reply_markup=kb.question(t, survey.id, index, q, answers.get(index), walk=walk))


def _next_index(result: AnswerResult, after: int, walk: bool, surveys: SurveysService) -> int | None:
    """The question after `after` (walking: simply the next one); None: the end."""
    survey = result.survey
    assert survey is not None
    total = len(SurveysService.questions(survey))
    return (after + 1 if after + 1 < total else None) if walk else surveys.next_question(survey, result.answers, after)


def _next_payload(t: Translator, result: AnswerResult, after: int, walk: bool, surveys: SurveysService) -> Payload:
    """What follows an answer: the next question, or the thanks."""
    survey = result.survey
    assert survey is not None
    nxt = _next_index(result, after, walk, surveys)
    if nxt is not None:
        q = SurveysService.questions(survey)[nxt]
        markup = kb.question(t, survey.id, nxt, q, result.answers.get(nxt), walk=walk)
        text = question_text(t, survey, nxt, result.answers)
        return Payload(text=text, reply_markup=markup.model_dump(exclude_none=True))
    text = t("surveys.ask.thanks", title=escape(survey.title), deadline=surveys.format_day(survey.deadline))
    return Payload(text=text, reply_markup=kb.finished(t, survey.id).model_dump(exclude_none=True))


def _then(t: Translator, after: int, walk: bool, surveys: SurveysService) -> Then:
    """For the service: what follows the answer, composed inside its transaction and queued with it
    (a single choice, a skip, a typed answer; nothing yet for a multiple choice, which waits for
    "done")."""

    def then(result: AnswerResult) -> Payload | None:
        assert result.survey is not None
        if SurveysService.questions(result.survey)[after].kind == "multi":
            return None
        return _next_payload(t, result, after, walk, surveys)

    return then


async def _give_next(message: Message, t: Translator, state: FSMContext, result: AnswerResult, after: int, *,
                     walk: bool, surveys: SurveysService, outbox: Outbox, channel: Channel, user_id: int) -> None:
    """After an answer: what was queued with it (the next question, or the thanks), given here; the
    conversation's state follows it (a typed question waits for the text)."""
    survey = result.survey
    assert survey is not None and result.then is not None
    nxt = _next_index(result, after, walk, surveys)
    if nxt is not None and SurveysService.questions(survey)[nxt].kind in ("number", "text"):
        await state.set_state(SurveyFlow.typing)
        await state.update_data(svs=survey.id, svq=nxt, svw=walk)
    else:
        await state.clear()
    payload = result.then.payload
    sent = await message.answer(
        payload.text or "",
        reply_markup=InlineKeyboardMarkup.model_validate(payload.reply_markup) if payload.reply_markup else None,
    )
    await outbox.answered(result.then, message_id=sent.message_id, channel=channel, user_id=user_id)


async def _go_on(message: Message, t: Translator, state: FSMContext, result: AnswerResult, after: int, *,
                 walk: bool, surveys: SurveysService) -> None:
    """After "done" on a multiple choice (nothing written): the next question, or the end."""
    survey = result.survey
    assert survey is not None
    nxt = _next_index(result, after, walk, surveys)
    if nxt is not None:
        await _ask(message, t, state, survey, nxt, result.answers, walk=walk)
        return
    await state.clear()
    await message.answer(t("surveys.ask.thanks", title=escape(survey.title),
                           deadline=surveys.format_day(survey.deadline)),
                         reply_markup=kb.finished(t, survey.id))


async def _mark_answered(query: CallbackQuery, t: Translator, survey: SurveyRow, index: int,
                         answers: dict[int, Any], walk: bool) -> None:
    """The question's own message shows the answer now; its buttons stay to change it."""
    message = message_of(query)
    if message is None:
        return
    q = SurveysService.questions(survey)[index]
    await message.edit_text(question_text(t, survey, index, answers),
                            reply_markup=kb.question(t, survey.id, index, q, answers.get(index), walk=walk))


# --- the list ---------------------------------------------------------------------------------------


@varies(DataClass.PERSONAL, DataClass.PUBLIC,
        by="the surveys' titles: a shipped template's is public, one from a staff file personal")
async def my_surveys(message: Message, person: Person, t: Translator, state: FSMContext, *,
                     surveys: SurveysService) -> None:
    await state.clear()
    items = []
    mine = await surveys.mine(person)
    declare(DataClass.PUBLIC if all(title_class(s) is DataClass.PUBLIC for s, _, _ in mine) else DataClass.PERSONAL)
    for survey, _, answers in mine:
        total = len(SurveysService.questions(survey))
        items.append((survey.id, t("surveys.ask.list_item", title=survey.title, answered=len(answers), total=total,
                                   deadline=surveys.format_day(survey.deadline))))
    manage = person.has_role(*SURVEY_AUTHOR_ROLES)
    # Acknowledgement campaigns: their authors, and class teachers for their own class.
    acks = manage or person.has_role("class_teacher")
    text = t("surveys.ask.list") if items else t("surveys.ask.none")
    await message.answer(text, reply_markup=kb.my_surveys(t, items, manage=manage, acks=acks))


# --- answering --------------------------------------------------------------------------------------


@by_survey
async def open_survey(query: CallbackQuery, callback_data: SurveyCb, person: Person, t: Translator,
                      state: FSMContext, channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService) -> None:
    """Start or resume: the first unanswered question (or, all answered, the offer to change them)."""
    result = _declared(await surveys.state(person, callback_data.sid))
    message = message_of(query)
    if result.status != "ok" or result.survey is None or message is None:
        await _refuse(query, t, result)
        return
    await query.answer()
    index = surveys.next_question(result.survey, result.answers)
    if index is None:
        await message.answer(t("surveys.ask.all_done", deadline=surveys.format_day(result.survey.deadline)),
                             reply_markup=kb.finished(t, result.survey.id))
        return
    await _ask(message, t, state, result.survey, index, result.answers, walk=False)


@by_survey
async def review(query: CallbackQuery, callback_data: SurveyCb, person: Person, t: Translator, state: FSMContext,
                 channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService) -> None:
    result = _declared(await surveys.state(person, callback_data.sid))
    message = message_of(query)
    if result.status != "ok" or result.survey is None or message is None:
        await _refuse(query, t, result)
        return
    await query.answer()
    await _ask(message, t, state, result.survey, 0, result.answers, walk=True)


@by_survey
async def choose(query: CallbackQuery, callback_data: SurveyCb, person: Person, t: Translator, state: FSMContext,
                 channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService, outbox: Outbox) -> None:
    cb = callback_data
    # A multiple choice waits for "done"; any other choice moves on, with what follows queued with it.
    result = _declared(await surveys.choose(person, cb.sid, cb.q, cb.v, _then(t, cb.q, cb.w, surveys)))
    message = message_of(query)
    if result.status != "ok" or result.survey is None:
        await _refuse(query, t, result)
        return
    await query.answer(t("surveys.ask.saved"))
    if message is None:
        return  # what follows was queued with the answer: the outbox gives it
    await _mark_answered(query, t, result.survey, cb.q, result.answers, cb.w)
    if result.then is not None:
        await _give_next(message, t, state, result, cb.q, walk=cb.w, surveys=surveys, outbox=outbox,
                         channel=channel, user_id=query.from_user.id)


@by_survey
async def multi_done(query: CallbackQuery, callback_data: SurveyCb, person: Person, t: Translator,
                     state: FSMContext, channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService) -> None:
    cb = callback_data
    result = _declared(await surveys.state(person, cb.sid))
    message = message_of(query)
    if result.status != "ok" or result.survey is None or message is None:
        await _refuse(query, t, result)
        return
    if not result.answers.get(cb.q):
        await query.answer(t("surveys.ask.pick_one"), show_alert=True)
        return
    await query.answer()
    await _go_on(message, t, state, result, cb.q, walk=cb.w, surveys=surveys)


@by_survey
async def skip(query: CallbackQuery, callback_data: SurveyCb, person: Person, t: Translator, state: FSMContext,
               channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService, outbox: Outbox) -> None:
    cb = callback_data
    result = _declared(await surveys.skip(person, cb.sid, cb.q, _then(t, cb.q, cb.w, surveys)))
    message = message_of(query)
    if result.status != "ok" or result.survey is None or message is None:
        await _refuse(query, t, result)
        return
    await query.answer()
    await _mark_answered(query, t, result.survey, cb.q, result.answers, cb.w)
    if result.then is not None:
        await _give_next(message, t, state, result, cb.q, walk=cb.w, surveys=surveys, outbox=outbox,
                         channel=channel, user_id=query.from_user.id)


@public
async def later(query: CallbackQuery, callback_data: SurveyCb, t: Translator, state: FSMContext, *,
                surveys: SurveysService) -> None:
    await state.clear()
    await query.answer()
    survey = await surveys.survey(callback_data.sid)
    message = message_of(query)
    if message is not None and survey is not None:
        await message.answer(t("surveys.ask.later", deadline=surveys.format_day(survey.deadline)))


@by_survey
async def typed(message: Message, person: Person, t: Translator, state: FSMContext,
                channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService, outbox: Outbox) -> None:
    data = await state.get_data()
    sid, index, walk = int(data.get("svs", 0)), int(data.get("svq", 0)), bool(data.get("svw"))
    assert message.text is not None
    result = _declared(await surveys.typed(person, sid, index, message.text, _then(t, index, walk, surveys)))
    if result.status == "bad" and result.survey is not None:
        q = SurveysService.questions(result.survey)[index]
        await message.answer(t("surveys.ask.bad_number" if q.kind == "number" else "surveys.ask.bad_text"))
        return
    if result.status != "ok" or result.survey is None:
        await state.clear()
        title = escape(result.survey.title) if result.survey is not None else ""
        await message.answer(t("surveys.closed" if result.status == "closed" else "surveys.expired", title=title))
        return
    await message.answer(t("surveys.ask.saved"))
    if result.then is not None and message.from_user is not None:
        await _give_next(message, t, state, result, index, walk=walk, surveys=surveys, outbox=outbox,
                         channel=channel, user_id=message.from_user.id)


@public
async def cancel_typing(message: Message, t: Translator, state: FSMContext) -> None:
    """/cancel while a typed answer is awaited: stop, as «⏸ Продолжить позже» does."""
    await state.clear()
    await message.answer(t("surveys.ask.cancelled"))


def build_router() -> Router:
    router = Router(name="surveys")
    router.message.register(my_surveys, Command("surveys"), IsLinked())
    router.message.register(my_surveys, MenuButton("surveys"), IsLinked())
    router.callback_query.register(open_survey, SurveyCb.filter(F.action == SurveyAction.OPEN), IsLinked())
    router.callback_query.register(review, SurveyCb.filter(F.action == SurveyAction.REVIEW), IsLinked())
    router.callback_query.register(choose, SurveyCb.filter(F.action == SurveyAction.ANSWER), IsLinked())
    router.callback_query.register(multi_done, SurveyCb.filter(F.action == SurveyAction.DONE), IsLinked())
    router.callback_query.register(skip, SurveyCb.filter(F.action == SurveyAction.SKIP), IsLinked())
    router.callback_query.register(later, SurveyCb.filter(F.action == SurveyAction.LATER), IsLinked())
    router.message.register(cancel_typing, Command("cancel"), StateFilter(SurveyFlow.typing))
    router.message.register(typed, StateFilter(SurveyFlow.typing), PlainText(), IsLinked())
    return router
