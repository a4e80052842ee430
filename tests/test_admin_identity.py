"""One person per human: an IT officer from ADMIN_IDS or an admin token is matched to their roster
row (a pick among the roster's IT officers, or their own phone contact) instead of becoming a
second person named after their Telegram display name; an existing duplicate can be merged."""

from __future__ import annotations

from typing import Any

from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import InlineKeyboardMarkup

from bot.channels import Channel
from bot.cli_people import cmd_merge_person
from storage.merge import person_references
from tests.harness import Harness, roster_csv

ADMIN = 1  # in ADMIN_IDS of the `harness` fixture
STRANGER = 555


async def _start_as(h: Harness, user_id: int, first_name: str, text: str = "/start") -> list[Any]:
    message = h._message(user_id, text=text, entities=[{"type": "bot_command", "offset": 0, "length": 6}])
    message["from"]["first_name"] = first_name
    return await h.feed({"message": message})


def _buttons(calls: list[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for c in calls:
        if isinstance(c, SendMessage) and isinstance(c.reply_markup, InlineKeyboardMarkup):
            for row in c.reply_markup.inline_keyboard:
                for b in row:
                    found[b.text] = str(b.callback_data)
    return found


async def _it_officers(h: Harness) -> list[str]:
    return [p.full_name for p in await h.app.people.with_role("it_officer")]


async def test_admin_ids_user_picks_their_roster_row_instead_of_becoming_a_second_person(harness: Harness) -> None:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    people_before = await harness.app.people.count_active()
    calls = await _start_as(harness, ADMIN, "Петя <админ>")
    buttons = _buttons(calls)
    assert "Петров Пётр Петрович" in buttons
    calls = await harness.press(ADMIN, buttons["Петров Пётр Петрович"])
    welcome = next(c for c in calls if isinstance(c, SendMessage))
    assert "Петров Пётр Петрович" in welcome.text
    me = await harness.app.people.by_account(Channel.TELEGRAM, ADMIN)
    assert me is not None and me.full_name == "Петров Пётр Петрович" and me.is_admin
    assert await harness.app.people.count_active() == people_before
    assert await _it_officers(harness) == ["Петров Пётр Петрович"]


async def test_a_stranger_cannot_claim_a_roster_it_officer(harness: Harness) -> None:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    petrov = (await harness.app.people.with_role("it_officer"))[0]
    calls = await harness.press(STRANGER, f"adc:pick:{petrov.id}")
    answers = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].show_alert
    assert await harness.app.people.by_account(Channel.TELEGRAM, STRANGER) is None


async def test_admin_token_user_picks_their_roster_row(harness: Harness) -> None:
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    token = await harness.app.services.onboarding.create_token(purpose="admin", person_id=None, created_by=None)
    calls = await _start_as(harness, STRANGER, "Пётр", text=f"/start {token}")
    buttons = _buttons(calls)
    assert "Петров Пётр Петрович" in buttons
    await harness.press(STRANGER, buttons["Петров Пётр Петрович"])
    me = await harness.app.people.by_account(Channel.TELEGRAM, STRANGER)
    assert me is not None and me.full_name == "Петров Пётр Петрович"
    assert await _it_officers(harness) == ["Петров Пётр Петрович"]


async def test_admin_before_the_roster_then_shares_contact_is_merged_into_their_row(harness: Harness) -> None:
    calls = await _start_as(harness, ADMIN, "Петя <админ> & Ко")
    welcome = next(c for c in calls if isinstance(c, SendMessage))
    assert "Петя &lt;админ&gt; &amp; Ко" in welcome.text  # the display name is escaped in HTML
    boot = await harness.app.people.by_account(Channel.TELEGRAM, ADMIN)
    assert boot is not None and boot.roster_key.startswith("admin:")
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    assert sorted(await _it_officers(harness)) == ["Петров Пётр Петрович", "Петя <админ> & Ко"]

    await harness.contact(ADMIN, "+79000000001", ADMIN)

    me = await harness.app.people.by_account(Channel.TELEGRAM, ADMIN)
    assert me is not None and me.full_name == "Петров Пётр Петрович" and me.is_admin
    assert await _it_officers(harness) == ["Петров Пётр Петрович"]
    merged = await harness.app.db.fetchone("SELECT active, merged_into FROM persons WHERE id = ?", (boot.id,))
    assert merged is not None and (merged["active"], merged["merged_into"]) == (0, me.id)


async def test_it_officer_merges_an_existing_duplicate_from_the_admin_menu(harness: Harness) -> None:
    await _start_as(harness, ADMIN, "Петя")
    boot = await harness.app.people.by_account(Channel.TELEGRAM, ADMIN)
    assert boot is not None
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    # Something the duplicate owns: a queued message addressed to them.
    async with harness.app.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO outbox(dedupe_key, person_id, kind, payload, status, next_attempt_at, created_at)"
            " SELECT 'x', ?, 'text', '{}', 'cancelled', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'",
            (boot.id,),
        )
    calls = await harness.press(ADMIN, "adm:merge")
    buttons = _buttons(calls)
    pair = next(data for text, data in buttons.items() if text.startswith("Петя → Петров"))
    calls = await harness.press(ADMIN, pair)
    confirm = next(c for c in calls if type(c).__name__ == "EditMessageText")
    yes = confirm.reply_markup.inline_keyboard[0][0].callback_data
    await harness.press(ADMIN, yes)

    me = await harness.app.people.by_account(Channel.TELEGRAM, ADMIN)
    assert me is not None and me.full_name == "Петров Пётр Петрович"
    assert await _it_officers(harness) == ["Петров Пётр Петрович"]
    async with harness.app.db.transaction() as conn:
        refs = await person_references(conn)
    for table, column in refs:
        if table in ("persons", "consent_ledger"):
            continue
        left = await harness.app.db.fetchval(f'SELECT count(*) FROM "{table}" WHERE "{column}" = ?', (boot.id,))
        assert left == 0, f"{table}.{column} still names the duplicate"
    owner = await harness.app.db.fetchval("SELECT person_id FROM outbox WHERE dedupe_key = 'x'")
    assert owner == me.id


async def test_cli_merge_person(harness: Harness, capsys: Any) -> None:
    import argparse


    await _start_as(harness, ADMIN, "Петя")
    await harness.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=harness.clock.now())
    t = harness.app.catalog.bind("ru")
    args = argparse.Namespace(duplicate="Петя", into="Петров Пётр")
    assert await cmd_merge_person(harness.app, args, t) == 0
    assert "объединена" in capsys.readouterr().out
    me = await harness.app.people.by_account(Channel.TELEGRAM, ADMIN)
    assert me is not None and me.full_name == "Петров Пётр Петрович"
    # The duplicate is retired: naming it again is refused with a list, not a traceback.
    assert await cmd_merge_person(harness.app, args, t) == 1
