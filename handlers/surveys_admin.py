"""Surveys for their authors (the IT officer, the director, the deputy): /surveys → "manage", or /admin.
Create one from a shipped template or a file (TOML or XLSX: every problem listed with its line and
field, and nothing created), choose the audience, the deadline in working days and anonymity, see
who is asked, send. Then the results: per question, per class and per role, a chart, an XLSX, the
free-text answers (the author only), and closing early."""

from __future__ import annotations

import io
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from bot.channels import Channel, DataClass
from bot.domain.access import SURVEY_AUTHOR_ROLES
from bot.domain.people import Person
from bot.domain.surveys import Question, SurveySpec
from bot.i18n import Translator
from bot.services.surveys import Audience, SurveyRefused, SurveysService, audience_words, title_class
from bot.services.surveys_nudges import SurveyNudges
from bot.services.surveys_results import SurveyResults, fmt_number
from bot.services.surveys_spec import MAX_FILE, SpecInvalid, parse_audience, parse_file, render_errors
from bot.tg import survey_keyboards as kb
from bot.tg.callbacks import AdminAction, SurveyAdm, SurveyAdminAction
from bot.tg.filters import HasContent, HasRole
from bot.tg.policy import declare, personal, personal_file, public, varies
from handlers.common import message_of
from handlers.surveys import by_survey
from storage.people import PersonRepo
from storage.surveys import MIN_GROUP, SurveyRow

STAFF_ONLY = True
LIST_LIMIT = 10
MAX_ERRORS = 15


class SurveyNew(StatesGroup):
    file = State()  # waiting for a TOML or XLSX file
    setup = State()  # choosing the audience, the deadline, anonymity


def _spec_of(data: dict[str, Any], surveys: SurveysService) -> SurveySpec | None:
    """The draft's survey: a template by name, or the file's questions kept in the FSM data."""
    if data.get("svn_template"):
        return surveys.templates.get(str(data["svn_template"]))
    raw = data.get("svn_spec")
    if not isinstance(raw, dict):
        return None
    return SurveySpec(title=str(raw["title"]), questions=tuple(Question.from_dict(q) for q in raw["questions"]),
                      intro=str(raw.get("intro", "")), about_family=bool(raw.get("about_family")))


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = message_of(query)
    if message is not None:
        await message.edit_text(text, reply_markup=markup)


# Screens that show a survey's title (#22): a template's is public, a staff file's personal.
by_title = varies(
    DataClass.PERSONAL, DataClass.PUBLIC,
    by="the surveys' titles: a shipped template's is public, one from a staff file personal",
)


@by_title
async def survey_list(query: CallbackQuery, t: Translator, state: FSMContext, *, surveys: SurveysService,
                      survey_results: SurveyResults) -> None:
    await state.clear()
    await query.answer()
    items = []
    shown = (await surveys.all())[::-1][:LIST_LIMIT]
    declare(DataClass.PUBLIC if all(title_class(s) is DataClass.PUBLIC for s in shown) else DataClass.PERSONAL)
    for survey in shown:
        res = await survey_results.results(survey)
        status = "open" if surveys.is_open(survey) else "closed"
        items.append((survey.id, t(f"surveys.admin.item_{status}", title=survey.title, sheets=res.sheets,
                                   total=res.respondents)))
    await _edit(query, t("surveys.admin.list") if items else t("surveys.admin.list_empty"), kb.survey_list(t, items))


@public
async def new_survey(query: CallbackQuery, t: Translator, state: FSMContext, *, surveys: SurveysService) -> None:
    await state.clear()
    await query.answer()
    items = [(name, spec.title) for name, spec in surveys.templates.items()]
    await _edit(query, t("surveys.admin.pick_template"), kb.templates(t, items))


@public
async def template_chosen(query: CallbackQuery, callback_data: SurveyAdm, t: Translator, state: FSMContext, *,
                          surveys: SurveysService) -> None:
    spec = surveys.templates.get(callback_data.arg)
    if spec is None:
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    await query.answer()
    await state.set_state(SurveyNew.setup)
    await state.set_data({"svn_template": callback_data.arg})
    suggested = f"{spec.audience[0]}.{spec.audience[1]}" if spec.audience else None
    await _edit(query, t("surveys.admin.pick_audience", title=escape(spec.title)), kb.audiences(t, suggested))


@public
async def ask_file(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await query.answer()
    await state.set_state(SurveyNew.file)
    message = message_of(query)
    if message is not None:
        await message.answer(t("surveys.admin.ask_file"), reply_markup=kb.cancel_only(t))


@personal  # the file's own title and its errors' lines: staff's free text
async def file_received(message: Message, bot: Bot, t: Translator, state: FSMContext) -> None:
    doc = message.document
    assert doc is not None
    if doc.file_size is not None and doc.file_size > MAX_FILE:
        await message.answer(t("surveys.error.whole", message=t("surveys.error.too_big", limit=MAX_FILE // 1000)))
        return
    buffer = io.BytesIO()
    await bot.download(doc.file_id, destination=buffer)
    try:
        spec = parse_file(buffer.getvalue(), doc.file_name or "survey.toml")
    except SpecInvalid as exc:
        lines = render_errors(exc.errors, t)
        text = t("surveys.error.title", n=len(lines)) + "\n" + "\n".join(
            f"• {escape(line)}" for line in lines[:MAX_ERRORS])
        await message.answer(text)
        return
    await state.set_state(SurveyNew.setup)
    await state.set_data({"svn_spec": {"title": spec.title, "intro": spec.intro, "about_family": spec.about_family,
                                       "questions": [q.to_dict() for q in spec.questions]}})
    text = t("surveys.admin.file_ok", title=escape(spec.title), n=len(spec.questions))
    text += "\n\n" + t("surveys.admin.pick_audience", title=escape(spec.title))
    await message.answer(text, reply_markup=kb.audiences(t, None))


@public
async def audience_chosen(query: CallbackQuery, callback_data: SurveyAdm, t: Translator, state: FSMContext, *,
                          people: PersonRepo) -> None:
    arg = callback_data.arg
    if await state.get_state() != SurveyNew.setup.state or arg not in kb.AUDIENCES:
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    await query.answer()
    if arg in ("class", "parents"):
        await state.update_data(svn_kind=arg)
        await _edit(query, t("surveys.admin.pick_class"), kb.classes(t, await people.classes()))
        return
    await state.update_data(svn_audience=arg.replace(".", ":", 1))
    await _edit(query, t("surveys.admin.pick_days"), kb.days(t))


@public
async def class_chosen(query: CallbackQuery, callback_data: SurveyAdm, t: Translator, state: FSMContext, *,
                       people: PersonRepo) -> None:
    data = await state.get_data()
    kind = data.get("svn_kind")
    if await state.get_state() != SurveyNew.setup.state or kind not in ("class", "parents") or (
            callback_data.arg not in await people.classes()):
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(svn_audience=f"{kind}:{callback_data.arg}")
    await _edit(query, t("surveys.admin.pick_days"), kb.days(t))


@public
async def days_chosen(query: CallbackQuery, callback_data: SurveyAdm, t: Translator, state: FSMContext, *,
                      surveys: SurveysService) -> None:
    data = await state.get_data()
    spec = _spec_of(data, surveys)
    if await state.get_state() != SurveyNew.setup.state or spec is None or not callback_data.arg.isdigit() or (
            int(callback_data.arg) not in kb.DAYS):
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    await query.answer()
    await state.update_data(svn_days=int(callback_data.arg))
    await _edit(query, t("surveys.admin.pick_anonymous"), kb.anonymity(t, spec.anonymous))


@by_title
async def anonymity_chosen(query: CallbackQuery, callback_data: SurveyAdm, t: Translator, state: FSMContext, *,
                           surveys: SurveysService) -> None:
    data = await state.get_data()
    declare(title_class(template=bool(data.get("svn_template"))))
    spec = _spec_of(data, surveys)
    audience = parse_audience(str(data.get("svn_audience", "")))
    if await state.get_state() != SurveyNew.setup.state or spec is None or audience is None or (
            callback_data.arg not in ("0", "1")) or not data.get("svn_days"):
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    await query.answer()
    anonymous = callback_data.arg == "1"
    await state.update_data(svn_anonymous=anonymous)
    people = await surveys.respondents_for(Audience(*audience))
    days = int(data["svn_days"])
    text = t("surveys.admin.confirm", title=escape(spec.title), n=len(spec.questions),
             audience=audience_words(t, *audience), people=len(people),
             reachable=sum(p.reachable for p, _, _ in people), days=days,
             deadline=surveys.format_day(surveys.deadline_for(days, surveys.clock.now())),
             privacy=t(f"surveys.admin.anon_{int(anonymous)}"))
    await _edit(query, text, kb.confirm(t))


@by_title
async def create(query: CallbackQuery, person: Person, t: Translator, state: FSMContext, *,
                 surveys: SurveysService) -> None:
    data = await state.get_data()
    declare(title_class(template=bool(data.get("svn_template"))))
    spec = _spec_of(data, surveys)
    audience = parse_audience(str(data.get("svn_audience", "")))
    if await state.get_state() != SurveyNew.setup.state or spec is None or audience is None or (
            "svn_anonymous" not in data):
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    try:
        _sid, n, sent = await surveys.create(person, spec, Audience(*audience), int(data["svn_days"]),
                                            anonymous=bool(data["svn_anonymous"]))
    except SurveyRefused as exc:
        await query.answer(t(exc.key), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await _edit(query, t("surveys.admin.created", title=escape(spec.title), n=n, sent=sent))


@public
async def cancel(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await _edit(query, t("surveys.admin.cancelled"))


# --- results ----------------------------------------------------------------------------------------


def results_text(t: Translator, res: Any, surveys: SurveysService) -> str:
    survey = res.survey
    status = t("surveys.admin.open_until", deadline=surveys.format_day(survey.deadline)) if surveys.is_open(
        survey) else t("surveys.admin.closed_on", day=surveys.format_day(survey.closed_at or survey.deadline))
    lines = [t("surveys.admin.results_head", title=escape(survey.title), status=status, sheets=res.sheets,
               total=res.respondents, finished=res.finished,
               privacy=t(f"surveys.admin.anon_{int(survey.anonymous)}"))]
    if res.hidden:
        lines.append(t("surveys.summary.after_close" if survey.closed_at is None else "surveys.summary.too_few",
                       n=MIN_GROUP))
        return "\n".join(lines)
    for qr in res.questions:
        lines.append(f"\n<b>{qr.index + 1}. {escape(qr.question.text)}</b>")
        if qr.counts:
            lines += [t("surveys.admin.count_line", choice=escape(c), n=n, pct=pct) for c, n, pct in qr.counts]
        elif qr.numbers is not None:
            _n, mean, median, low, high = qr.numbers
            lines.append(t("surveys.xlsx.numbers", mean=fmt_number(mean), median=fmt_number(median),
                           low=fmt_number(low), high=fmt_number(high)))
        else:
            lines.append(t("surveys.admin.texts_count", n=qr.texts))
    for title, groups in (("surveys.xlsx.by_class", res.by_class), ("surveys.xlsx.by_role", res.by_role)):
        shown = [f"{escape(g.name) if title.endswith('class') else t('roles.' + g.name) if g.name else '—'}: "
                 f"{g.sheets}" for g in groups]
        if shown:
            lines.append(f"\n{t(title)}: " + ", ".join(shown))
    if res.groups_hidden:
        lines.append(t("surveys.xlsx.hidden", n=MIN_GROUP))
    return "\n".join(lines)


@by_survey
async def view(query: CallbackQuery, callback_data: SurveyAdm, person: Person, t: Translator,
               channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService,
               survey_results: SurveyResults) -> None:
    survey = await surveys.survey(callback_data.sid)
    if survey is None or not surveys.may_manage(person, survey):
        await query.answer(t("surveys.expired"), show_alert=True)
        return
    declare(DataClass(survey.data_class))
    await query.answer()
    res = await survey_results.results(survey)
    has_texts = any(qr.texts for qr in res.questions)
    await _edit(query, results_text(t, res, surveys),
                kb.results(t, survey.id, is_open=surveys.is_open(survey), author=person.id == survey.author_id,
                           has_texts=has_texts))


async def _managed(query: CallbackQuery, callback_data: SurveyAdm, person: Person, t: Translator,
                   surveys: SurveysService) -> tuple[SurveyRow, Message] | None:
    """The survey a file button names and the message to answer on, once the caller may manage it;
    otherwise the press is refused (and answered) and None returned."""
    survey = await surveys.survey(callback_data.sid)
    message = message_of(query)
    if survey is None or message is None or not surveys.may_manage(person, survey):
        await query.answer(t("surveys.expired"), show_alert=True)
        return None
    await query.answer()
    return survey, message


@personal_file
async def chart(query: CallbackQuery, callback_data: SurveyAdm, person: Person, t: Translator,
                channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService,
                survey_results: SurveyResults) -> None:
    managed = await _managed(query, callback_data, person, t, surveys)
    if managed is None:
        return
    survey, message = managed
    png = await survey_results.chart_png(survey, t)
    if png is None:
        await message.answer(t("surveys.admin.nothing_to_show", n=MIN_GROUP))
        return
    await message.answer_photo(BufferedInputFile(png, filename=f"survey-{survey.id}.png"),
                               caption=t("surveys.admin.chart_caption", title=escape(survey.title)))


@personal_file
async def xlsx(query: CallbackQuery, callback_data: SurveyAdm, person: Person, t: Translator,
               channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService,
               survey_results: SurveyResults) -> None:
    managed = await _managed(query, callback_data, person, t, surveys)
    if managed is None:
        return
    survey, message = managed
    found = await survey_results.xlsx(survey, t)
    if found is None:
        await message.answer(t("surveys.admin.nothing_to_show", n=MIN_GROUP))
        return
    data, name = found
    await message.answer_document(BufferedInputFile(data, filename=name),
                                  caption=t("surveys.admin.xlsx_caption", title=escape(survey.title)))


@by_survey
async def texts(query: CallbackQuery, callback_data: SurveyAdm, person: Person, t: Translator,
                channel: Channel = Channel.TELEGRAM, *, surveys: SurveysService,
                survey_results: SurveyResults) -> None:
    survey = await surveys.survey(callback_data.sid)
    message = message_of(query)
    found = None if survey is None else await survey_results.texts(person, survey)
    if survey is None or message is None or found is None:
        await query.answer(t("surveys.admin.texts_author_only"), show_alert=True)
        return
    declare(DataClass(survey.data_class))
    await query.answer()
    body = "\n".join(f"• <i>{escape(q[:60])}</i>: {escape(text)}" for q, text in found) or t("surveys.admin.no_texts")
    await message.answer(t("surveys.admin.texts_head", title=escape(survey.title)) + "\n" + body)


@by_title
async def close(query: CallbackQuery, callback_data: SurveyAdm, person: Person, t: Translator, *,
                surveys: SurveysService, survey_nudges: SurveyNudges) -> None:
    try:
        survey = await survey_nudges.close_now(person, callback_data.sid)
    except SurveyRefused as exc:
        declare(DataClass.PUBLIC)
        await query.answer(t(exc.key), show_alert=True)
        return
    declare(title_class(survey))  # the toast names the survey
    await query.answer(t("surveys.admin.closed", title=survey.title), show_alert=True)


@by_title  # the same screen as survey_list, the same class
async def admin_entry(query: CallbackQuery, t: Translator, state: FSMContext, *, surveys: SurveysService,
                      survey_results: SurveyResults) -> None:
    await survey_list(query, t, state, surveys=surveys, survey_results=survey_results)


def build_router() -> Router:
    router = Router(name="surveys_admin")
    authors = HasRole(*SURVEY_AUTHOR_ROLES)
    router.callback_query.register(admin_entry, AdminAction.filter(F.action == "surveys"), authors)

    def on(action: SurveyAdminAction, handler: Any) -> None:
        router.callback_query.register(handler, SurveyAdm.filter(F.action == action), authors)

    on(SurveyAdminAction.LIST, survey_list)
    on(SurveyAdminAction.NEW, new_survey)
    on(SurveyAdminAction.TEMPLATE, template_chosen)
    on(SurveyAdminAction.FILE, ask_file)
    on(SurveyAdminAction.AUDIENCE, audience_chosen)
    on(SurveyAdminAction.CLASS, class_chosen)
    on(SurveyAdminAction.DAYS, days_chosen)
    on(SurveyAdminAction.ANONYMOUS, anonymity_chosen)
    on(SurveyAdminAction.CREATE, create)
    on(SurveyAdminAction.CANCEL, cancel)
    on(SurveyAdminAction.VIEW, view)
    on(SurveyAdminAction.CHART, chart)
    on(SurveyAdminAction.XLSX, xlsx)
    on(SurveyAdminAction.TEXTS, texts)
    on(SurveyAdminAction.CLOSE, close)
    router.message.register(file_received, StateFilter(SurveyNew.file), HasContent("document"), authors)
    return router
