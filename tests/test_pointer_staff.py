"""A pointer in a Telegram-only municipal school leads where its reader can go: a family to the class
teacher and the paper form, a staff member to the IT officer and the school computer's exports (a
class teacher is not sent to a class teacher's paper form for their own class's consents). Outbox
notices follow the recipient the same way."""

from __future__ import annotations

from pathlib import Path

from aiogram.methods import SendMessage

from bot.channels import Channel, DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from storage.outbox import Payload
from tests.codes_helpers import load_school
from tests.harness import CLASS_TEACHER, PARENT_TWO, handler_harness
from tests.help_helpers import PHONES, texts

STAFF = ("🔒 Сведения о ребёнке школа не передаёт через Telegram. "
         "Получите это в школе: у ответственного по информатизации или в выгрузках на школьном компьютере.")
FAMILY = ("🔒 Сведения о ребёнке школа не передаёт через Telegram. "
          "Получите это у классного руководителя на бумажном бланке.")


async def test_staff_are_pointed_to_the_it_officer_and_families_to_the_class_teacher(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:
        await load_school(h.app)
        for who in (CLASS_TEACHER, PARENT_TWO):
            await h.contact(who, PHONES[who], who)
            assert await h.app.people.by_account(Channel.TELEGRAM, who) is not None
        assert texts(await h.text(CLASS_TEACHER, "/class_consent")) == [STAFF]
        assert texts(await h.text(PARENT_TWO, "/codes")) == [FAMILY]
        # The same rule for a notice the sender delivers: its recipient's role decides.
        teacher = await h.app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
        parent = await h.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
        assert teacher is not None and parent is not None
        async with h.app.db.transaction() as conn:
            for person in (teacher, parent):
                await h.app.services.outbox.notify(
                    conn, person, key=f"t:{person.id}", payload=Payload(text="Маша: согласие дано"),
                    now=h.clock.now(), data_class=DataClass.CHILD_PERSONAL,
                )
        mark = len(h.bot.calls)
        sender = h.app.new_sender(h.bot, rate=1000)
        while await sender.drain_once():
            pass
        sent = {c.chat_id: c.text for c in h.bot.calls[mark:] if isinstance(c, SendMessage)}
        assert sent == {CLASS_TEACHER: STAFF, PARENT_TWO: FAMILY}
