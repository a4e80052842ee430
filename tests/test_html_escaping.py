"""Names with ``<``, ``&`` and ``>`` walk through the main messages and reach the user intact.

Telegram refuses a message whose HTML it cannot parse, so one unescaped roster name silently stops a
welcome, a QR card or a nudge. The handler-level bot (tests/mocked_bot.py) applies the fake Bot
API's rules to every call, and the outbox is drained through the real sender, so each message here
is checked as Telegram would check it; the visible text must then show the name as written (not
lost, not double-escaped, not turned into formatting).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiogram.methods import EditMessageText, SendDocument, SendMessage, SendPhoto, TelegramMethod

from bot import capabilities
from bot.channels import Channel
from bot.fakeapi.rules import check_caption, check_markup, check_text
from bot.services.imports import ImportOptions
from scheduler.sweeps import run_sweeps
from storage.accounts import AccountRepo
from storage.outbox import Payload
from tests.codes_helpers import CODE_ROWS
from tests.harness import (
    CLASS_TEACHER,
    IT_OFFICER,
    PARENT_ONE,
    PARENT_TWO,
    ROSTER_ROWS,
    TEACHER,
    Harness,
    csv_bytes,
)

# Each real name of the harness school -> a name a roster really can hold.
NAMES = {
    "Петров Пётр Петрович": "Петров <Пётр> & Ко",
    "Кузнецова Ольга Николаевна": "Кузнецова <b>Ольга Николаевна",
    "Морозов Игорь Сергеевич": "Морозов Игорь <Сергеевич>",
    "Иванов Миша Андреевич": "Иванов Миша & Сын",
    "Иванова Маша Андреевна": "Иванова Маша > Андреевна",
    "Смирнов Коля Олегович": "Смирнов <Саша> & Ко",
    "Иванова Елена Викторовна": "Иванова <i>Елена</i> &amp; Викторовна",
    "Смирнов Олег Павлович": "Смирнов Олег &lt;Павлович&gt;",
}
PHONES = {
    IT_OFFICER: "+79000000001",
    CLASS_TEACHER: "+79000000003",
    TEACHER: "+79000000004",
    PARENT_TWO: "+79000000005",
    PARENT_ONE: "+79000000006",
}
ADMIN_TG = 1  # the harness's ADMIN_IDS user, not in the roster


def _rename(rows: list[list[str]]) -> list[list[str]]:
    out = []
    for row in rows:
        cells = []
        for cell in row:
            for real, odd in NAMES.items():
                cell = cell.replace(real, odd)
            cells.append(cell)
        out.append(cells)
    return out


def visible(call: TelegramMethod[Any]) -> str:
    """What the user sees: the text or caption as Telegram renders it (raises if Telegram would refuse)."""
    if isinstance(call, SendMessage | EditMessageText):
        return check_text(call.text, "HTML")[0]
    if isinstance(call, SendPhoto | SendDocument):
        return check_caption(call.caption, "HTML")[0] or ""
    return ""


def seen(calls: list[TelegramMethod[Any]]) -> str:
    return "\n".join(visible(c) for c in calls)


def button_texts(calls: list[TelegramMethod[Any]]) -> list[str]:
    labels = []
    for call in calls:
        markup = getattr(call, "reply_markup", None)
        for row in getattr(markup, "inline_keyboard", None) or []:
            labels += [button.text for button in row]
    return labels


async def _school(h: Harness) -> None:
    app = h.app
    await app.services.tasks_import.ensure_plan()
    report = await app.services.roster_import.import_roster(
        csv_bytes(_rename(ROSTER_ROWS)), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    outcome = await app.importers["codes"].run(csv_bytes(_rename(CODE_ROWS)), "codes.csv", ImportOptions())
    assert outcome.ok and outcome.applied, outcome.errors


async def _check_outbox(h: Harness) -> list[Payload]:
    """Every message waiting in the outbox passes Telegram's rules, then goes out through the sender."""
    rows = await h.app.db.fetchall("SELECT kind, payload FROM outbox WHERE status = 'pending' ORDER BY id")
    payloads = []
    for kind, raw in rows:
        payload = Payload.from_json(raw)
        if kind == "text":
            check_text(payload.text, payload.parse_mode)
        else:
            check_caption(payload.text, payload.parse_mode)
        check_markup(json.loads(json.dumps(payload.reply_markup)))
        payloads.append(payload)
    sender = h.app.new_sender(h.bot, rate=1000)
    while await sender.drain_once():
        pass
    dead = await h.app.db.fetchall("SELECT dedupe_key, last_error FROM outbox WHERE status = 'dead'")
    assert dead == [], dead
    return payloads


async def test_odd_roster_names_reach_every_main_message(harness: Harness) -> None:
    h = harness
    await _school(h)

    # Welcome and menu for linked people: the name as the roster writes it.
    for tg_id, phone in PHONES.items():
        calls = await h.contact(tg_id, phone, tg_id)
        welcome = [c for c in calls if isinstance(c, SendMessage)]
        assert welcome, calls
        person = await h.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None
        assert person.full_name in seen(welcome)
        assert seen(await h.text(tg_id, "/start"))
        assert seen(await h.text(tg_id, "/menu"))

    # Consent for the children, then the family's QR cards (captions) and the codes menu buttons.
    parent = await h.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert parent is not None
    version = await h.app.services.consent.current()
    children = [p for p in await h.app.people.active() if p.full_name in (NAMES["Иванов Миша Андреевич"],)]
    for child in children:
        await h.app.services.consent.open_document(parent, child, "ru")  # the agree button appears only after this
    await h.app.services.consent.decide(parent=parent, child_ids=[c.id for c in children], decision="given",
                         version=version.number, channel=Channel.TELEGRAM,
                         user_id=PARENT_TWO, update_id=None, callback_id="cb-1")
    calls = await h.text(PARENT_TWO, "/codes")
    assert NAMES["Иванов Миша Андреевич"] in " ".join(button_texts(calls)) + seen(calls)
    calls = await h.text(PARENT_TWO, "/consent")
    assert NAMES["Иванов Миша Андреевич"] in seen(calls)
    payloads = await _check_outbox(h)
    captions = [check_caption(p.text, p.parse_mode)[0] or "" for p in payloads if p.renderer == "qr_card"]
    assert any(NAMES["Иванов Миша Андреевич"] in c for c in captions), captions

    # Nudges: consent reminders to parents who have not decided, code nudges, task reminders.
    nudges: list[str] = []
    for _ in range(6):
        h.clock.advance(timedelta(days=3))
        await run_sweeps(h.clock.now(), capabilities.sweeps(h.app.services))
        nudges += [check_text(p.text, p.parse_mode)[0] for p in await _check_outbox(h) if p.renderer is None]
    # The consent nudge greets by first name and patronymic.
    assert any(NAMES["Смирнов Олег Павлович"].split(" ", 1)[1] in n for n in nudges)
    assert any(NAMES["Кузнецова Ольга Николаевна"] in n for n in nudges)  # code nudge

    # Task views and the status at a glance, for the IT officer and the class teacher.
    blocked = await h.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
    account = blocked.account(Channel.TELEGRAM) if blocked is not None else None
    assert blocked is not None and account is not None
    async with h.app.db.transaction() as conn:
        await AccountRepo.mark_unreachable(conn, account.id, "blocked", h.clock.now())
    for tg_id in (IT_OFFICER, CLASS_TEACHER):
        assert seen(await h.text(tg_id, "/tasks"))
        assert blocked.full_name in seen(await h.text(tg_id, "/status"))


async def test_admin_whose_telegram_name_looks_like_html_gets_welcome_and_menu(harness: Harness) -> None:
    h = harness
    await _school(h)
    user = {"id": ADMIN_TG, "is_bot": False, "first_name": "<Админ>", "last_name": "& Co", "language_code": "ru"}
    message = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": ADMIN_TG, "type": "private"},
        "from": user,
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    calls = await h.feed({"message": message})
    # The bot asks which of the roster's IT officers this is: the roster name shows as written.
    assert NAMES["Петров Пётр Петрович"] in seen(calls) + " ".join(button_texts(calls))
    new = next(
        button.callback_data
        for call in calls
        for row in getattr(getattr(call, "reply_markup", None), "inline_keyboard", None) or []
        for button in row
        if str(button.callback_data).startswith("adc:new")
    )
    query = {"id": "q1", "from": user, "chat_instance": "ci", "data": new,
             "message": message | {"message_id": 2, "from": {"id": 42, "is_bot": True, "first_name": "SchoolBot"}}}
    calls = await h.feed({"callback_query": query})
    welcome = [c for c in calls if isinstance(c, SendMessage | EditMessageText)]
    assert welcome, calls
    person = await h.app.people.by_account(Channel.TELEGRAM, ADMIN_TG)
    assert person is not None and person.full_name == "<Админ> & Co"
    assert person.full_name in seen(welcome)
    assert seen(await h.text(ADMIN_TG, "/menu"))
    assert seen(await h.text(ADMIN_TG, "/status"))
