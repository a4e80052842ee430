from __future__ import annotations

from datetime import timedelta

from aiogram.methods import SendMessage

from bot.channels import Channel
from tests.harness import Harness, roster_csv


async def test_one_time_link_token(harness: Harness) -> None:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    target = (await harness.app.people.by_phone("+79000000004"))[0]
    token = await harness.app.services.onboarding.create_token(purpose="link", person_id=target.id, created_by=None)
    stored = await harness.app.db.fetchval("SELECT token_hash FROM link_tokens")
    assert token not in str(stored)  # only the hash is kept

    calls = await harness.text(4004, f"/start {token}")
    assert "Морозов Игорь Сергеевич" in calls[0].text  # type: ignore[attr-defined]
    linked = await harness.app.people.by_account(Channel.TELEGRAM, 4004)
    assert linked is not None and linked.id == target.id

    calls = await harness.text(4005, f"/start {token}")  # spent
    assert "недействительна" in calls[0].text  # type: ignore[attr-defined]
    assert await harness.app.people.by_account(Channel.TELEGRAM, 4005) is None


async def test_expired_token_is_refused(harness: Harness) -> None:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    target = (await harness.app.people.by_phone("+79000000004"))[0]
    token = await harness.app.services.onboarding.create_token(purpose="link", person_id=target.id, created_by=None)
    harness.clock.advance(timedelta(days=15))
    calls = await harness.text(4004, f"/start {token}")
    assert isinstance(calls[0], SendMessage) and "недействительна" in calls[0].text
    assert await harness.app.people.by_account(Channel.TELEGRAM, 4004) is None


async def test_admin_token_makes_an_it_officer(harness: Harness) -> None:
    token = await harness.app.services.onboarding.create_token(purpose="admin", person_id=None, created_by=None)
    await harness.text(9009, f"/start {token}")
    person = await harness.app.people.by_account(Channel.TELEGRAM, 9009)
    assert person is not None and person.is_admin
