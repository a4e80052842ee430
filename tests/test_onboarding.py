"""Roster import and linking through the real Dispatcher (handler level)."""

from __future__ import annotations

from aiogram.methods import SendMessage, SetMyCommands

from bot.channels import Channel
from tests.harness import IT_OFFICER, PARENT_TWO, Harness, roster_csv


async def _import(h: Harness) -> None:
    report = await h.app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    assert len(report.added) == 9


async def test_parent_links_by_own_contact(harness: Harness) -> None:
    await _import(harness)
    calls = await harness.text(PARENT_TWO, "/start")
    assert isinstance(calls[0], SendMessage)
    assert calls[0].reply_markup.keyboard[0][0].request_contact  # type: ignore[union-attr]
    calls = await harness.contact(PARENT_TWO, "+7 (900) 000-00-05", PARENT_TWO)
    welcome = next(c for c in calls if isinstance(c, SendMessage))
    assert "Здравствуйте, Елена Викторовна!" in welcome.text
    assert any(isinstance(c, SetMyCommands) for c in calls)
    person = await harness.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert person is not None and person.roles == {"parent"}
    assert [c.full_name for c in await harness.app.people.children(person.id)] == [
        "Иванов Миша Андреевич",
        "Иванова Маша Андреевна",
    ]


async def test_someone_elses_contact_is_refused(harness: Harness) -> None:
    await _import(harness)
    calls = await harness.contact(PARENT_TWO, "+79000000005", 999)
    assert "свой" in calls[0].text  # type: ignore[attr-defined]
    assert await harness.app.people.by_account(Channel.TELEGRAM, PARENT_TWO) is None


async def test_unknown_and_known_phone_of_someone_else_answer_the_same(harness: Harness) -> None:
    await _import(harness)
    # The director's phone, already linked to the director's account, and an unknown phone.
    await harness.contact(2002, "+79000000002", 2002)  # director links first
    known = await harness.contact(7777, "+79000000002", 7777)
    unknown = await harness.contact(7778, "+79001112233", 7778)
    assert [type(c) for c in known] == [type(c) for c in unknown]
    assert known[0].text == unknown[0].text  # type: ignore[attr-defined]


async def test_admin_bootstrap_from_admin_ids(harness: Harness) -> None:
    calls = await harness.text(1, "/start")
    assert "ответственный по информатизации" in calls[0].text  # type: ignore[attr-defined]
    person = await harness.app.people.by_account(Channel.TELEGRAM, 1)
    assert person is not None and person.is_admin


async def test_roster_import_by_sending_a_file(harness: Harness) -> None:
    await harness.text(1, "/start")
    calls = await harness.document(1, roster_csv(encoding="utf-8-sig", delimiter=","), "состав.csv")
    assert "Что в нём" in calls[0].text  # type: ignore[attr-defined]
    calls = await harness.press(1, "imp:roster:0")
    preview = next(c for c in calls if type(c).__name__ == "EditMessageText")
    assert "добавлено: 9" in preview.text  # type: ignore[attr-defined]
    assert await harness.app.people.count_active() == 1  # nothing written by the preview
    calls = await harness.press(1, "imp:roster:1")
    assert await harness.app.people.count_active() == 10
    assert IT_OFFICER  # the roster's IT officer links by contact later
