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

# The asker of a ticket made into an FAQ entry and the plan the new year moves are read inside
# their transactions (TicketService.make_faq_entry, SchoolYearService.new_year).
from tests.test_school_year import (  # noqa: F401  (in-process ones: the CLI test's command opens its own)
    test_consent_for_one_school_year_is_asked_again,
    test_mapping_merges_classes_and_a_bad_mapping_names_the_field,
    test_promotion_keeps_the_same_person_and_moves_the_calendar,
    test_the_it_officer_moves_the_year_in_the_bot_after_a_preview,
)
from tests.test_tickets import *  # noqa: F403


@pytest.fixture(autouse=True)
def _pooled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Also for the flows that build their own harness (handler_harness(tmp_path, ...)).
    monkeypatch.setattr(core, "Database", functools.partial(Database, separate_reader=True))


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with handler_harness(tmp_path, admin_ids=[1]) as h:
        assert h.app.db.conn is not h.app.db._writer  # the reads really are elsewhere
        yield h
