"""The inline buttons services put on outbox messages, in their wire (JSON) form: the Telegram side
of `bot.services.ports.Buttons`."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services.ports import Markup
from bot.services.reminders import BUTTON_LIMIT
from bot.services.tasks import Task, task_label
from bot.tg.callbacks import (
    AckCb,
    ArchiveView,
    CodeActivated,
    CodeTrouble,
    ConsentCb,
    DestroyAction,
    DestroyCb,
    SurveyCb,
    TaskAct,
    TaskPage,
    TicketCb,
    TrRsvp,
)
from bot.tg.task_views import review_buttons
from storage.codes import Code


def _dump(rows: list[list[InlineKeyboardButton]]) -> Markup:
    return InlineKeyboardMarkup(inline_keyboard=rows).model_dump(exclude_none=True)


def _first_name(person: Person) -> str:
    parts = person.full_name.split()
    return parts[1] if len(parts) > 1 else person.full_name


class TelegramButtons:
    """Implements `bot.services.ports.Buttons` with the CallbackData of bot.tg.callbacks."""

    def code_card(self, code_id: int, t: Translator, recipient: Person) -> Markup:
        return {
            "inline_keyboard": [
                [{
                    "text": t("codes.btn_activated", who=Named(recipient.full_name)),
                    "callback_data": CodeActivated(code_id=code_id).pack(),
                }],
                [{"text": t("codes.btn_trouble"), "callback_data": CodeTrouble(code_id=code_id).pack()}],
            ]
        }

    def code_family(self, codes: list[tuple[Code, Person]], t: Translator) -> Markup:
        return {
            "inline_keyboard": [
                [
                    {"text": t("codes.btn_activated_for", name=_first_name(owner)),
                     "callback_data": CodeActivated(code_id=code.id).pack()},
                    {"text": t("codes.btn_trouble_for", name=_first_name(owner)),
                     "callback_data": CodeTrouble(code_id=code.id).pack()},
                ]
                for code, owner in codes
            ]
        }

    def consent_open(self, label: str, version: int) -> Markup:
        data = ConsentCb(action="menu", child=0, version=version).pack()
        return {"inline_keyboard": [[{"text": label, "callback_data": data}]]}

    def ack_confirm(self, campaign_id: int, label: str) -> Markup:
        return {"inline_keyboard": [[{"text": label, "callback_data": AckCb(cid=campaign_id).pack()}]]}

    def survey_open(self, survey_id: int, label: str) -> Markup:
        data = SurveyCb(action="open", sid=survey_id).pack()
        return {"inline_keyboard": [[{"text": label, "callback_data": data}]]}

    def consent_destruction(self, task_id: int, t: Translator) -> Markup:
        done = DestroyCb(action=DestroyAction.DONE, task=task_id).pack()
        act = DestroyCb(action=DestroyAction.ACT, task=task_id).pack()
        rows = [
            [{"text": t("consent.destroy.btn_done"), "callback_data": done}],
            [{"text": t("consent.destroy.btn_act"), "callback_data": act}],
        ]
        return {"inline_keyboard": rows}

    def archive_open(self, label: str) -> Markup:
        return {"inline_keyboard": [[{"text": label, "callback_data": ArchiveView(action="open").pack()}]]}

    def task_plan(self, tasks: list[Task], t: Translator) -> Markup:
        rows: list[list[InlineKeyboardButton]] = []
        seen: set[tuple[str, str]] = set()
        for task in tasks:
            if (task.item.number, task.key) in seen or len(rows) >= BUTTON_LIMIT:
                continue
            seen.add((task.item.number, task.key))
            rows.append(
                [
                    InlineKeyboardButton(
                        text=t("tasks.plan.btn_done", label=task_label(task, t)),
                        callback_data=TaskAct(action="done", item=task.item.number, occ=task.key).pack(),
                    ),
                    InlineKeyboardButton(
                        # Several items in one digest: each snooze button says which item it moves.
                        text=t("tasks.btn.snooze_n", label=task_label(task, t)),
                        callback_data=TaskAct(action="snooze", item=task.item.number, occ=task.key).pack(),
                    ),
                ]
            )
        rows.append([InlineKeyboardButton(text=t("tasks.btn.back"), callback_data=TaskPage(page=0).pack())])
        return _dump(rows)

    def proof_review(self, proof_id: int, t: Translator, *, with_name: str | None = None) -> Markup:
        return _dump([review_buttons(proof_id, t, with_name=with_name)])

    def task_returned(self, item_number: str, occurrence_key: str, t: Translator) -> Markup:
        return _dump([[
            InlineKeyboardButton(
                text=t("tasks.btn.done"),
                callback_data=TaskAct(action="done", item=item_number, occ=occurrence_key).pack(),
            ),
            InlineKeyboardButton(
                text=t("tasks.btn.open_task"),
                callback_data=TaskAct(action="open", item=item_number, occ=occurrence_key).pack(),
            ),
        ]])

    def ticket(self, t: Translator, ticket_id: int, *, answered: bool) -> Markup:
        rows = [
            [
                (t("help.ticket.btn_answer"), TicketCb(action="answer", id=ticket_id).pack()),
                (t("help.ticket.btn_close"), TicketCb(action="close", id=ticket_id).pack()),
            ]
        ]
        if answered:
            rows.append([(t("help.ticket.btn_faq"), TicketCb(action="faq", id=ticket_id).pack())])
        return {"inline_keyboard": [[{"text": text, "callback_data": data} for text, data in row] for row in rows]}

    def training_rsvp(self, session_id: int, t: Translator) -> Markup:
        return {
            "inline_keyboard": [
                [
                    {"text": t("help.training.btn_yes"), "callback_data": TrRsvp(sid=session_id, yes=True).pack()},
                    {"text": t("help.training.btn_no"), "callback_data": TrRsvp(sid=session_id, yes=False).pack()},
                ]
            ]
        }
