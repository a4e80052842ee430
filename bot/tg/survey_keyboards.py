"""Every inline keyboard of surveys and acknowledgements, in one module (the outbox's buttons are the
`Buttons` port, bot/tg/buttons.py): a question with its choices, the survey lists, the creation
wizard's steps and a survey's results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.surveys import Question
from bot.i18n import Translator
from bot.tg.callbacks import AckAdm, AckAdminAction, SurveyAction, SurveyAdm, SurveyAdminAction, SurveyCb

BUTTON_TEXT = 60


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text[:BUTTON_TEXT], callback_data=data.pack())


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


def question(t: Translator, sid: int, index: int, q: Question, current: Any, *, walk: bool) -> InlineKeyboardMarkup:
    """The choices of question `index` (the current answer marked), then skip / stop."""
    rows: list[list[InlineKeyboardButton]] = []

    def data(action: SurveyAction, v: int = 0) -> SurveyCb:
        return SurveyCb(action=action, sid=sid, q=index, v=v, w=walk)

    if q.kind == "scale":
        rows.append([_button(("✅ " if current == n + 1 else "") + c, data(SurveyAction.ANSWER, n))
                     for n, c in enumerate(q.choices)])
    elif q.kind == "single":
        rows += [[_button(("✅ " if current == n else "") + c, data(SurveyAction.ANSWER, n))]
                 for n, c in enumerate(q.choices)]
    elif q.kind == "multi":
        chosen = set(current or [])
        rows += [[_button(("☑️ " if n in chosen else "⬜ ") + c, data(SurveyAction.ANSWER, n))]
                 for n, c in enumerate(q.choices)]
        rows.append([_button(t("surveys.ask.btn_done"), data(SurveyAction.DONE))])
    if q.optional:
        rows.append([_button(t("surveys.ask.btn_skip"), data(SurveyAction.SKIP))])
    rows.append([_button(t("surveys.ask.btn_later"), data(SurveyAction.LATER))])
    return _markup(rows)


def finished(t: Translator, sid: int) -> InlineKeyboardMarkup:
    return _markup([[_button(t("surveys.ask.btn_review"), SurveyCb(action=SurveyAction.REVIEW, sid=sid))]])


def my_surveys(
    t: Translator, items: Sequence[tuple[int, str]], *, manage: bool, acks: bool
) -> InlineKeyboardMarkup | None:
    rows = [[_button(label, SurveyCb(action=SurveyAction.OPEN, sid=sid))] for sid, label in items]
    if manage:
        rows.append([_button(t("surveys.admin.btn_manage"), SurveyAdm(action=SurveyAdminAction.LIST))])
    if acks:
        rows.append([_button(t("acks.btn_list"), AckAdm(action=AckAdminAction.LIST))])
    return _markup(rows) if rows else None


def adm(action: SurveyAdminAction, sid: int = 0, arg: str = "") -> SurveyAdm:
    return SurveyAdm(action=action, sid=sid, arg=arg)


def cancel_row(t: Translator) -> list[InlineKeyboardButton]:
    return [_button(t("surveys.admin.btn_cancel"), adm(SurveyAdminAction.CANCEL))]


def cancel_only(t: Translator) -> InlineKeyboardMarkup:
    return _markup([cancel_row(t)])


def survey_list(t: Translator, items: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    rows = [[_button(label, adm(SurveyAdminAction.VIEW, sid))] for sid, label in items]
    rows.append([_button(t("surveys.admin.btn_new"), adm(SurveyAdminAction.NEW))])
    return _markup(rows)


def templates(t: Translator, items: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    rows = [[_button(title, adm(SurveyAdminAction.TEMPLATE, arg=name))] for name, title in items]
    rows.append([_button(t("surveys.admin.btn_file"), adm(SurveyAdminAction.FILE))])
    rows.append(cancel_row(t))
    return _markup(rows)


# "kind.value" (a colon would break the callback data): role.staff, parents.* ...
AUDIENCES = ("role.staff", "role.teacher", "role.class_teacher", "parents.*", "parents", "class")


def audiences(t: Translator, suggested: str | None) -> InlineKeyboardMarkup:
    order = sorted(AUDIENCES, key=lambda a: a != suggested)
    def label(a: str) -> str:
        return t(f"surveys.admin.aud.{a.replace('.', '_').replace('*', 'all')}")

    rows = [[_button(("⭐ " if a == suggested else "") + label(a), adm(SurveyAdminAction.AUDIENCE, arg=a))]
            for a in order]
    rows.append(cancel_row(t))
    return _markup(rows)


def classes(t: Translator, labels: Sequence[str]) -> InlineKeyboardMarkup:
    buttons = [_button(label, adm(SurveyAdminAction.CLASS, arg=label)) for label in labels]
    rows = [buttons[i:i + 4] for i in range(0, len(buttons), 4)]
    rows.append(cancel_row(t))
    return _markup(rows)


DAYS = (3, 5, 10)


def days(t: Translator) -> InlineKeyboardMarkup:
    return _markup([[_button(t("surveys.admin.days_btn", n=n), adm(SurveyAdminAction.DAYS, arg=str(n)))
                     for n in DAYS], cancel_row(t)])


def anonymity(t: Translator, default: bool) -> InlineKeyboardMarkup:
    rows = [[_button(("⭐ " if value == default else "") + t(f"surveys.admin.anon_{int(value)}"),
                     adm(SurveyAdminAction.ANONYMOUS, arg=str(int(value))))] for value in (default, not default)]
    rows.append(cancel_row(t))
    return _markup(rows)


def confirm(t: Translator) -> InlineKeyboardMarkup:
    return _markup([[_button(t("surveys.admin.btn_create"), adm(SurveyAdminAction.CREATE))], cancel_row(t)])


def results(t: Translator, sid: int, *, is_open: bool, author: bool, has_texts: bool) -> InlineKeyboardMarkup:
    rows = [[_button(t("surveys.admin.btn_chart"), adm(SurveyAdminAction.CHART, sid)),
             _button(t("surveys.admin.btn_xlsx"), adm(SurveyAdminAction.XLSX, sid))]]
    if author and has_texts:
        rows.append([_button(t("surveys.admin.btn_texts"), adm(SurveyAdminAction.TEXTS, sid))])
    if is_open:
        rows.append([_button(t("surveys.admin.btn_close"), adm(SurveyAdminAction.CLOSE, sid))])
    rows.append([_button(t("surveys.admin.btn_back"), adm(SurveyAdminAction.LIST))])
    return _markup(rows)


# --- acknowledgements -------------------------------------------------------------------------------


def ack(action: AckAdminAction, cid: int = 0, arg: str = "") -> AckAdm:
    return AckAdm(action=action, cid=cid, arg=arg)


def ack_cancel_row(t: Translator) -> list[InlineKeyboardButton]:
    return [_button(t("acks.btn_cancel"), ack(AckAdminAction.CANCEL))]


def ack_list(t: Translator, items: Sequence[tuple[int, str]], *, author: bool) -> InlineKeyboardMarkup:
    rows = [[_button(label, ack(AckAdminAction.VIEW, cid))] for cid, label in items]
    if author:
        rows.append([_button(t("acks.btn_new"), ack(AckAdminAction.NEW))])
    return _markup(rows)


def ack_items(t: Translator, items: Sequence[str]) -> InlineKeyboardMarkup:
    buttons = [_button(t("acks.item_btn", n=n), ack(AckAdminAction.ITEM, arg=n)) for n in items]
    rows = [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
    rows.append([_button(t("acks.no_item"), ack(AckAdminAction.ITEM, arg="-"))])
    rows.append(ack_cancel_row(t))
    return _markup(rows)


ACK_AUDIENCES = ("staff", "parents", "all", "class")


def ack_audiences(t: Translator) -> InlineKeyboardMarkup:
    rows = [[_button(t(f"acks.aud.{a}"), ack(AckAdminAction.AUDIENCE, arg=a))] for a in ACK_AUDIENCES]
    rows.append(ack_cancel_row(t))
    return _markup(rows)


def ack_classes(t: Translator, labels: Sequence[str]) -> InlineKeyboardMarkup:
    buttons = [_button(label, ack(AckAdminAction.AUDIENCE, arg=f"parents.{label}")) for label in labels]
    rows = [buttons[i:i + 4] for i in range(0, len(buttons), 4)]
    rows.append(ack_cancel_row(t))
    return _markup(rows)


# A send button's `arg`: the author marks the campaign's title and text as naming no one.
ACK_PUBLIC = "public"


def ack_confirm_send(t: Translator) -> InlineKeyboardMarkup:
    return _markup([
        [_button(t("acks.btn_send"), ack(AckAdminAction.CREATE))],
        [_button(t("acks.btn_send_public"), ack(AckAdminAction.CREATE, arg=ACK_PUBLIC))],
        ack_cancel_row(t),
    ])


def ack_view(t: Translator, cid: int, *, pending: bool, plan_item: str | None) -> InlineKeyboardMarkup:
    rows = []
    if pending:
        rows.append([_button(t("acks.btn_remind"), ack(AckAdminAction.REMIND, cid))])
    if plan_item:
        rows.append([_button(t("acks.btn_plan", n=plan_item), ack(AckAdminAction.PLAN, cid))])
    rows.append([_button(t("acks.btn_back"), ack(AckAdminAction.LIST))])
    return _markup(rows)


def broadcast_with_ack(t: Translator) -> InlineKeyboardButton:
    """The broadcast preview's extra button: send it asking for «Ознакомлен(а)»."""
    return _button(t("acks.btn_broadcast"), ack(AckAdminAction.FROM_BROADCAST))


def ack_from_proof(t: Translator, proof_id: int) -> InlineKeyboardButton:
    """Under an accepted plan document: send it asking for «Ознакомлен(а)»."""
    return _button(t("acks.btn_from_proof"), ack(AckAdminAction.FROM_PROOF, proof_id))
