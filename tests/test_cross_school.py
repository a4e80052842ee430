"""The cross-school refusal walk (issue #27, item 2): two schools served by ONE Dispatcher (bot/multibot.py,
as `schoolbot run` builds it for a district), each with its own store and bots. School B is the policy
walk's school (tests/walk_school.py) taken through the flows of a term (tests/walk_flows.py: imports, a
sign-in link, training, surveys, acknowledgements, proofs, questions...); its staff then walk their
bot, and every button the bot put in front of them is collected: B's ticket, survey, person, code,
training, task and campaign ids in B's callback data.

School A has other people (other names, other codes, another title). Its staff (the IT officer, the
class teacher, the director, a teacher) press every one of B's buttons in A's bot, then walk A's own
commands, menus and buttons (tests/walk_engine.py). They get refusals or A's own data: no name, code,
question, survey title or school title of B appears in anything A's bot sent (texts, captions, buttons,
file names, the QR codes in pictures), and B's bots send nothing while A's staff walk.

A person with the same Telegram id being a parent in both schools, who sees only A's children through
A's bot and only B's through the district bot after picking B, is
tests/test_multibot.py::test_a_parent_in_two_schools_picks_one_in_the_district_bot_and_sees_its_children_only
(over the real webhook server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import TelegramMethod

from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.multibot import Multibot, School, SchoolFsm, build_multibot_dispatcher
from bot.services.imports import ImportOptions
from bot.tg.policy import purpose_of
from scheduler.base import ManualScheduler
from storage.messengers import MessengerRepo
from tests import walk_engine
from tests.codes_helpers import CODE_ROWS, CODES, decode_qr
from tests.harness import (
    CLASS_TEACHER,
    DEFAULT_START,
    DIRECTOR,
    IT_OFFICER,
    PARENT_TWO,
    ROSTER_ROWS,
    TEACHER,
    Harness,
    csv_bytes,
    make_settings,
    pooled_app,
)
from tests.help_helpers import PHONES
from tests.mocked_bot import MockedBot
from tests.multibot_helpers import school_config
from tests.walk_engine import explore, press, run_step, strings_of, text
from tests.walk_flows import FILE_SURVEY, FLOWS, run_flow
from tests.walk_max import MAX_USERNAME, MaxMockedBot
from tests.walk_school import ADMIN_ID, FREE_TEXT, NAMES, PASSPHRASE, QUESTIONS, school

# School A: the same roles and phones (the walkers link by them), nobody of B's.
A_NAMES = {
    "Петров Пётр Петрович": "Соловьёв Глеб Аркадьевич",
    "Сидорова Анна Ивановна": "Фёдорова Раиса Тимуровна",
    "Кузнецова Ольга Николаевна": "Белова Зоя Марковна",
    "Морозов Игорь Сергеевич": "Жуков Савва Ефимович",
    "Иванов Миша Андреевич": "Титов Егор Львович",
    "Иванова Маша Андреевна": "Титова Ульяна Львовна",
    "Смирнов Коля Олегович": "Крылов Федя Ильич",
    "Иванова Елена Викторовна": "Титова Алла Борисовна",
    "Смирнов Олег Павлович": "Крылов Илья Кузьмич",
}
A_TITLE = "Лицей № 7"
A_QUESTION = "Когда будет собрание в лицее?"
# Everything of B that A's bot must never show: its people (full names, "Имя Отчество" as greetings
# write them, children's first names), codes, questions, free-text answers, survey title, its name.
B_SECRETS = [
    *NAMES, *(" ".join(n.split()[1:]) for n in NAMES), *CODES.values(), "Миша", "Маша", "Коля", "Ваня",
    FREE_TEXT, *QUESTIONS, FILE_SURVEY, "СОШ № 1", "Средняя общеобразовательная школа № 1",
]
STAFF = (IT_OFFICER, CLASS_TEACHER, DIRECTOR, TEACHER)


def _renamed(rows: list[list[str]]) -> bytes:
    def cell(value: str) -> str:
        for old, new in A_NAMES.items():
            value = value.replace(old, new)
        return value

    return csv_bytes([[cell(c) for c in row] for row in rows])


def _a_codes() -> bytes:
    # Other codes, in the same shape: the first letter of each group moved on.
    rows = [CODE_ROWS[0], *([*row[:3], "Q" + row[3][1:5] + "Q" + row[3][6:10] + "Q" + row[3][11:]]
                            for row in CODE_ROWS[1:])]
    return _renamed(rows)


def school_fsm(school: School) -> SchoolFsm:
    fsm = school.own[0]
    assert isinstance(fsm, SchoolFsm)
    return fsm


@asynccontextmanager
async def two_schools(tmp_path: Path) -> AsyncIterator[tuple[Multibot, Harness, Harness, Harness]]:
    """(the district's one Dispatcher, A on Telegram, B on Telegram, B in MAX)."""
    clock = ManualClock(DEFAULT_START)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    app_a = pooled_app(make_settings(tmp_path / "a", school_config=school_config(tmp_path / "a", A_TITLE)),
                       clock=clock, scheduler=ManualScheduler())
    app_b = pooled_app(make_settings(tmp_path / "b", school_config=EXAMPLE_SCHOOL_CONFIG, admin_ids=[ADMIN_ID],
                                     backup_passphrase=PASSPHRASE), clock=clock, scheduler=ManualScheduler())
    bot_a, bot_b, max_b = MockedBot(), MockedBot(), MaxMockedBot()
    multibot = Multibot(
        {"a": School("a", app_a, bot=bot_a), "b": School("b", app_b, bot=bot_b, max_bot=max_b)}, app_a.settings,
    )
    dp = build_multibot_dispatcher(multibot)
    app_b.send_guard.protect(max_b)
    app_b.send_guard.serve_max(MAX_USERNAME)
    for app in (app_a, app_b):
        await app.open()
    h_a, h_b, mx_b = Harness(app_a, bot_a, dp), Harness(app_b, bot_b, dp), Harness(app_b, max_b, dp)
    # B's two bots deliver into one store, with one update counter (as walk_max.max_side); A counts its own.
    mx_b._update_ids, mx_b._message_ids = h_b._update_ids, h_b._message_ids
    try:
        yield multibot, h_a, h_b, mx_b
    finally:
        for app in (app_a, app_b):
            await app.close()


async def set_up_a(h: Harness) -> None:
    app = h.app
    assert (await app.services.roster_import.import_roster(_renamed(ROSTER_ROWS), "roster.csv", now=app.clock.now())).ok
    outcome = await app.importers["codes"].run(_a_codes(), "codes.csv", ImportOptions())
    assert outcome.ok and outcome.applied, outcome.errors
    for who in (*STAFF, PARENT_TWO):
        await h.contact(who, PHONES[who], who)
    await h.text(PARENT_TWO, "/ask")
    await h.text(PARENT_TWO, A_QUESTION)
    start = h.clock.now()
    for day in (1, 2, 3):
        h.clock.set(start + timedelta(days=day))
        await app.tick()


def _strings(calls: list[TelegramMethod[Any]]) -> list[str]:
    found = [s for call in calls for s in strings_of(call)]
    for call in calls:
        if type(call).__name__ == "SendPhoto":
            found += decode_qr(call.photo.data)  # type: ignore[attr-defined]
    return found


async def test_school_a_staff_pressing_school_b_buttons_get_refusals_or_their_own_school(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_schools(tmp_path) as (multibot, h_a, h_b, mx_b):
        fsm = {id(h.bot): school_fsm(multibot.schools[key]) for key, h in (("a", h_a), ("b", h_b), ("b", mx_b))}

        async def state_of(h: Harness, who: int) -> str | None:
            # The school's own conversation state (the district's Dispatcher keeps none of its own).
            school = fsm[id(h.bot)]
            key = StorageKey(bot_id=h.bot.id, chat_id=who, user_id=who, destiny=school.destiny)
            return await FSMContext(school.storage, key).get_state()

        monkeypatch.setattr(walk_engine, "state_of", state_of)

        # School B through a term, then its staff's walk in MAX: every button they were shown.
        await school(h_b, mx_b)
        notes: dict[str, str] = {}
        for who, flow, where in FLOWS:
            await run_flow(mx_b if where == "max" else h_b, who, flow, notes)
        b_buttons: list[str] = []
        for who in STAFF:
            for step in await explore(mx_b, who):
                b_buttons += [data for data in step.buttons if data not in b_buttons]
        # A broadcast's progress message goes on being edited in B's chat on its own clock (a B flow
        # started it): stopped, so that whatever B's bots send from now on answers A's walk.
        await h_b.app.watchers.stop()
        b_sent = len(h_b.bot.calls), len(mx_b.bot.calls)

        # School A's staff press every one of them in A's bot, then walk A's own screens.
        await set_up_a(h_a)
        mark = len(h_a.bot.calls)
        log_mark = len(await MessengerRepo(h_a.app.db).send_log())
        pressed = 0
        for who in STAFF:
            for data in b_buttons:
                await run_step(h_a, who, [press(data)])
                pressed += 1
                if await state_of(h_a, who) is not None:
                    await run_step(h_a, who, [text("/cancel")])
            await explore(h_a, who)
        seen = _strings(h_a.bot.calls[mark:])
        leaks = sorted({f"{secret!r} in {s[:100]!r}" for s in seen for secret in B_SECRETS if secret in s})
        assert leaks == []
        # A's own data did arrive (the walk reached real screens), and B's bots said nothing meanwhile.
        assert any(A_NAMES["Петров Пётр Петрович"] in s or "Глеб Аркадьевич" in s for s in seen)
        assert any(A_QUESTION in s for s in seen)
        extra = [*h_b.bot.calls[b_sent[0]:], *mx_b.bot.calls[b_sent[1]:]]
        assert extra == [], [(type(c).__name__, c.model_dump(exclude_none=True)) for c in extra]
        purposes = {r.purpose for r in (await MessengerRepo(h_a.app.db).send_log())[log_mark:]}
        registered = {purpose_of(handler) for router in multibot.dispatcher.chain_tail  # type: ignore[union-attr]
                      for observer in router.observers.values() for handler in observer.handlers}
        kinds = {data.split(":")[0] for data in b_buttons}
        print(f"B's buttons pressed in A: {len(b_buttons)} ({len(kinds)} kinds), {pressed} presses; "
              f"A's handlers that answered: {len(purposes & registered)} of {len(registered)}")
        assert len(b_buttons) > 50 and len(kinds) > 20
