"""The user flows whose effects happen in one transaction, run with reads on a second connection
(storage.db.Database(separate_reader=True)): it sees only what is committed, as a pooled backend's
reads would (PostgreSQL, #27). A flow passes only if everything that must see the transaction's
uncommitted rows (the consent gate releasing codes, the person just linked, the family of a
withdrawal) is handed the transaction explicitly rather than reading on the database's connection:
with the consent gate of CodesService.deliver read on `db.conn` again, 7 of them fail."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import core
from storage.db import Database
from tests.harness import Harness, handler_harness
from tests.test_code_gate import (  # noqa: F401  (collected here again, with the reads elsewhere)
    test_the_gate_answers_per_code_role,
    test_withdrawal_for_one_child_keeps_the_siblings_cards,
)

# Every flow of these modules that runs on the `harness` fixture runs again on the one below.
from tests.test_codes import *  # noqa: F403
from tests.test_consent_family import *  # noqa: F403
from tests.test_consent_withdrawal import *  # noqa: F403
from tests.test_links import *  # noqa: F403


@pytest.fixture
async def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setattr(core, "Database", functools.partial(Database, separate_reader=True))
    async with handler_harness(tmp_path, admin_ids=[1]) as h:
        assert h.app.db.conn is not h.app.db._writer  # the reads really are elsewhere
        yield h
