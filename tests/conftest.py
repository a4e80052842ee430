from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from bot.fakeapi import FakeTelegram
from tests.harness import Harness, handler_harness


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with handler_harness(tmp_path, admin_ids=[1]) as h:
        yield h


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_orphan_processes() -> Iterator[None]:
    """A test that starts the bot as a process and then fails before stopping it must not leave it
    polling for the rest of the run (orphans load the machine and skew every later timing)."""
    yield
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
