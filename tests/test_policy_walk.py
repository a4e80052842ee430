"""The walk (issue #22, item 6): under the municipal rules (the shipped example: Telegram carries
public notices only), every registered entry point is driven as a parent, a class teacher, a
teacher, the director and the IT officer, each linked on Telegram only: every command, every main-menu
button, and every button (CallbackData with the real ids the bot itself put on its buttons), with a
typed name after each step for the screens that wait for one. Not one roster name, child's class,
code or sign-in link reaches Telegram. The same walk with the rules widened shows the walk does reach
that data (so the first walk proves something)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiogram.filters import Command
from aiogram.methods import TelegramMethod

from bot.app import build_dispatcher
from bot.channels import Channel, ChannelPolicy, DataClass, Operator, parse_channels
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.tg.filters import MenuButton
from bot.tg.policy import purpose_of
from storage.messengers import MessengerRepo
from tests.codes_helpers import CODES, load_school
from tests.harness import (
    CLASS_TEACHER,
    DIRECTOR,
    IT_OFFICER,
    PARENT_TWO,
    ROSTER_ROWS,
    TEACHER,
    Harness,
    handler_harness,
)
from tests.help_helpers import PHONES

WALKERS = (PARENT_TWO, CLASS_TEACHER, TEACHER, DIRECTOR, IT_OFFICER)
NAMES = [row[0] for row in ROSTER_ROWS[1:]]
# A name as a greeting writes it ("Игорь Сергеевич") and a child's first name with the class.
SECRETS = [*NAMES, *(" ".join(n.split()[1:]) for n in NAMES), *CODES.values(), "?start=", "Миша", "Маша", "Коля"]
MAX_STEPS = 2500
PER_KIND = 3  # presses per button kind (its prefix and first field) and walker: every kind, bounded


def _strings(call: TelegramMethod[Any]) -> Iterator[str]:
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


def _buttons(call: TelegramMethod[Any]) -> list[str]:
    markup = getattr(call, "reply_markup", None)
    return [b.callback_data for row in getattr(markup, "inline_keyboard", None) or [] for b in row if b.callback_data]


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


async def _walk(h: Harness, harvest: dict[int, set[str]]) -> list[tuple[int, str, str]]:
    """Drive everything as every walker; returns (who, what was done, string sent) for every string
    the bot put on Telegram. Buttons the bot sends are pressed too (breadth first), and added to
    ``harvest`` so a later walk presses the same real ids."""
    commands, labels = entry_points(h)
    seen: list[tuple[int, str, str]] = []
    steps = 0
    for who in WALKERS:
        queue: list[tuple[str, str]] = [("text", f"/{c}") for c in commands] + [("text", label) for label in labels]
        queue += [("press", data) for data in sorted(harvest.get(who, set()))]
        done: set[tuple[str, str]] = set()
        kinds: dict[str, int] = {}
        while queue and steps < MAX_STEPS:
            kind, value = queue.pop(0)
            if (kind, value) in done:
                continue
            done.add((kind, value))
            if kind == "press":
                parts = value.split(":")
                # An action name tells kinds apart; an id or a search key does not.
                button_kind = ":".join(parts[:2]) if len(parts) > 1 and parts[1].isalpha() else parts[0]
                kinds[button_kind] = kinds.get(button_kind, 0) + 1
                if kinds[button_kind] > PER_KIND:
                    continue
            steps += 1
            calls = await (h.text(who, value) if kind == "text" else h.press(who, value))
            # A screen may wait for a typed name or text: give it one that matches the roster.
            calls += await h.text(who, "Иванова")
            for call in calls:
                for s in _strings(call):
                    seen.append((who, value, s))
                for data in _buttons(call):
                    harvest.setdefault(who, set()).add(data)
                    if ("press", data) not in done:
                        queue.append(("press", data))
            await h.text(who, "/cancel")
    assert steps < MAX_STEPS, "the walk did not end"
    return seen


async def _school(h: Harness) -> None:
    await load_school(h.app)
    for who in WALKERS:
        await h.contact(who, PHONES[who], who)
        assert await h.app.people.by_account(Channel.TELEGRAM, who) is not None
    # A question, so the IT officer's ticket list has an asker's name in it. It names no child: the
    # walk also presses "add to the FAQ", which publishes the question as the officer's own public
    # text (as a broadcast marked as carrying no personal data).
    await h.text(PARENT_TWO, "/ask")
    await h.text(PARENT_TWO, "Когда придёт код приглашения?")


def _leaks(seen: list[tuple[int, str, str]]) -> list[str]:
    return [f"{who} {what!r}: {secret!r} in {text[:120]!r}"
            for who, what, text in seen for secret in SECRETS if secret in text]


async def test_nothing_personal_reaches_telegram_under_the_municipal_rules(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:
        policy = h.app.channels.policy
        assert policy is not None and policy.operator is Operator.MUNICIPAL
        assert policy.allowed[next(iter(policy.allowed))] == frozenset({DataClass.PUBLIC})
        await _school(h)
        # First, with the rules widened (as for a private school), collect the real buttons and see
        # the data the walk reaches.
        h.app.channels.policy = parse_channels({"operator": "private"})
        harvest: dict[int, set[str]] = {}
        open_walk = await _walk(h, harvest)
        reached = _leaks(open_walk)
        assert len(harvest) == len(WALKERS) and sum(len(v) for v in harvest.values()) > 50
        assert any("?start=" in leak for leak in reached)  # the IT officer's one-time link
        assert any("Иванов Миша Андреевич" in leak for leak in reached)  # a child on a button
        assert any(CODES["Иванов Миша Андреевич"] in leak or "Игорь Сергеевич" in leak for leak in reached)
        # Then the municipal rules: every command, menu button and harvested button again.
        h.app.channels.policy = ChannelPolicy()
        mark = len(h.bot.calls)
        closed_walk = await _walk(h, harvest)
        assert _leaks(closed_walk) == []
        # What the walks reached, by the send log's purposes (every answer is logged with its handler).
        reached_handlers = {r.purpose for r in await MessengerRepo(h.app.db).send_log()}
        registered = {purpose_of(handler) for router in build_dispatcher(h.app).chain_tail
                      for observer in router.observers.values() for handler in observer.handlers}
        assert len(registered & reached_handlers) >= 0.6 * len(registered)
        # No QR card at all: the only picture is the status chart (counts, a public notice).
        photos = [c for c in h.bot.calls[mark:] if type(c).__name__ == "SendPhoto"]
        assert {getattr(c.photo, "filename", None) for c in photos} <= {"status.png"}  # type: ignore[attr-defined]
        # The pointer leads somewhere: MAX is not served here, so to the class teacher and the paper form.
        pointers = [text for _, _, text in closed_walk if text.startswith("🔒")]
        assert pointers and all("классного руководителя" in text or len(text) <= 200 for text in pointers)
