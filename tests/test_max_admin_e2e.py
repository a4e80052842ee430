"""End to end on a MAX-only school: the IT officer's own work arrives whole and readable over MAX.

The bot is built as `schoolbot run` builds it with no Telegram token (running_bot(telegram=False))
against the fake MAX, which is as strict as the platform (4000 characters as sent, HTML checked).
The IT officer links by their own contact, sends a roster file with many errors through the real
admin flow (file -> "what is in it?" -> the roster button), then the corrected file (preview ->
«Применить»), and asks /status; each long text comes as numbered parts whose visible text, put
together, is exactly what the service wrote.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax, FakeMaxUser
from bot.fakemax.models import MaxMessage
from bot.services import status as status_service
from bot.services.imports import ImportOptions, render_outcome
from tests.codes_helpers import load_school, person_id
from tests.harness import IT_OFFICER, ROSTER_ROWS, csv_bytes, running_bot
from tests.help_helpers import PHONES

MARKER = re.compile(r"\n\n\((\d+)/(\d+)\)$")
ERRORS = 150  # more than the report lists (100): the rest is counted in one line



def _visible(text: str) -> str:
    """What a reader sees of an HTML text, without whitespace (parts are cut at line ends)."""
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", text)))


def _bodies(parts: list[MaxMessage]) -> list[str]:
    """The parts' visible texts without their "(i/n)" markers, checked to run 1..n in order."""
    marks = [MARKER.search(m.plain) for m in parts]
    assert all(marks), [m.plain[-20:] for m in parts]
    numbers = [(int(m.group(1)), int(m.group(2))) for m in marks if m]
    assert numbers == [(i, len(parts)) for i in range(1, len(parts) + 1)]
    return [MARKER.sub("", m.plain) for m in parts]


def _readable(message: MaxMessage) -> None:
    """Sent as MAX counts it (4000 as sent), as HTML the user sees formatted: no tag or entity shows."""
    assert len(message.text or "") <= 4000
    assert message.format == "html"
    assert not re.search(r"</?(b|i|code|a)\b|&(lt|gt|amp|quot);", message.plain), message.plain[:200]


async def _linked_officer(mx: FakeMax) -> FakeMaxUser:
    officer = mx.user(IT_OFFICER, "Пётр", "Петров", phone=PHONES[IT_OFFICER].lstrip("+"))
    await officer.start()
    ask = await mx.wait_for(IT_OFFICER, lambda m: "поделитесь своим номером" in m.plain)
    await officer.press(ask, "📱 Поделиться номером телефона")
    await mx.wait_for(IT_OFFICER, lambda m: "Ваши роли" in m.plain)
    return officer


async def test_import_report_and_status_arrive_whole_on_a_max_only_school(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    # Each bad row names an unknown role with characters HTML must escape: the report quotes it.
    role = 'завхоз & "сторож" по совместительству'
    rows = [["ФИО", "Роль", "Класс", "Телефон", "Дети"]] + [
        [f"Работников Работник {n:03d}", role, "", "", ""] for n in range(ERRORS)
    ]
    content = csv_bytes(rows)
    async with running_bot(tg, tmp_path, mx=mx, telegram=False) as app:
        await load_school(app)
        officer = await _linked_officer(mx)

        # The real admin flow: a file, the bot asks what is in it, the IT officer presses «Состав».
        mark = len(mx.sent(IT_OFFICER))
        await officer.send_file(content, "состав.csv")
        choice = await mx.wait_for(IT_OFFICER, lambda m: "Что в нём?" in m.plain, after=mark)
        await officer.press(choice, "👥 Состав (ученики, родители, сотрудники)")
        # The choice message becomes the report's first part; the last part is (n/n).
        await mx.wait_for(IT_OFFICER, lambda m: bool(re.search(r"\((\d+)/\1\)$", m.plain)), after=mark, timeout=15)
        parts = [m for m in mx.sent(IT_OFFICER)[mark:] if MARKER.search(m.plain)]
        assert len(parts) > 2 and parts[0].seq == choice.seq  # edited in place, not left behind
        for part in parts:
            _readable(part)
        whole = "\n".join(_bodies(parts))
        assert f"В файле {ERRORS} ошибок:" in whole and f"…и ещё {ERRORS - 100} ошибок" in whole
        assert all(f"Строка {n}:" in whole for n in range(2, 102)) and "Строка 102:" not in whole
        # Nothing lost, nothing doubled: the parts are exactly the report the importer writes.
        officer_person = await app.people.get(await person_id(app, "Петров Пётр Петрович"))
        assert officer_person is not None
        t = app.catalog.translator_for(officer_person)
        outcome = await app.importers["roster"].run(content, "состав.csv", ImportOptions(dry_run=True))
        assert "".join(_visible(b) for b in _bodies(parts)) == _visible(render_outcome(outcome, t, html=True))
        assert role in whole  # quoted as typed, not as entities
        # Nothing half-written: a file with errors adds nobody.
        assert not outcome.ok
        assert await app.db.fetchval("SELECT count(*) FROM persons WHERE full_name LIKE 'Работников%'") == 0

        # The corrected file: checked first (the preview's buttons on its message), applied on the press.
        fixed = csv_bytes([*ROSTER_ROWS, ["Новикова Вера Сергеевна", "ученица", "6Б", "", ""]])
        mark = len(mx.sent(IT_OFFICER))
        await officer.send_file(fixed, "состав.csv")
        choice = await mx.wait_for(IT_OFFICER, lambda m: "Что в нём?" in m.plain, after=mark)
        await officer.press(choice, "👥 Состав (ученики, родители, сотрудники)")
        preview = await mx.wait_for(IT_OFFICER, lambda m: "Проверка прошла" in m.plain, after=mark)
        _readable(preview)
        assert "✅ Применить" in preview.buttons()
        assert await app.db.fetchval("SELECT count(*) FROM persons WHERE full_name LIKE 'Новикова%'") == 0
        await officer.press(preview, "✅ Применить")
        applied = await mx.wait_for(IT_OFFICER, lambda m: "Импорт выполнен" in m.plain, after=mark)
        _readable(applied)
        assert await app.db.fetchval("SELECT count(*) FROM persons WHERE full_name LIKE 'Новикова%'") == 1

        # /status over MAX: the counts per messenger, whole and formatted.
        mark = len(mx.sent(IT_OFFICER))
        await officer.send("/status")
        status = await mx.wait_for(IT_OFFICER, lambda m: "Статус внедрения" in m.plain, after=mark)
        _readable(status)
        data = await app.services.status.collect(officer_person)
        expected = status_service.render(data, t, app.school.tz)
        sent = [m for m in mx.sent(IT_OFFICER)[mark:] if m.plain]
        bodies = _bodies(sent) if len(sent) > 1 else [status.plain]
        assert "".join(re.sub(r"\s+", "", b) for b in bodies) == _visible(expected)
        assert data.people_max >= 1 and data.people_telegram_only == 0
        assert status.buttons()  # the chart button came with it
    refused = [r for r in mx.requests if r.status not in (200, None)]
    assert refused == []
    assert tg.requests == []  # a MAX-only school: Telegram is never asked
