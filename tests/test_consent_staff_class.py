"""«К списку классов» on a staff consent screen (issue #22): for a class teacher of one class the
"list of classes" is that class's children by name with their consent states (child data), for the
IT officer the counts per class (public). The handler was declared public and so sent the children's
names to Telegram under the municipal rules; it now declares what it shows."""

from __future__ import annotations

from pathlib import Path

from aiogram.methods import EditMessageText, SendMessage

from bot.channels import DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.tg.callbacks import StaffAction, StaffCb
from storage.messengers import MessengerRepo
from tests.harness import CLASS_TEACHER, IT_OFFICER, handler_harness
from tests.help_helpers import buttons, linked_school

PUPILS = ("Иванов Миша", "Смирнов Коля", "Миша", "Коля")


async def test_the_class_list_of_a_class_teacher_is_child_data(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:  # municipal, Telegram only
        await linked_school(h, CLASS_TEACHER, IT_OFFICER)
        back = StaffCb(action=StaffAction.CLASSES).pack()

        calls = await h.press(CLASS_TEACHER, back)
        shown = " ".join(
            f"{c.text} {buttons(c)}" for c in calls if isinstance(c, SendMessage | EditMessageText)
        )
        # A staff member's pointer sends them to the IT officer (tests/test_pointer_staff.py).
        assert "🔒 Сведения о ребёнке" in shown and "ответственного по информатизации" in shown
        assert not any(name in shown for name in PUPILS), shown

        # The IT officer's list is counts per class: public, shown as it is.
        calls = await h.press(IT_OFFICER, back)
        shown = " ".join(f"{c.text}" for c in calls if isinstance(c, SendMessage | EditMessageText))
        assert "5А" in shown and "🔒" not in shown

        log = {(r.purpose, r.data_class, r.outcome) for r in await MessengerRepo(h.app.db).send_log()}
        assert ("consent_staff.show_classes", DataClass.CHILD_PERSONAL, "pointer") in log
        assert ("consent_staff.show_classes", DataClass.PUBLIC, "sent") in log
