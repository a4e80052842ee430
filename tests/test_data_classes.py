"""Every handler declares the data class of what it answers (issue #22): the channel policy is
enforced at the send (bot/tg/policy.py) by that declaration, so a handler without one would count as
personal data everywhere; a new handler must say what it can show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message

from bot.app import build_dispatcher
from bot.channels import DataClass
from bot.i18n import Translator
from bot.tg.callbacks import BcAudience, BcConfirm
from bot.tg.middlewares import HandlerDependencyError, check_handler_dependencies
from bot.tg.policy import declared_class, public, purpose_of
from tests.harness import DIRECTOR, Harness, handler_harness
from tests.help_helpers import buttons, linked_school


async def test_every_registered_handler_declares_its_data_class(tmp_path: Path) -> None:
    async with handler_harness(tmp_path) as h:
        dp = build_dispatcher(h.app)
        missing: list[str] = []
        seen = 0
        for router in dp.chain_tail:
            for name, observer in router.observers.items():
                if name == "update" and router is dp:
                    continue  # the dispatcher's own propagation, not a handler
                for handler in observer.handlers:
                    seen += 1
                    if declared_class(handler) is None:
                        missing.append(f"{router.name}/{name}: {purpose_of(handler)}")
        assert seen > 100
        assert missing == [], "handlers without a declared data class: " + ", ".join(missing)


async def test_what_a_handler_can_show_decides_its_class(tmp_path: Path) -> None:
    """Decided by what it can show, not by its usual case (the issue's examples)."""
    async with handler_harness(tmp_path) as h:
        dp = build_dispatcher(h.app)
        classes = {
            purpose_of(handler): declared_class(handler)
            for router in dp.chain_tail for observer in router.observers.values() for handler in observer.handlers
        }
    assert classes["admin.link_pick"] is DataClass.CREDENTIAL  # a one-time link with a full name
    assert classes["codes.my_codes"] is DataClass.CHILD_PERSONAL  # buttons named after the children
    assert classes["codes.admin_search"] is DataClass.CHILD_PERSONAL
    assert classes["school_year.preview"] is DataClass.CHILD_PERSONAL  # every pupil by full name
    assert classes["tickets.tickets_list"] is DataClass.PERSONAL  # askers' names and their questions
    assert classes["start.start"] is DataClass.PERSONAL  # the greeting names the person
    assert classes["tasks.show_tasks"] is DataClass.PERSONAL  # "👤 Сейчас: <name>"
    assert classes["training.xlsx"] is DataClass.PERSONAL_FILE  # the attendance XLSX
    assert classes["admin.link_search"] is DataClass.PERSONAL  # the person search
    assert classes["start.start_newcomer"] is DataClass.PUBLIC  # asks for a phone number, names nobody


async def test_a_broadcast_is_personal_unless_its_author_marks_it(harness: Harness) -> None:
    """The preview says how the text will go out; "✅ Отправить" sends it as personal data, the other
    button (the author's statement that the text carries none) as a public notice."""
    await linked_school(harness)
    sent_as: list[str] = []
    for marked in (False, True):
        await harness.text(DIRECTOR, "/broadcast")
        await harness.press(DIRECTOR, BcAudience(kind="staff").pack())
        calls = await harness.text(DIRECTOR, "Педсовет в четверг в 15:00")
        preview = next(c for c in calls if isinstance(c, SendMessage) and "Отправить?" in c.text)
        assert "как личные данные" in preview.text
        assert BcConfirm(ok=True, public=True).pack() in [data for _, data in buttons(preview)]
        await harness.press(DIRECTOR, BcConfirm(ok=True, public=marked).pack())
        rows = await harness.app.db.fetchall(
            "SELECT DISTINCT data_class FROM outbox WHERE dedupe_key LIKE 'bc:%' AND broadcast_id ="
            " (SELECT max(id) FROM broadcasts)"
        )
        sent_as += [r[0] for r in rows]
    assert sent_as == ["personal", "public"]


async def test_a_handler_asking_for_what_nothing_provides_fails_the_build(tmp_path: Path) -> None:
    """Item 7: dependencies are checked when the dispatcher is built; `db`, `settings` and `scheduler`
    are not handed to handlers at all."""
    async with handler_harness(tmp_path) as h:
        dp = build_dispatcher(h.app)  # every real handler resolves
        assert check_handler_dependencies(dp, h.app.dispatcher_data()) > 100
        for withheld in ("db", "settings", "scheduler"):
            assert withheld not in h.app.dispatcher_data()

        @public
        async def typo(message: Message, t: Translator, *, tickest: object) -> None:
            raise AssertionError("never called")

        router = Router(name="typo")
        router.message.register(typo, Command("typo"))
        dp.include_router(router)
        with pytest.raises(HandlerDependencyError, match="typo: tickest"):
            check_handler_dependencies(dp, h.app.dispatcher_data())


def test_nothing_reads_aiogram_private_attributes() -> None:
    """No `._name` access on aiogram's objects (dispatcher, routers, observers, handlers, sessions)."""
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"\b(dp|dispatcher|router|observer|handler|session|bot)\._[a-z]\w*")
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for folder in ("bot", "handlers", "scheduler")
        for path in (root / folder).rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line) and "getattr(" not in line
    ]
    assert found == []
