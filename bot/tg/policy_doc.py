"""docs/data-classes.md: every registered handler with the data class it declares and what a Telegram
user gets from it under the municipal rules (issue #22's closing table, kept in sync by
tests/test_data_classes_doc.py; written by ``python scripts/data_classes_doc.py``).

Read from the handlers as registered (their aiogram flags and filters), never from a list kept by
hand: a new handler appears in the table, and one without a declared class is shown as such (and
fails tests/test_data_classes.py). The pointer texts come from the same ``Pointers`` the SendGuard
sends with, so the table shows the words a person actually reads.
"""

from __future__ import annotations

import enum
import inspect
import typing
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.state import State

from bot.channels import Channel, ChannelPolicy, ChannelRules, DataClass
from bot.domain.access import STAFF_ROLES
from bot.i18n import DEFAULT_LANG, Catalog
from bot.tg import callbacks
from bot.tg.filters import STAFF_GROUP, HasContent, HasRole, MenuButton, PlainText
from bot.tg.policy import Pointers, Varies, declared_class, purpose_of, varies_of

MAX_BOT = "school_bot"
"""Stands for the school's bot name in MAX in the table's links (the real one comes from MAX)."""

EVENTS = {"message": "message", "callback_query": "button", "errors": "error", "edited_message": "edited message"}

# Candidate values for a CallbackData field typed `str` (FaqNav.v): every action value the module
# declares, with the names it has there (shown next to a terse value: "v=s (search)").
_STR_NAMES: dict[str, set[str]] = {}
for _obj in vars(callbacks).values():
    if isinstance(_obj, type) and issubclass(_obj, enum.StrEnum):
        for _member in _obj:
            _STR_NAMES.setdefault(_member.value, set()).add(_member.name.lower())
_STR_CANDIDATES: tuple[str, ...] = tuple(sorted(_STR_NAMES))


def _shown_value(value: Any, typed_str: bool) -> str:
    text = str(getattr(value, "value", value))
    names = sorted(_STR_NAMES.get(text, set()) - {text}) if typed_str else []
    return f"{text} ({'/'.join(names)})" if names else text


@dataclass(frozen=True)
class HandlerRow:
    router: str
    purpose: str  # <module>.<function>: what the send log names
    event: str
    answers: str
    data_class: DataClass | None
    varies: Varies | None
    staff_only: bool = False  # only staff reach it: their pointer sends them to the IT officer


def _sample(field_type: Any) -> Any:
    if isinstance(field_type, type) and issubclass(field_type, enum.Enum):
        return next(iter(field_type))
    return {int: 1, bool: False, str: "x"}.get(field_type, "x")


def _callback(flt: CallbackQueryFilter) -> str:
    """``Class`` or ``Class field=value`` for the values of an Enum (or action-like str) field the
    rule lets through, found by asking the rule itself (MagicFilter.resolve), not by reading it."""
    cls: type[CallbackData] = flt.callback_data
    name = cls.__name__
    if flt.rule is None:
        return name
    hints = typing.get_type_hints(cls)
    fields = {f: hints.get(f, str) for f in cls.model_fields}
    base = {f: _sample(tp) for f, tp in fields.items()}
    shown: list[str] = []
    for field, tp in fields.items():
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            candidates: Iterable[Any] = list(tp)
        elif tp is str:
            candidates = _STR_CANDIDATES
        else:
            continue
        passing = []
        for value in candidates:
            try:
                if flt.rule.resolve(cls.model_construct(**{**base, field: value})):
                    passing.append(_shown_value(value, tp is str))
            except (TypeError, ValueError, AttributeError):  # a rule that cannot judge this sample: no match
                continue
        if passing and len(passing) < len(list(candidates)):
            shown.append(f"{field}={'|'.join(passing)}")
    return " ".join([name, *shown])


def _state(flt: StateFilter) -> str:
    names = []
    for state in flt.states:
        if state is None:
            names.append("no state")
        elif isinstance(state, State):
            names.append(f"state {state.state}")
        elif inspect.isclass(state):
            names.append(f"state {state.__name__}:*")
        else:
            names.append(f"state {state}")
    return ", ".join(names)


def _filter(callback: Any, catalog: Catalog) -> str:
    if isinstance(callback, CommandStart):
        return "/start with a link token" if callback.deep_link else "/start"
    if isinstance(callback, Command):
        return ", ".join(f"/{c}" if isinstance(c, str) else str(getattr(c, "command", c)) for c in callback.commands)
    if isinstance(callback, MenuButton):
        return f"menu «{catalog.text(DEFAULT_LANG, f'menu.{callback.button}')}»"
    if isinstance(callback, CallbackQueryFilter):
        return _callback(callback)
    if isinstance(callback, StateFilter):
        return _state(callback)
    if isinstance(callback, HasRole):
        return "roles " + ", ".join(sorted(callback.roles))
    if isinstance(callback, HasContent):
        return f"a {callback.attribute}"
    if isinstance(callback, PlainText):
        return "text"
    return f"`{type(callback).__name__}`"


def _answers(handler: HandlerObject, event: str, catalog: Catalog) -> str:
    parts = [_filter(f.callback, catalog) for f in handler.filters or []]
    if not parts:
        return {"errors": "an error in any handler", "callback_query": "any button"}.get(event, "anything")
    return "; ".join(parts)


def _staff_only(router: Router, handler: HandlerObject) -> bool:
    """Only staff reach it: a role filter on the handler that lets in staff only, or a router in the
    staff group (bot.app.build_routers puts the staff-only capabilities in the router named STAFF_GROUP,
    which lets in staff only)."""
    current: Router | None = router
    while current is not None:
        if current.name == STAFF_GROUP:
            return True
        current = current.parent_router
    return any(isinstance(f.callback, HasRole) and f.callback.roles <= STAFF_ROLES for f in handler.filters or [])


def handler_rows(dp: Dispatcher, catalog: Catalog) -> list[HandlerRow]:
    """Every handler registered in ``dp``, in the order updates meet them."""
    rows = []
    for router in dp.chain_tail:
        for event, observer in router.observers.items():
            if event == "update" and router is dp:
                continue  # the dispatcher's own propagation, not a handler
            for handler in observer.handlers:
                rows.append(HandlerRow(
                    router="dispatcher" if router is dp else router.name, purpose=purpose_of(handler),
                    event=EVENTS.get(event, event),
                    answers=_answers(handler, event, catalog), data_class=declared_class(handler),
                    varies=varies_of(handler), staff_only=_staff_only(router, handler),
                ))
    return rows


class _SetUps:
    """The pointer of each class on Telegram in each set-up, under the municipal rules."""

    def __init__(self, catalog: Catalog) -> None:
        rules = ChannelRules(ChannelPolicy())
        self.rules = rules
        self.with_max = Pointers(catalog, rules)
        self.with_max.max_served, self.with_max.max_username = True, MAX_BOT
        self.alone = Pointers(catalog, rules)

    def gets(self, pointers: Pointers, data_class: DataClass, *, staff: bool = False) -> str:
        if not self.rules.forbids(Channel.TELEGRAM, data_class):
            return "the answer itself"
        return pointers.text(DEFAULT_LANG, Channel.TELEGRAM, data_class, staff=staff)

    def toast(self, pointers: Pointers, data_class: DataClass) -> str:
        if not self.rules.forbids(Channel.TELEGRAM, data_class):
            return "the answer itself"
        return pointers.toast(DEFAULT_LANG, Channel.TELEGRAM, data_class)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _classes(row: HandlerRow) -> list[DataClass]:
    if row.varies is not None:
        return list(row.varies.classes)
    return [row.data_class] if row.data_class is not None else []


def _class_cell(row: HandlerRow) -> str:
    if row.data_class is None:
        return "**undeclared** (sent as personal)"
    if row.varies is not None:
        return " or ".join(f"`{c.value}`" for c in row.varies.classes) + f" ({row.varies.by})"
    return f"`{row.data_class.value}`"


def _gets_cell(row: HandlerRow, set_ups: _SetUps, pointers: Pointers) -> str:
    classes = _classes(row) or [DataClass.PERSONAL]
    staff = row.staff_only
    if len(classes) == 1:
        return _cell(set_ups.gets(pointers, classes[0], staff=staff))
    return "<br>".join(f"`{c.value}`: {_cell(set_ups.gets(pointers, c, staff=staff))}" for c in classes)


def render(rows: list[HandlerRow], catalog: Catalog) -> str:
    """The Markdown of docs/data-classes.md."""
    set_ups = _SetUps(catalog)
    counts = Counter(row.data_class for row in rows)
    out = [
        "# What each handler may send, and what a Telegram user gets instead",
        "",
        "Generated by `python scripts/data_classes_doc.py` from the registered handlers' flags "
        "(bot/tg/policy.py, bot/tg/policy_doc.py); tests/test_data_classes_doc.py fails when this file "
        "differs from what the script writes or misses a handler. Do not edit it by hand.",
        "",
        "Every handler declares the data class of what it can answer with (decided by what it can show, "
        "not its usual case). `SendGuard`, on every bot's session, sends an answer whose class the channel "
        "may not carry as the pointer below instead, and logs every send with the handler as its `purpose`. "
        "Under the municipal rules (no `[channels]` section, or `operator = \"municipal\"` or `\"state\"`) "
        "Telegram carries `public` only and MAX carries every class. The set-ups:",
        "",
        "- **Telegram + MAX**: on Telegram, the pointer leads to the school's bot in MAX "
        f"(`{MAX_BOT}` stands for its name as MAX reports it); the same person linked in MAX gets the answer itself.",
        "- **Telegram only**: on Telegram, the pointer names the class teacher and the paper form; to a "
        "staff member, the IT officer and the exports on the school computer.",
        "- **MAX only**: there is no Telegram user; in MAX every handler answers with the answer itself.",
        "",
        "A button whose short notice (toast) would carry such data shows the short pointer instead.",
        "",
        "## Handlers per class",
        "",
        "| class | handlers |",
        "|---|---|",
    ]
    for data_class in DataClass:
        out.append(f"| `{data_class.value}` | {counts.get(data_class, 0)} |")
    if counts.get(None):
        out.append(f"| undeclared | {counts[None]} |")
    out.append(f"| total | {len(rows)} |")
    varying = sum(1 for row in rows if row.varies is not None)
    if varying:
        out += ["", f"{varying} of them declare their class at run time from the data they show "
                    "(counted above under the class in force until they do)."]
    out += [
        "",
        "## The pointer per class (Russian, as sent)",
        "",
        "| class | Telegram + MAX | Telegram only | Telegram only, to a staff member "
        "| a button's toast, Telegram + MAX | a button's toast, Telegram only |",
        "|---|---|---|---|---|---|",
    ]
    for data_class in DataClass:
        out.append(
            f"| `{data_class.value}` | {_cell(set_ups.gets(set_ups.with_max, data_class))} "
            f"| {_cell(set_ups.gets(set_ups.alone, data_class))} "
            f"| {_cell(set_ups.gets(set_ups.alone, data_class, staff=True))} "
            f"| {_cell(set_ups.toast(set_ups.with_max, data_class))} "
            f"| {_cell(set_ups.toast(set_ups.alone, data_class))} |"
        )
    out += [
        "",
        "## Handlers",
        "",
        "In the order an update meets them. *Answers*: the command, the main-menu label, the button "
        "(its CallbackData class and the action values it takes) or the conversation state it handles.",
        "",
        "| router | handler (`purpose`) | event | answers | class | Telegram user, Telegram + MAX "
        "| Telegram user, Telegram only |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        out.append(
            f"| {row.router} | `{row.purpose}` | {row.event} | {_cell(row.answers)} | {_class_cell(row)} "
            f"| {_gets_cell(row, set_ups, set_ups.with_max)} | {_gets_cell(row, set_ups, set_ups.alone)} |"
        )
    return "\n".join(out) + "\n"
