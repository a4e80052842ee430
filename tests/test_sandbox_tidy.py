"""The sandbox as a school person meets it: time travel takes the nightly backup, and the people
table has headers and roles in one language."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.chat import ChatEngine
from bot.sandbox.chat_output import ChatOutput
from bot.sandbox.clock_args import parse_start
from bot.sandbox.options import SandboxOptions
from bot.sandbox.runner import Sandbox
from storage.ops import OpsRepo

START = parse_start("2026-12-01 10:00", ZoneInfo("Europe/Moscow"))


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(SandboxOptions(data_dir=tmp_path / "sb", start=START)) as sb:
        yield sb


async def test_time_travel_runs_the_nightly_backup(sandbox: Sandbox) -> None:
    buffer = io.StringIO()
    engine = ChatEngine(sandbox, ChatOutput(buffer))
    assert await OpsRepo(sandbox.app.db).db_backup_log() == []
    await engine.handle("/time +1d")
    taken = await OpsRepo(sandbox.app.db).db_backup_log()
    assert len(taken) == 1 and taken[0].ok
    assert taken[0].taken_at.astimezone(sandbox.tz).hour == 2  # inside the night window


async def test_people_table_has_clean_headers_in_one_language(sandbox: Sandbox) -> None:
    buffer = io.StringIO()
    engine = ChatEngine(sandbox, ChatOutput(buffer))
    await engine.handle("/as")
    lines = buffer.getvalue().splitlines()
    header = lines[1].split()
    assert header == ["№", "ключ", "имя", "роль", "непрочитано"]
    table = "\n".join(lines[2:])
    # Roles in the sandbox's language only (Russian by default): no English label such as "teacher".
    assert "ответственный за информатизацию" in table and "учитель" in table and "родитель" in table
    assert "teacher of" not in table and "IT officer" not in table and "parent" not in table.replace("parent_", "")
    assert "непрочитано" not in table  # the count sits under its header
