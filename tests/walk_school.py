"""The school the walk goes through (issue #22, item 6): the small school of tests.harness with its
codes, its five walkers linked on Telegram and on MAX, a question to the IT officer, a backup with an
off-site passphrase, a message the outbox gave up on; plus what the flows' files bring in (a second IT
officer not yet in the bot, a teacher who leaves, two pupils of one name). Everything the walk must
never show on Telegram is in SECRETS."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.channels import Channel
from storage.delivery import DeliveryRepo
from tests.codes_helpers import CODES, load_school
from tests.harness import (
    CLASS_TEACHER,
    DIRECTOR,
    IT_OFFICER,
    PARENT_ONE,
    PARENT_TWO,
    ROSTER_ROWS,
    TEACHER,
    Harness,
    csv_bytes,
)
from tests.help_helpers import PHONES

WALKERS = (PARENT_TWO, CLASS_TEACHER, TEACHER, DIRECTOR, IT_OFFICER)
ADMIN_ID = 9001  # in ADMIN_IDS, in no roster: the bot asks which roster IT officer they are
ROLE = {PARENT_TWO: "parent", CLASS_TEACHER: "class teacher", TEACHER: "teacher", DIRECTOR: "director",
        IT_OFFICER: "IT officer", PARENT_ONE: "parent joining", ADMIN_ID: "ADMIN_IDS administrator"}
PASSPHRASE = "walk-offsite-passphrase-0123"

# The roster file the IT officer sends first adds these; the second one moves the pupil of one name
# to 7В (which of the two was it? the bot asks) and lets the teacher go (the bot asks to confirm).
SECOND_OFFICER = "Волков Андрей Игоревич"
LEAVING_TEACHER = "Лебедева Нина Павловна"
VANYA = "Петров Ваня Ильич"
EXTRA_ROWS = [
    [SECOND_OFFICER, "ответственный по информатизации", "", "", ""],
    [LEAVING_TEACHER, "учитель", "", "", ""],
    [VANYA, "ученик", "5А", "", ""],
    [VANYA, "ученик", "6Б", "", ""],
]
NAMES = [row[0] for row in ROSTER_ROWS[1:]] + [row[0] for row in EXTRA_ROWS]
# A name as a greeting writes it ("Игорь Сергеевич"), a child's first name, a code, a sign-in link.
# A person's phone and a free-text survey answer (the flows type it) are personal data too.
FREE_TEXT = "Больше подсказок для родителей"
# A parent's questions to the IT officer: theirs, personal, until the officer makes one an FAQ entry
# stating it carries no personal data.
QUESTIONS = ("Когда придёт код приглашения?", "Где найти расписание собраний?")
SECRETS = [*NAMES, *(" ".join(n.split()[1:]) for n in NAMES), *CODES.values(), "?start=", "Миша", "Маша", "Коля",
           "Ваня", *(phone[-10:] for phone in PHONES.values()), FREE_TEXT, *QUESTIONS]


def first_roster() -> bytes:
    return csv_bytes([*ROSTER_ROWS, *EXTRA_ROWS])


def second_roster() -> bytes:
    return csv_bytes([*ROSTER_ROWS, EXTRA_ROWS[0], [VANYA, "ученик", "7В", "", ""]])


async def link(h: Harness, who: int) -> None:
    await h.contact(who, PHONES[who], who)


async def school(h: Harness, mx: Harness) -> None:
    """The school, its walkers linked on both messengers, and what their screens will show."""
    await load_school(h.app)
    for who in WALKERS:
        await link(h, who)
        await link(mx, who)
        person = await h.app.people.by_account(Channel.MAX, who)
        assert person is not None and person == await h.app.people.by_account(Channel.TELEGRAM, who)
    # A question, so the IT officer's ticket list has an asker's name in it (in MAX: the notice's
    # buttons are the real ones). It names no child: the walk also presses "add to the FAQ", which
    # publishes the question as the officer's own public text.
    for question in QUESTIONS:
        await mx.text(PARENT_TWO, "/ask")
        await mx.text(PARENT_TWO, question)
    # A backup with the off-site passphrase set: /backup offers the encrypted archive.
    result = await h.app.services.backup.take_backup()
    assert result.ok, result
    # A message the outbox gave up on (a person who blocked the bot): the dead letters can be retried.
    # A week of the school's minutes: reminders of plan tasks, nudges about consent and codes.
    start = h.clock.now()
    for day in range(1, 8):
        h.clock.set(start + timedelta(days=day))
        await h.app.tick()
    first = await h.app.db.fetchval("SELECT min(id) FROM outbox")
    # As the sender records it: under its own lease (storage/delivery.py).
    delivery = DeliveryRepo(h.app.db)
    assert await delivery.claim([int(first)], h.clock.now(), h.clock.now())
    assert await delivery.mark_dead(int(first), "Forbidden: bot was blocked by the user")


async def notice_buttons(h: Harness, who: int) -> list[str]:
    """The buttons on the notices the outbox holds for ``who`` (an invitation, a reminder, a task):
    what they can press besides their commands and menu."""
    person = await h.app.people.by_account(Channel.TELEGRAM, who)
    assert person is not None
    rows = await h.app.db.fetchall("SELECT payload FROM outbox WHERE person_id = ? ORDER BY id", (person.id,))
    found: list[str] = []
    for row in rows:
        markup = json.loads(row["payload"]).get("reply_markup") or {}
        found += [b["callback_data"] for line in markup.get("inline_keyboard", []) for b in line
                  if b.get("callback_data") and b["callback_data"] not in found]
    return found
