"""The walk's engine (issue #22, item 6): drive one person through every command, every main-menu
label and the buttons the bot puts on its messages (breadth first, a few per kind), plus the flows a
school's people go through (tests/walk_flows.py); record every action, so the same steps can be
replayed on another messenger, and every string the bot put in front of them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram.filters import Command
from aiogram.methods import TelegramMethod

from bot.app import build_dispatcher
from bot.tg.filters import MenuButton
from tests.harness import Harness

PER_KIND = 3  # presses per button kind (its prefix and first field) and walker: every kind, bounded
MAX_STEPS = 1500
TYPED = "Иванова"  # what a screen waiting for a typed name or text gets: it matches the roster


@dataclass(frozen=True)
class Action:
    """One thing a person does: type a text, press a button (its callback data), send a file."""

    kind: str  # "text" | "press" | "file" | "photo" | "reply" | "contact"
    value: str  # the text, the callback data, the file's name
    data: bytes = b""
    mime: str = ""
    reply_to: str = ""  # "reply": the callback data of a button on the message replied to

    def __str__(self) -> str:
        return f"{self.kind} {self.value!r}"


def text(value: str) -> Action:
    return Action("text", value)


def press(data: str) -> Action:
    return Action("press", data)


def file(name: str, data: bytes, mime: str) -> Action:
    return Action("file", name, data, mime)


def contact(phone: str) -> Action:
    """The person shares their own contact (the button under the bot's question)."""
    return Action("contact", phone)


def photo(file_id: str) -> Action:
    return Action("photo", file_id)


def reply(value: str, to_button: str) -> Action:
    """A text sent as a reply to the bot's message that carries the button ``to_button``."""
    return Action("reply", value, reply_to=to_button)


@dataclass
class Step:
    """An action and what the bot answered to it (and to the typed text and /cancel that followed)."""

    actions: list[Action]
    strings: list[str] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)
    labels: list[tuple[str, str]] = field(default_factory=list)  # (label, callback data)


def strings_of(call: TelegramMethod[Any]) -> Iterator[str]:
    for attr in ("text", "caption"):
        value = getattr(call, attr, None)
        if isinstance(value, str):
            yield value
    markup = getattr(call, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", None) or []:
        for button in row:
            yield button.text
    document = getattr(call, "document", None)
    if document is not None:
        yield str(getattr(document, "filename", "") or "")


def buttons_of(call: TelegramMethod[Any]) -> list[str]:
    markup = getattr(call, "reply_markup", None)
    return [b.callback_data for row in getattr(markup, "inline_keyboard", None) or [] for b in row if b.callback_data]


def labels_of(calls: Sequence[TelegramMethod[Any]]) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button in ``calls``."""
    markup_rows = [getattr(getattr(c, "reply_markup", None), "inline_keyboard", None) or [] for c in calls]
    return [(b.text, b.callback_data) for rows in markup_rows for row in rows for b in row if b.callback_data]


def entry_points(h: Harness) -> tuple[list[str], list[str]]:
    """Every command and main-menu label the routers answer (read from their filters)."""
    dp = build_dispatcher(h.app)
    t = h.app.catalog.bind("ru")
    commands: set[str] = set()
    labels: set[str] = set()
    for router in dp.chain_tail:
        for observer in router.observers.values():
            for handler in observer.handlers:
                for flt in handler.filters or ():
                    if isinstance(flt.callback, Command):
                        commands |= {c for c in flt.callback.commands if isinstance(c, str)}
                    elif isinstance(flt.callback, MenuButton):
                        labels.add(t(f"menu.{flt.callback.button}"))
    return sorted(commands), sorted(labels)


async def act(h: Harness, who: int, action: Action) -> list[TelegramMethod[Any]]:
    if action.kind == "text":
        return await h.text(who, action.value)
    if action.kind == "press":
        return await h.press(who, action.value)
    if action.kind == "contact":
        return await h.contact(who, action.value, who)
    if action.kind == "photo":
        sizes = [{"file_id": action.value, "file_unique_id": f"u{action.value}", "width": 800, "height": 600}]
        return await h.feed({"message": h._message(who, photo=sizes)})
    if action.kind == "reply":
        bot = await h.bot.me()
        replied = {
            "message_id": 900_000, "date": 0, "chat": {"id": who, "type": "private"}, "text": "…",
            "from": {"id": bot.id, "is_bot": True, "first_name": bot.first_name, "username": bot.username},
            "reply_markup": {"inline_keyboard": [[{"text": "…", "callback_data": action.reply_to}]]},
        }
        return await h.text(who, action.value, reply_to_message=replied)
    return await h.document(who, action.data, action.value, action.mime)


async def run_step(h: Harness, who: int, actions: Sequence[Action]) -> Step:
    step = Step(list(actions))
    for action in actions:
        calls = await act(h, who, action)
        for call in calls:
            step.strings += strings_of(call)
            step.buttons += buttons_of(call)
        step.labels += labels_of(calls)
    return step


def button_kind(data: str) -> str:
    parts = data.split(":")
    # An action name tells kinds apart; an id or a search key does not.
    return ":".join(parts[:2]) if len(parts) > 1 and parts[1].replace("_", "").isalpha() else parts[0]


async def state_of(h: Harness, who: int) -> str | None:
    """The screen ``who`` is in the middle of (an FSM state), if any."""
    return await h.dp.fsm.get_context(h.bot, who, who).get_state()


async def explore(
    h: Harness, who: int, first: Sequence[Action] = (), cancelled: set[str] | None = None,
) -> list[Step]:
    """Drive ``who`` through ``first`` (the buttons of the notices they got, a question typed in
    their own words...), then every command and menu label, then the buttons the bot answered with,
    breadth first. A screen that waits for an answer (an FSM state) gets /cancel the first time that
    state is seen, and later (the same action again) a typed name (it matches the roster) and
    /cancel: both the cancel and the answer are reached."""
    commands, labels = entry_points(h)
    queue: list[Action] = [*first, *(text(f"/{c}") for c in commands), *(text(label) for label in labels)]
    done: set[Action] = set()
    again: set[Action] = set()
    cancelled = set() if cancelled is None else cancelled
    kinds: dict[str, int] = {}
    steps: list[Step] = []
    while queue and len(steps) < MAX_STEPS:
        action = queue.pop(0)
        if action in done and action not in again:
            continue
        if action in done:
            again.discard(action)
        elif action.kind == "press":
            kind = button_kind(action.value)
            kinds[kind] = kinds.get(kind, 0) + 1
            if kinds[kind] > PER_KIND:
                continue
        done.add(action)
        step = await run_step(h, who, [action])
        state = await state_of(h, who)
        if state is None:  # nothing waits for an answer
            follow = Step([])
        elif state not in cancelled:
            cancelled.add(state)
            again.add(action)
            queue.append(action)
            follow = await run_step(h, who, [text("/cancel")])
        else:
            follow = await run_step(h, who, [text(TYPED), text("/cancel")])
        step.actions += follow.actions
        step.strings += follow.strings
        step.buttons += follow.buttons
        steps.append(step)
        queue += [press(data) for data in step.buttons if press(data) not in done]
    assert len(steps) < MAX_STEPS, "the walk did not end"
    return steps


async def replay(h: Harness, who: int, steps: Sequence[Step]) -> list[Step]:
    """The same actions, in the same order, on ``h``'s messenger."""
    return [await run_step(h, who, step.actions) for step in steps]
