"""The walk (issue #22, item 6): under the municipal rules (the shipped example: Telegram carries
public notices only), a parent, a class teacher, a teacher, the director and the IT officer, each
linked on Telegram and on MAX, go through the flows of a school's term (tests/walk_flows.py: imports,
a sign-in link, training, surveys, acknowledgements, proofs, answers...), then every command, every
main-menu label and the buttons the bot put on its answers and notices (the real ids), in MAX. The
same steps, in the same order, are then taken on Telegram in a twin school (set up the same way, so
every id and every state is the same at each step; only the one-time link, random, does not work
there, so the joining parent links by their phone instead). In MAX the names, codes and sign-in links
arrive; on Telegram not one of them does, and each step that carried them in MAX answers on Telegram
with the pointer to the school's bot in MAX. Every registered handler is reached on Telegram (the
send log names the handler of every answer), but the few NOT_WALKED names, each with its reason.

A school that serves Telegram alone gets the same walk's commands and menus, and its pointers name
the class teacher and the paper form."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiogram.methods import AnswerCallbackQuery, TelegramMethod

from bot.app import build_dispatcher
from bot.channels import Channel, DataClass, Operator
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.max.wire import bot_link
from bot.tg.policy import purpose_of
from storage.messengers import MessengerRepo
from tests.codes_helpers import CODES, decode_qr, load_school
from tests.harness import IT_OFFICER, PARENT_TWO, Harness, handler_harness
from tests.walk_engine import Step, explore, press, replay, strings_of, text
from tests.walk_flows import FLOWS, run_flow
from tests.walk_max import MAX_USERNAME, max_side
from tests.walk_school import ADMIN_ID, FREE_TEXT, PASSPHRASE, ROLE, SECRETS, WALKERS, link, notice_buttons, school

MAX_LINK = bot_link(MAX_USERNAME)
STALE = "gone:1"  # a button of a kind the bot no longer has (an old message's)
# Not reached by a person's walk, each with why, and the test that drives it.
NOT_WALKED = {
    # aiogram's own entry (every update passes it): the Dispatcher, not a handler of ours.
    "dispatcher.Dispatcher._listen_update": "aiogram's update router",
    # Runs only when a handler raises: tests/test_error_handler.py drives it with a handler that does.
    "errors.on_error": "test_error_handler.py::test_a_message_handler_that_raises_gets_an_apology_and_the_bot_goes_on",
}


def leaks(steps: Sequence[Step]) -> list[str]:
    return [f"{step.actions[0] if step.actions else '-'}: {secret!r} in {s[:120]!r}"
            for step in steps for s in step.strings for secret in SECRETS if secret in s]


def _strings(calls: Sequence[TelegramMethod[Any]]) -> list[str]:
    return [s for call in calls for s in strings_of(call)]


def _pointers(calls: Sequence[TelegramMethod[Any]]) -> tuple[list[str], list[str]]:
    """(pointers sent as messages, pointers shown as a button's toast)."""
    said = [(c, getattr(c, "text", None) or getattr(c, "caption", None)) for c in calls]
    pointers = [(c, s) for c, s in said if isinstance(s, str) and s.startswith("🔒")]
    return ([s for c, s in pointers if not isinstance(c, AnswerCallbackQuery)],
            [s for c, s in pointers if isinstance(c, AnswerCallbackQuery)])


async def _registered(h: Harness) -> set[str]:
    return {purpose_of(handler) for router in build_dispatcher(h.app).chain_tail
            for observer in router.observers.values() for handler in observer.handlers}


@asynccontextmanager
async def _school(tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:
    """(Telegram, MAX) of one school, set up for the walk."""
    tmp_path.mkdir()
    async with handler_harness(
        tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG, admin_ids=[ADMIN_ID], backup_passphrase=PASSPHRASE,
    ) as h:
        policy = h.app.channels.policy
        assert policy is not None and policy.operator is Operator.MUNICIPAL
        assert policy.allowed[Channel.TELEGRAM] == frozenset({DataClass.PUBLIC})
        mx = max_side(h)
        await school(h, mx)
        yield h, mx


async def test_the_data_arrives_in_max_and_telegram_gets_pointers(tmp_path: Path) -> None:
    async with _school(tmp_path / "max") as (twin, there), _school(tmp_path / "telegram") as (here, _):
        repo = MessengerRepo(here.app.db)
        pairs: list[tuple[str, Step, Step]] = []  # (who, in MAX, the same on Telegram)
        reached: dict[str, set[str]] = {}

        async def on_telegram(who: int, steps: list[Step], *, in_max: bool = True) -> None:
            mark = len(await repo.send_log())
            again = await replay(here, who, steps)
            if in_max:
                pairs.extend((ROLE.get(who, str(who)), a, b) for a, b in zip(steps, again, strict=True))
            purposes = {r.purpose for r in (await repo.send_log())[mark:] if r.channel == "telegram"}
            reached.setdefault(ROLE.get(who, str(who)), set()).update(purposes)

        notes: dict[str, str] = {}
        for who, flow, where in FLOWS:
            if where == "max":
                await on_telegram(who, await run_flow(there, who, flow, notes))
            else:  # done on Telegram in both schools, so they stay twins
                await on_telegram(who, await run_flow(twin, who, flow, notes), in_max=False)
        for who in WALKERS:
            first = [press(data) for data in await notice_buttons(there, who)] + [press(STALE)]
            if who == PARENT_TWO:  # a question in their own words: the FAQ's answers to it
                first.append(text("Как получить код приглашения?"))
            await on_telegram(who, await explore(there, who, first))

        # In MAX the data arrives: a sign-in link, a child on a button, a QR code, a colleague's name.
        arrived = leaks([a for _, a, _ in pairs])
        assert any("?start=" in leak for leak in arrived)
        assert any("Иванов Миша Андреевич" in leak for leak in arrived)
        assert any("Игорь Сергеевич" in leak for leak in arrived)
        assert any(FREE_TEXT in leak for leak in arrived)
        cards = [decode_qr(c.photo.data) for c in there.bot.calls  # type: ignore[attr-defined]
                 if type(c).__name__ == "SendPhoto" and str(c.photo.filename).startswith("code")]  # type: ignore[attr-defined]
        assert {code for codes in cards for code in codes} & set(CODES.values())
        assert _pointers(there.bot.calls) == ([], [])  # MAX may carry all of it: nothing replaced there
        # On Telegram, nothing of it, in any call either school's bot made there; each step that
        # carried it in MAX answers on Telegram with the pointer.
        on_tg = _strings(here.bot.calls) + _strings(twin.bot.calls)
        assert leaks([Step([], on_tg)]) == []
        for role, a, b in pairs:
            if leaks([a]):
                assert any(s.startswith("🔒") for s in b.strings), (role, a.actions[0], b.strings)
        # A message's pointer leads to the school's bot in MAX by its link; a button's toast names it.
        messages, toasts = _pointers([*here.bot.calls, *twin.bot.calls])
        assert messages and all(MAX_LINK in s for s in messages), [s for s in messages if MAX_LINK not in s]
        assert toasts and all("MAX" in s for s in toasts), [s for s in toasts if "MAX" not in s]
        photos = [c for c in here.bot.calls if type(c).__name__ == "SendPhoto"]
        assert {getattr(c.photo, "filename", None) for c in photos} <= {"status.png"}  # type: ignore[attr-defined]

        # Every registered handler was reached on Telegram (the send log names each answer's handler).
        registered = await _registered(here)
        everyone = set().union(*reached.values())
        for role, purposes in reached.items():
            print(f"{role}: {len(purposes & registered)} handlers reached on Telegram")
        print(f"all: {len(everyone & registered)} of {len(registered)}")
        missed = sorted(registered - everyone - set(NOT_WALKED))
        assert missed == [], ", ".join(missed)
        assert set(NOT_WALKED) <= registered


async def test_a_telegram_only_school_points_to_the_class_teacher_and_the_paper_form(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:
        await load_school(h.app)
        for who in WALKERS:
            await link(h, who)
        mark = len(h.bot.calls)
        steps = await explore(h, PARENT_TWO)
        parent_calls = [c for c in h.bot.calls[mark:] if getattr(c, "chat_id", PARENT_TWO) == PARENT_TWO]
        mark = len(h.bot.calls)
        steps += await explore(h, IT_OFFICER)
        officer_calls = [c for c in h.bot.calls[mark:] if getattr(c, "chat_id", IT_OFFICER) == IT_OFFICER]
        assert leaks(steps) == []
        # A parent's pointer names the class teacher (a message's: and the paper form), never a bot
        # elsewhere; in the walker's language (the walk presses /language too).
        messages, toasts = _pointers(parent_calls)
        assert messages
        teacher = ("классному руководителю", "классного руководителя", "class teacher")
        assert all(any(w in s for w in teacher) for s in messages + toasts), messages + toasts
        assert all("бумажном бланке" in s or "paper form" in s for s in messages), messages
        # Staff are sent to the IT officer and the school computer's exports instead.
        staff_messages, staff_toasts = _pointers(officer_calls)
        assert staff_messages and staff_toasts
        officer = ("ответственного по информатизации", "IT officer")
        assert all(any(w in s for w in officer) for s in staff_messages + staff_toasts), staff_messages
        assert not [s for s in messages + toasts + staff_messages + staff_toasts if "MAX" in s]
        # No QR card at all: the only picture is the status chart (counts, a public notice).
        photos = [c for c in h.bot.calls if type(c).__name__ == "SendPhoto"]
        assert {getattr(c.photo, "filename", None) for c in photos} <= {"status.png"}  # type: ignore[attr-defined]
