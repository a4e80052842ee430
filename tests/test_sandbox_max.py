"""The sandbox plays a MAX user: the fake MAX server beside the fake Telegram, both wires served."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.channels import Channel
from bot.sandbox.chat import ChatEngine
from bot.sandbox.chat_output import ChatOutput
from bot.sandbox.clock_args import parse_start
from bot.sandbox.options import SandboxOptions
from bot.sandbox.runner import Sandbox
from bot.sandbox.script import ScriptError, load_script, play

START = parse_start("2026-12-01 10:00", ZoneInfo("Europe/Moscow"))


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(SandboxOptions(data_dir=tmp_path / "sb", start=START, max=True, prelink=False)) as sb:
        yield sb
    assert sb.mx is not None and sb.mx.response_violations == [] and sb.mx.internal_errors == []


async def test_chat_engine_plays_a_max_parent_who_links_by_contact_and_presses(sandbox: Sandbox) -> None:
    out = io.StringIO()
    engine = ChatEngine(sandbox, ChatOutput(out))
    await engine.handle("/as parent_5a max")
    parent = sandbox.persona("parent_5a").person
    assert engine.wire_of(parent) == "max" and "мессенджер MAX" in out.getvalue()
    await engine.handle("/start")
    # MAX has no reply keyboard: the contact request is an inline request_contact button.
    assert [(b.index, b.kind, b.text) for b in engine.buttons()] == [(1, "inline", "📱 Поделиться номером телефона")]
    assert "parent_5a (Иванова Елена Викторовна) · MAX" in out.getvalue()  # which messenger it came through
    await engine.handle("1")
    assert "Иванова Елена Викторовна" in out.getvalue()
    linked = await sandbox.app.people.by_account(Channel.MAX, sandbox.max_user_for(parent).id)
    assert linked is not None and linked.user_id(Channel.TELEGRAM) is None
    assert await sandbox.app.people.by_account(Channel.TELEGRAM, parent.tg_id or 0) is None  # nothing reached Telegram
    consent = next(b for b in engine.buttons() if b.text == "📝 Согласие")
    await engine.handle(consent.label)
    read = next(b for b in engine.buttons() if b.text == "📄 Прочитать документ: Миша")
    await engine.handle(f"/press {read.label}")  # an inline callback over MAX
    assert "152-ФЗ" in out.getvalue()

    await engine.handle("/wire telegram")
    assert engine.wire_of(parent) == "telegram" and engine.buttons() == []
    await engine.handle("/wire pigeon")
    assert "/wire max или /wire telegram" in out.getvalue()


async def test_script_plays_on_the_max_wire(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "max.toml"
    path.write_text("""
[[steps]]
as = "parent_one"
wire = "max"
send = "/start"
expect = "поделитесь своим номером"
expect_buttons = ["📱 Поделиться номером телефона"]
[[steps]]
press = "📱 Поделиться номером телефона"
expect = "Смирнов Олег Павлович"
""", encoding="utf-8")
    result = await play(sandbox, load_script(path))
    assert result.ok, result.summary()
    person = sandbox.persona("parent_one").person
    assert await sandbox.app.people.by_account(Channel.MAX, sandbox.max_user_for(person).id) is not None
    path.write_text('[[steps]]\nas = "pupil"\nwire = "icq"\n', encoding="utf-8")
    with pytest.raises(ScriptError, match="bad_wire") as caught:
        load_script(path)
    assert "wire — это «max» или «telegram», а не «icq»" in caught.value.text(sandbox.app.catalog.bind("ru"))
