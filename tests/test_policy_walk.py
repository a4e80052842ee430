"""The walk (issue #22, item 6): under the municipal rules (the shipped example: Telegram carries
public notices only), a parent, a class teacher, a teacher, the director and the IT officer, each
linked on Telegram and on MAX, go through every command, every main-menu label, the buttons the bot
puts on its messages (the real ids it put there) and the flows of a school year (tests/walk_flows.py)
in MAX; then the same steps, in the same order, on Telegram. In MAX the names, codes and sign-in
links arrive; on Telegram not one of them does, and each step that carried them in MAX answers on
Telegram with the pointer to the school's bot in MAX. Every registered handler is reached.

A school that serves Telegram alone gets the same walk's commands and menus, and its pointers name
the class teacher and the paper form."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.app import build_dispatcher
from bot.channels import Channel, DataClass, Operator
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.max.wire import bot_link
from bot.tg.policy import purpose_of
from storage.messengers import MessengerRepo
from tests.codes_helpers import CODES, decode_qr, load_school
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
from tests.walk_engine import Step, explore, replay
from tests.walk_max import MAX_USERNAME, max_side

WALKERS = (PARENT_TWO, CLASS_TEACHER, TEACHER, DIRECTOR, IT_OFFICER)
ROLE = {PARENT_TWO: "parent", CLASS_TEACHER: "class teacher", TEACHER: "teacher", DIRECTOR: "director",
        IT_OFFICER: "IT officer"}
NAMES = [row[0] for row in ROSTER_ROWS[1:]]
# A name as a greeting writes it ("Игорь Сергеевич") and a child's first name.
SECRETS = [*NAMES, *(" ".join(n.split()[1:]) for n in NAMES), *CODES.values(), "?start=", "Миша", "Маша", "Коля"]
MAX_LINK = bot_link(MAX_USERNAME)


def leaks(steps: Sequence[Step]) -> list[str]:
    return [f"{step.actions[0]}: {secret!r} in {s[:120]!r}"
            for step in steps for s in step.strings for secret in SECRETS if secret in s]


async def _link(h: Harness) -> None:
    for who in WALKERS:
        await h.contact(who, PHONES[who], who)


async def _registered(h: Harness) -> set[str]:
    return {purpose_of(handler) for router in build_dispatcher(h.app).chain_tail
            for observer in router.observers.values() for handler in observer.handlers}


async def test_the_data_arrives_in_max_and_telegram_gets_pointers(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:
        policy = h.app.channels.policy
        assert policy is not None and policy.operator is Operator.MUNICIPAL
        assert policy.allowed[Channel.TELEGRAM] == frozenset({DataClass.PUBLIC})
        await load_school(h.app)
        mx = max_side(h)
        await _link(h)
        await _link(mx)
        for who in WALKERS:
            person = await h.app.people.by_account(Channel.MAX, who)
            assert person is not None and person == await h.app.people.by_account(Channel.TELEGRAM, who)
        repo = MessengerRepo(h.app.db)
        on_max: dict[int, list[Step]] = {}
        on_telegram: dict[int, list[Step]] = {}
        reached: dict[int, set[str]] = {}
        for who in WALKERS:
            on_max[who] = await explore(mx, who)
            mark = len(await repo.send_log())
            on_telegram[who] = await replay(h, who, on_max[who])
            reached[who] = {r.purpose for r in (await repo.send_log())[mark:] if r.channel == "telegram"}

        # In MAX the data arrives: a sign-in link, a child on a button, a code, a colleague's name.
        arrived = [leak for who in WALKERS for leak in leaks(on_max[who])]
        assert any("?start=" in leak for leak in arrived)
        assert any("Иванов Миша Андреевич" in leak for leak in arrived)
        cards = [decode_qr(c.photo.data) for c in mx.bot.calls  # type: ignore[attr-defined]
                 if type(c).__name__ == "SendPhoto" and c.photo.filename != "status.png"]  # type: ignore[attr-defined]
        assert {code for codes in cards for code in codes} & set(CODES.values())
        # On Telegram, nothing of it; each step that carried it in MAX answers with the pointer.
        for who in WALKERS:
            assert leaks(on_telegram[who]) == [], ROLE[who]
            for there, here in zip(on_max[who], on_telegram[who], strict=True):
                if leaks([there]):
                    assert any(s.startswith("🔒") for s in here.strings), (ROLE[who], there.actions[0], here.strings)
        pointers = [s for who in WALKERS for step in on_telegram[who] for s in step.strings if s.startswith("🔒")]
        # A message's pointer leads to the school's bot in MAX (a button's toast is too short for a link).
        assert pointers and all(MAX_LINK in s for s in pointers if len(s) > 80), [
            s for s in pointers if len(s) > 80 and MAX_LINK not in s]
        assert not [s for s in pointers if "классного руководителя" in s]
        photos = [c for c in h.bot.calls if type(c).__name__ == "SendPhoto"]
        assert {getattr(c.photo, "filename", None) for c in photos} <= {"status.png"}  # type: ignore[attr-defined]

        registered = await _registered(h)
        everyone = set().union(*reached.values())
        for who in WALKERS:
            print(f"{ROLE[who]}: {len(reached[who] & registered)} handlers reached on Telegram")
        print(f"all: {len(everyone & registered)} of {len(registered)}")
        assert len(registered & everyone) >= 0.6 * len(registered), sorted(registered - everyone)


async def test_a_telegram_only_school_points_to_the_class_teacher_and_the_paper_form(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:
        await load_school(h.app)
        await _link(h)
        steps = [step for who in (PARENT_TWO, IT_OFFICER) for step in await explore(h, who)]
        assert leaks(steps) == []
        pointers = [s for step in steps for s in step.strings if s.startswith("🔒")]
        # A message's pointer names the class teacher and the paper form; no link to a bot elsewhere.
        assert [s for s in pointers if len(s) > 80]
        # (in the walker's language: the walk presses /language too).
        assert all(("классного руководителя" in s and "бумажном бланке" in s)
                   or ("class teacher" in s and "paper form" in s) for s in pointers if len(s) > 80)
        assert not [s for s in pointers if "max.ru" in s]
        # No QR card at all: the only picture is the status chart (counts, a public notice).
        photos = [c for c in h.bot.calls if type(c).__name__ == "SendPhoto"]
        assert {getattr(c.photo, "filename", None) for c in photos} <= {"status.png"}  # type: ignore[attr-defined]
