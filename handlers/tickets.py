"""Questions to the IT officer: asking (menu, /ask, "none of these"), and the IT officer's side:
answering by reply or button, the list of open tickets, closing, making an FAQ entry."""

from __future__ import annotations

import html
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import Channel
from bot.domain.access import ADMIN_ROLES
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.outbox import Outbox
from bot.services.ports import Buttons
from bot.services.tickets import MAX_ANSWER_TEXT, MAX_TICKET_TEXT, TicketsService
from bot.tg.callbacks import AdminAction, AskQuery, TicketAction, TicketCb
from bot.tg.filters import HasContent, HasRole, IsLinked, MenuButton, PlainText
from bot.tg.policy import personal, public
from handlers.common import message_of
from handlers.faq import recall_query
from storage.help import Ticket
from storage.people import PersonRepo


class Asking(StatesGroup):
    text = State()


class Answering(StatesGroup):
    text = State()


class FaqReview(StatesGroup):
    """The IT officer reviews an FAQ entry before it is made: a message rewrites the question (or,
    after «✏️ Исправить ответ», the answer); the draft is kept in the FSM data under FAQ_DRAFT."""

    question = State()
    answer = State()


FAQ_DRAFT = "faq_draft"


def _cancel_kb(t: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t("help.cancel"), callback_data=TicketCb(action="cancel").pack())]]
    )


def _markup(data: dict[str, Any]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup.model_validate(data)


# --- asking -----------------------------------------------------------------------------------


async def _submit(
    message: Message, person: Person, t: Translator, text: str, context: str, channel: Channel,
    *, tickets: TicketsService, outbox: Outbox,
) -> None:
    # The confirmation is queued with the question (storage/outbox.py, answers): given here, or by
    # the outbox if this worker cannot, so nobody asks twice for want of it.
    _, sent = await tickets.open_ticket_answered(
        person, text, context=context, confirm=lambda ticket_id: Payload(text=t("help.ask.sent", id=ticket_id)),
    )
    if sent is not None and message.from_user is not None:
        given = await message.answer(sent.payload.text or "")
        await outbox.answered(sent, message_id=given.message_id, channel=channel, user_id=message.from_user.id)


@public
async def ask_command(
    message: Message, person: Person, t: Translator, state: FSMContext, command: CommandObject | None = None,
    channel: Channel = Channel.TELEGRAM, *, tickets: TicketsService, outbox: Outbox,
) -> None:
    if command is not None and command.args and command.args.strip():
        await state.set_state(None)
        await _submit(message, person, t, command.args, "command", channel, tickets=tickets, outbox=outbox)
        return
    await state.set_state(Asking.text)
    await message.answer(t("help.ask.prompt"), reply_markup=_cancel_kb(t))


@personal
async def ask_text(
    message: Message, person: Person, t: Translator, state: FSMContext, channel: Channel = Channel.TELEGRAM,
    *, tickets: TicketsService, outbox: Outbox,
) -> None:
    assert message.text is not None
    await state.set_state(None)
    await _submit(message, person, t, message.text, "menu", channel, tickets=tickets, outbox=outbox)


@personal
async def ask_button(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """ "Ask the IT officer" under an FAQ screen: type the question next."""
    await state.set_state(Asking.text)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("help.ask.prompt"), reply_markup=_cancel_kb(t))


@personal
async def ask_searched(
    query: CallbackQuery, callback_data: AskQuery, person: Person, t: Translator, state: FSMContext, *,
    tickets: TicketsService,
) -> None:
    text = await recall_query(state, callback_data.key)
    if text is None:
        # The searched text is gone (an old button): ask for the question instead.
        await ask_button(query, t, state)
        return
    ticket_id = await tickets.open_ticket(person, text, context="search")
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(t("help.ask.sent_quoted", id=ticket_id, text=html.escape(text)))


@public
async def cancel(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    await state.set_state(None)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(t("help.cancelled"))


# --- the IT officer ---------------------------------------------------------------------------


def _ticket_named_by(reply: Message) -> int | None:
    """The ticket a notice's own buttons name (`TicketCb`), when ``reply`` is a message of the bot.

    The notice carries its ticket in its keyboard, and the messenger hands the replied-to message
    back with it, so the reply is resolved from what the IT officer actually replied to. The outbox's
    record of the notice's message id cannot be the only way: it is written after the messenger
    accepted the send, so a quick reply, a send whose answer was lost (the row retried: the first
    notice's id is never recorded) or a write lock held elsewhere left the answer taken as a FAQ
    search. Only the bot's own messages count (a user's message sent through an inline bot could
    carry any keyboard); the answer path still checks the ticket and the officer's role."""
    if reply.via_bot is not None or (reply.from_user is not None and not reply.from_user.is_bot):
        return None
    # Only a message offering «Ответить» for exactly one ticket names it (the notice, the answer's
    # confirmation): a list of several questions (/questions) names none.
    named: set[int] = set()
    markup = reply.reply_markup
    for row in markup.inline_keyboard if markup is not None else []:
        for button in row:
            if button.callback_data is None or not button.callback_data.startswith(f"{TicketCb.__prefix__}:"):
                continue
            try:
                data = TicketCb.unpack(button.callback_data)
            except (TypeError, ValueError):
                continue
            if data.action is TicketAction.ANSWER and data.id > 0:
                named.add(data.id)
    return named.pop() if len(named) == 1 else None


class RepliesToTicket(Filter):
    """A reply to a ticket notice delivered to the replying account; injects `ticket_id`: from the
    notice's own buttons, else from the outbox's record of the notice (a notice without its keyboard)."""

    provides = frozenset({"ticket_id"})

    async def __call__(
        self, message: Message, tickets: TicketsService, channel: Channel = Channel.TELEGRAM,
    ) -> bool | dict[str, Any]:
        reply = message.reply_to_message
        if reply is None:
            return False
        named = _ticket_named_by(reply)
        if named is not None:
            return {"ticket_id": named}
        if message.from_user is None:
            return False
        ticket_id = await tickets.ticket_for_notice(channel, message.from_user.id, reply.message_id)
        return False if ticket_id is None else {"ticket_id": ticket_id}


async def _answer(
    message: Message, person: Person, t: Translator, ticket_id: int, text: str, *, buttons: Buttons,
    tickets: TicketsService,
) -> None:
    outcome = await tickets.answer_ticket(person, ticket_id, text)
    if outcome.status == "missing":
        await message.answer(t("help.ticket.missing"))
    elif outcome.status == "closed":
        await message.answer(t("help.ticket.already_closed", id=ticket_id))
    else:
        key = "help.ticket.answer_sent" if outcome.status == "sent" else "help.ticket.answer_unreachable"
        markup = _markup(buttons.ticket(t, ticket_id, answered=True))
        await message.answer(t(key, id=ticket_id), reply_markup=markup)


@personal
async def answer_by_reply(
    message: Message, person: Person, t: Translator, ticket_id: int, *, buttons: Buttons, tickets: TicketsService,
) -> None:
    assert message.text is not None
    await _answer(message, person, t, ticket_id, message.text, buttons=buttons, tickets=tickets)


@personal
async def answer_in_state(
    message: Message, person: Person, t: Translator, state: FSMContext, *, buttons: Buttons, tickets: TicketsService,
) -> None:
    assert message.text is not None
    data = await state.get_data()
    await state.set_state(None)
    await _answer(message, person, t, int(data.get("ticket_id") or 0), message.text, buttons=buttons, tickets=tickets)


async def _ticket(
    query: CallbackQuery, callback_data: TicketCb, t: Translator, tickets: TicketsService,
) -> Ticket | None:
    """The ticket a button names, or None after telling the officer it is gone."""
    ticket = await tickets.ticket(callback_data.id)
    if ticket is None:
        await query.answer(t("help.ticket.missing"), show_alert=True)
    return ticket


@personal
async def ticket_answer(
    query: CallbackQuery, callback_data: TicketCb, t: Translator, state: FSMContext, *, tickets: TicketsService,
) -> None:
    ticket = await _ticket(query, callback_data, t, tickets)
    if ticket is None:
        return
    if ticket.status == "closed":
        await query.answer(t("help.ticket.already_closed", id=ticket.id), show_alert=True)
        return
    await state.set_state(Answering.text)
    await state.update_data(ticket_id=ticket.id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t("help.ticket.answer_prompt", id=ticket.id, text=html.escape(ticket.text)), reply_markup=_cancel_kb(t)
        )


@personal
async def ticket_close(
    query: CallbackQuery, callback_data: TicketCb, person: Person, t: Translator, *, tickets: TicketsService,
) -> None:
    ticket = await _ticket(query, callback_data, t, tickets)
    if ticket is None:
        return
    closed = await tickets.close_ticket(person, ticket.id)
    await query.answer(t("help.ticket.closed" if closed else "help.ticket.already_closed", id=ticket.id))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)


def _review_kb(t: Translator, ticket_id: int) -> InlineKeyboardMarkup:
    def button(key: str, action: TicketAction) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(text=t(key), callback_data=TicketCb(action=action, id=ticket_id).pack())]

    return InlineKeyboardMarkup(inline_keyboard=[
        button("help.ticket.faq_review_ok", TicketAction.FAQ_OK),
        button("help.ticket.faq_review_edit_answer", TicketAction.FAQ_ANSWER),
        button("help.cancel", TicketAction.CANCEL),
    ])


async def _show_review(message: Message, t: Translator, state: FSMContext, draft: dict[str, Any]) -> None:
    """The entry exactly as it would be published, and how to rewrite or publish it."""
    await state.set_state(FaqReview.question)
    await state.update_data({FAQ_DRAFT: draft})
    await message.answer(
        t("help.ticket.faq_review", id=draft["ticket"], question=html.escape(draft["question"]),
          answer=html.escape(draft["answer"])),
        reply_markup=_review_kb(t, int(draft["ticket"])),
    )


@personal
async def ticket_to_faq(
    query: CallbackQuery, callback_data: TicketCb, person: Person, t: Translator, state: FSMContext, *,
    tickets: TicketsService,
) -> None:
    """«📚 Добавить в FAQ»: nothing is published yet; the officer sees the entry to be and rewrites it."""
    ticket = await _ticket(query, callback_data, t, tickets)
    if ticket is None:
        return
    draft = await tickets.faq_draft(person, ticket.id)
    if draft.status != "draft":
        key = {"unanswered": "help.ticket.faq_unanswered", "exists": "help.ticket.faq_exists"}
        await query.answer(t(key.get(draft.status, "help.ticket.missing")), show_alert=True)
        return
    await query.answer()
    message = message_of(query)
    if message is not None:
        await _show_review(message, t, state, {"ticket": ticket.id, "question": draft.question,
                                               "answer": draft.answer})


async def _draft(state: FSMContext, ticket_id: int | None = None) -> dict[str, Any] | None:
    """The draft under review (of ``ticket_id`` when given), or None."""
    draft = (await state.get_data()).get(FAQ_DRAFT)
    if not isinstance(draft, dict) or (ticket_id is not None and draft.get("ticket") != ticket_id):
        return None
    return draft


@personal
async def faq_review_text(message: Message, t: Translator, state: FSMContext) -> None:
    """A message during the review: the question's new text (or the answer's, when asked for)."""
    assert message.text is not None
    draft = await _draft(state)
    if draft is None:
        await state.set_state(None)
        await message.answer(t("help.ticket.faq_review_stale"))
        return
    part = "answer" if await state.get_state() == FaqReview.answer.state else "question"
    limit = MAX_ANSWER_TEXT if part == "answer" else MAX_TICKET_TEXT
    if len(message.text.strip()) > limit:
        await message.answer(t("help.ticket.faq_review_too_long", n=limit))
        return
    await _show_review(message, t, state, {**draft, part: message.text.strip()})


@personal
async def faq_review_edit_answer(
    query: CallbackQuery, callback_data: TicketCb, t: Translator, state: FSMContext,
) -> None:
    if await _draft(state, callback_data.id) is None:
        await query.answer(t("help.ticket.faq_review_stale"), show_alert=True)
        return
    await state.set_state(FaqReview.answer)
    await query.answer()
    message = message_of(query)
    if message is not None:
        await message.answer(t("help.ticket.faq_review_answer_prompt"), reply_markup=_cancel_kb(t))


@personal
async def faq_review_ok(
    query: CallbackQuery, callback_data: TicketCb, person: Person, t: Translator, state: FSMContext, *,
    tickets: TicketsService,
) -> None:
    """The officer states the reviewed text carries no personal data: the entry is made from it."""
    draft = await _draft(state, callback_data.id)
    if draft is None:
        await query.answer(t("help.ticket.faq_review_stale"), show_alert=True)
        return
    outcome = await tickets.make_faq_entry(
        person, callback_data.id, question=str(draft["question"]), answer=str(draft["answer"])
    )
    await state.set_state(None)
    await state.update_data({FAQ_DRAFT: None})
    key = {"created": "help.ticket.faq_created", "exists": "help.ticket.faq_exists",
           "unanswered": "help.ticket.faq_unanswered", "empty": "help.ticket.faq_review_stale"}
    await query.answer(t(key.get(outcome.status, "help.ticket.missing")), show_alert=True)
    message = message_of(query)
    if message is not None:
        await message.edit_reply_markup(reply_markup=None)


@personal
async def ticket_view(
    query: CallbackQuery, callback_data: TicketCb, t: Translator, *, buttons: Buttons, people: PersonRepo,
    tickets: TicketsService,
) -> None:
    ticket = await _ticket(query, callback_data, t, tickets)
    if ticket is None:
        return
    await query.answer()
    asker = await people.get(ticket.asker_id)
    who = await tickets.describe_person(asker, t) if asker is not None else "—"
    text = t("help.ticket.notice", id=ticket.id, who=who, text=html.escape(ticket.text))
    if ticket.answer:
        text += "\n\n" + t("help.ticket.last_answer", answer=html.escape(ticket.answer))
    if isinstance(query.message, Message):
        markup = _markup(buttons.ticket(t, ticket.id, answered=bool(ticket.answer)))
        await query.message.answer(text, reply_markup=markup)


@personal
async def tickets_list(query: CallbackQuery, t: Translator, *, tickets: TicketsService) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _send_open_list(query.message, t, tickets)


@personal
async def questions_command(message: Message, t: Translator, *, tickets: TicketsService) -> None:
    """The IT officer's «❓ Вопросы» button and /questions: the open questions, each a button."""
    await _send_open_list(message, t, tickets)


async def _send_open_list(message: Message, t: Translator, tickets: TicketsService) -> None:
    items = await tickets.tickets_overview()
    unchecked = await tickets.unchecked_faq()
    if not items and not unchecked:
        await message.answer(t("help.ticket.none_open"))
        return
    rows = []
    for ticket, asker in items:
        mark = "✅" if ticket.status == "answered" else "🆕"
        name = asker.full_name if asker is not None else "—"
        snippet = ticket.text if len(ticket.text) <= 30 else ticket.text[:29] + "…"
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{mark} №{ticket.id} · {name}: {snippet}",
                    callback_data=TicketCb(action=TicketAction.VIEW, id=ticket.id).pack(),
                )
            ]
        )
    # FAQ entries made from questions before the check existed: each offered for the same review.
    for ticket in unchecked:
        snippet = ticket.text if len(ticket.text) <= 30 else ticket.text[:29] + "…"
        rows.append([InlineKeyboardButton(
            text=f"📚 №{ticket.id}: {snippet}", callback_data=TicketCb(action=TicketAction.FAQ, id=ticket.id).pack()
        )])
    lines = [t.plural("help.ticket.open_list", len(items)) if items else t("help.ticket.none_open")]
    if unchecked:
        lines.append(t("help.ticket.faq_unchecked", n=len(unchecked)))
    await message.answer("\n\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


def build_router() -> Router:
    router = Router(name="tickets")
    officer = Router(name="tickets-officer")
    officer.message.filter(HasRole(*ADMIN_ROLES))
    officer.callback_query.filter(HasRole(*ADMIN_ROLES))
    officer.message.register(answer_by_reply, StateFilter(None), HasContent("text"), RepliesToTicket())
    officer.message.register(answer_in_state, StateFilter(Answering.text), PlainText())
    officer.callback_query.register(tickets_list, AdminAction.filter(F.action == "tickets"))
    officer.message.register(questions_command, Command("questions"))
    officer.message.register(questions_command, MenuButton("questions"))
    officer.callback_query.register(ticket_answer, TicketCb.filter(F.action == TicketAction.ANSWER))
    officer.callback_query.register(ticket_close, TicketCb.filter(F.action == TicketAction.CLOSE))
    officer.callback_query.register(ticket_to_faq, TicketCb.filter(F.action == TicketAction.FAQ))
    officer.callback_query.register(faq_review_ok, TicketCb.filter(F.action == TicketAction.FAQ_OK))
    officer.callback_query.register(faq_review_edit_answer, TicketCb.filter(F.action == TicketAction.FAQ_ANSWER))
    officer.message.register(faq_review_text, StateFilter(FaqReview.question, FaqReview.answer), PlainText())
    officer.callback_query.register(ticket_view, TicketCb.filter(F.action == TicketAction.VIEW))

    asker = Router(name="tickets-asker")
    asker.message.filter(IsLinked())
    asker.callback_query.filter(IsLinked())
    asker.message.register(ask_command, Command("ask"))
    asker.message.register(ask_command, MenuButton("ask"))
    asker.message.register(ask_text, StateFilter(Asking.text), PlainText())
    asker.callback_query.register(ask_button, TicketCb.filter(F.action == TicketAction.ASK))
    asker.callback_query.register(cancel, TicketCb.filter(F.action == TicketAction.CANCEL))
    asker.callback_query.register(ask_searched, AskQuery.filter())

    router.include_routers(officer, asker)
    return router
