"""One consent gate for every path a code leaves by (issue #12 item 1).

The school: 5А has Миша (his mother Елена agrees), Коля (his father Олег declines) and Даша (her
mother never answers); Маша (6Б) is Елена's other child. Print sheets are rendered with pdftoppm
and their QR codes decoded: they hold exactly the covered pupils' codes, from the bot and from the
CLI; parents' own codes never appear on the class teacher's sheet. After a withdrawal every path is
walked again."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, SendPhoto

from bot.channels import Channel
from bot.cli import main as cli_main
from bot.services import codes as svc
from bot.services import consent
from bot.services import status as status_service
from bot.services.imports import ImportOptions
from bot.tg.callbacks import CodePrint, CodeShow
from storage.codes import CodeRepo
from tests.codes_helpers import CODE_ROWS, CODES, codes_csv, decode_qr, person_id
from tests.harness import (
    CLASS_TEACHER,
    IT_OFFICER,
    PARENT_ONE,
    PARENT_TWO,
    ROSTER_ROWS,
    Harness,
    csv_bytes,
    handler_harness,
    make_settings,
)

MISHA, MASHA, KOLYA = "Иванов Миша Андреевич", "Иванова Маша Андреевна", "Смирнов Коля Олегович"
ELENA, OLEG = "Иванова Елена Викторовна", "Смирнов Олег Павлович"
DASHA, ANNA = "Петрова Даша Игоревна", "Петрова Анна Сергеевна"
MORE_CODES = {DASHA: "PTD8-STU5-H08", ANNA: "PTA9-PAR5-J09"}
ALL_CODES = {**CODES, **MORE_CODES}
PDFTOPPM = shutil.which("pdftoppm")
PDFTOTEXT = shutil.which("pdftotext")
needs_poppler = pytest.mark.skipif(PDFTOPPM is None or PDFTOTEXT is None, reason="poppler-utils is not installed")


def _roster() -> bytes:
    rows = [list(r) for r in ROSTER_ROWS]
    rows.append([DASHA, "ученица", "5А", "", ""])
    rows.append([ANNA, "родитель", "", "", f"{DASHA} (5А)"])
    return csv_bytes(rows)


def _codes() -> bytes:
    return codes_csv([*CODE_ROWS, [DASHA, "5А", "ученица", MORE_CODES[DASHA]],
                      [ANNA, "5А", "родитель", MORE_CODES[ANNA]]])


async def _school(h: Harness) -> None:
    app = h.app
    report = await app.services.roster_import.import_roster(_roster(), "roster.csv", now=app.clock.now())
    assert report.ok, report.errors
    outcome = await app.importers["codes"].run(_codes(), "codes.csv", ImportOptions())
    assert outcome.ok, outcome.errors
    await h.text(IT_OFFICER, "/start")
    for user, phone in ((IT_OFFICER, "+79000000001"), (CLASS_TEACHER, "+79000000003"),
                        (PARENT_TWO, "+79000000005"), (PARENT_ONE, "+79000000006")):
        await h.contact(user, phone, user)
    await _decide(h, ELENA, MISHA, "given")
    await _decide(h, OLEG, KOLYA, "declined")


async def _decide(h: Harness, parent_name: str, child_name: str, decision: consent.Decision) -> None:
    app = h.app
    parent = await app.people.get(await person_id(app, parent_name))
    assert parent is not None
    version = await app.services.consent.current()
    cid = await person_id(app, child_name)
    child = await app.people.get(cid)
    assert child is not None
    await app.services.consent.open_document(parent, child, "ru")  # the agree button appears only after this
    results = await app.services.consent.decide(
                                   parent=parent, child_ids=[cid], decision=decision, version=version.number,
                                   channel=Channel.TELEGRAM,
                                   user_id=parent.user_id(Channel.TELEGRAM) or 0, update_id=None,
                                   callback_id=f"{decision}-{cid}-{h.clock.now().timestamp()}")
    assert [r.outcome for r in results] == [consent.Outcome.RECORDED], results


def _decode_pdf(pdf: bytes, tmp: Path) -> tuple[list[str], str]:
    """(the QR payloads on every page, the PDF's text) as a reader of the printed sheet sees them."""
    assert PDFTOPPM is not None and PDFTOTEXT is not None
    tmp.mkdir(exist_ok=True)
    path = tmp / "sheet.pdf"
    path.write_bytes(pdf)
    subprocess.run([PDFTOPPM, "-png", "-r", "150", str(path), str(tmp / "page")], check=True)
    decoded = [code for page in sorted(tmp.glob("page-*.png")) for code in decode_qr(page.read_bytes())]
    text = subprocess.run([PDFTOTEXT, "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return decoded, text


async def _bot_sheet(h: Harness) -> tuple[list[SendDocument], list[str]]:
    calls = await h.press(CLASS_TEACHER, CodePrint().pack())
    docs = [c for c in calls if isinstance(c, SendDocument)]
    texts = [c.text for c in calls if isinstance(c, SendMessage)]
    return docs, texts


async def _pending_cards(h: Harness) -> set[str]:
    """Code values of the cards still waiting in the outbox."""
    rows = await h.app.db.fetchall(
        "SELECT DISTINCT d.code_id FROM code_deliveries d JOIN outbox o ON o.dedupe_key = d.outbox_key"
        " WHERE o.status = 'pending'"
    )
    found = set()
    for row in rows:
        code = await CodeRepo(h.app.db).get(int(row[0]))
        assert code is not None
        found.add(code.code)
    return found


# --- the gate itself ----------------------------------------------------------------------------------


async def test_the_gate_answers_per_code_role(harness: Harness) -> None:
    h = harness
    await _school(h)
    app = h.app
    ids = {name: await person_id(app, name) for name in (MISHA, KOLYA, DASHA, ELENA, OLEG, ANNA)}
    gate = await app.services.consent_gate.code_clearances(app.db.conn, [
        (ids[MISHA], "student"), (ids[KOLYA], "student"), (ids[DASHA], "student"),
        (ids[ELENA], "parent"), (ids[OLEG], "parent"), (ids[ANNA], "parent"), (ids[ELENA], "staff"),
    ])
    assert [(c.open, c.reason) for c in gate.values()] == [
        (True, "given"), (False, "declined"), (False, "pending"),
        (True, "given"), (False, "declined"), (False, "pending"), (True, "staff"),
    ]


# --- print sheets: the bot and the CLI --------------------------------------------------------------


@needs_poppler
async def test_class_teacher_sheet_in_the_bot_holds_exactly_the_covered_pupils(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    await _school(h)
    docs, texts = await _bot_sheet(h)
    assert len(docs) == 1
    decoded, text = await asyncio.to_thread(_decode_pdf, docs[0].document.data, tmp_path)  # type: ignore[union-attr]
    # Only Миша: Коля's family declined, Даша's never answered; no parent's own code.
    assert decoded == [CODES[MISHA]]
    assert "Не выдано: 2 кода — нет согласия (нет ответа: 1, отказ: 1)" in text
    caption = docs[0].caption or ""
    assert "Не выдано: 2 кода — нет согласия (нет ответа: 1, отказ: 1)" in caption and "на листе: 1" in caption
    assert texts == [f"Не попали на лист:\n• {DASHA} — нет ответа\n• {KOLYA} — отказ"]


@needs_poppler
def test_cli_print_sheets_hold_exactly_the_covered_families(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    async def prepare() -> None:
        async with handler_harness(tmp_path) as h:
            await _school(h)

    asyncio.run(prepare())
    settings = make_settings(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(settings.database_path))
    monkeypatch.setenv("SCHOOL_CONFIG", str(settings.school_config))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    (tmp_path / "pupils.pdf").write_bytes(b"")
    (tmp_path / "pupils.pdf").chmod(0o644)  # an older sheet in the way must not keep its mode
    assert cli_main(["print", "cards", "--class", "5а", "--out", "pupils.pdf"]) == 0
    out = capsys.readouterr().out
    assert "Не выдано: 2 кода — нет согласия (нет ответа: 1, отказ: 1)" in out
    assert f"• {KOLYA} — отказ" in out and f"• {DASHA} — нет ответа" in out
    decoded, text = _decode_pdf((tmp_path / "pupils.pdf").read_bytes(), tmp_path / "pupils")
    assert decoded == [CODES[MISHA]]
    assert "Не выдано: 2 кода" in text

    # --all adds pupils with Telegram (none here): still never a parent's code.
    assert cli_main(["print", "cards", "--class", "5А", "--all", "--out", "all.pdf"]) == 0
    decoded, _ = _decode_pdf((tmp_path / "all.pdf").read_bytes(), tmp_path / "all")
    assert decoded == [CODES[MISHA]]

    # Parents' own codes: a separate sheet, only for parents whose consent covers a child.
    assert cli_main(["print", "cards", "--class", "5А", "--parents", "--all", "--out", "parents.pdf"]) == 0
    out = capsys.readouterr().out
    decoded, text = _decode_pdf((tmp_path / "parents.pdf").read_bytes(), tmp_path / "parents")
    assert decoded == [CODES[ELENA]]
    assert "Коды родителей, 5А" in text
    assert f"• {ANNA} — нет ответа" in out and f"• {OLEG} — отказ" in out
    for name in ("pupils.pdf", "all.pdf", "parents.pdf"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


# --- withdrawal closes every path at once ------------------------------------------------------------


@needs_poppler
async def test_withdrawal_removes_the_code_from_every_path(harness: Harness, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    app = h.app
    await _school(h)
    misha, elena = await person_id(app, MISHA), await person_id(app, ELENA)
    misha_code = (await CodeRepo(app.db).active_for([misha]))[0]
    elena_code = (await CodeRepo(app.db).active_for([elena]))[0]
    # Before: Миша's card and Елена's own are waiting for her; /codes offers both.
    assert await _pending_cards(h) == {CODES[MISHA], CODES[ELENA], CODES["Кузнецова Ольга Николаевна"]}
    calls = await h.text(PARENT_TWO, "/codes")
    assert [r[0].text for r in calls[0].reply_markup.inline_keyboard] == ["🔑 Мой код", f"🔑 {MISHA}"]  # type: ignore[union-attr]

    await _decide(h, ELENA, MISHA, "withdrawn")

    # 1. Cards waiting in the outbox: Миша's and Елена's own (no other covered child) are cancelled.
    assert await _pending_cards(h) == {CODES["Кузнецова Ольга Николаевна"]}
    # 2. The sweep (link, consent, import catch-up) does not bring them back.
    await app.services.codes_nudges.sweep(app.clock.now())
    assert await _pending_cards(h) == {CODES["Кузнецова Ольга Николаевна"]}
    # 3. /codes: nothing to show, and why.
    calls = await h.text(PARENT_TWO, "/codes")
    assert "согласие" in calls[0].text and calls[0].reply_markup is None  # type: ignore[union-attr]
    # 4. Showing the card again on request (a remembered button).
    for owner in (misha, elena):
        calls = await h.press(PARENT_TWO, CodeShow(person_id=owner).pack())
        assert any(isinstance(c, AnswerCallbackQuery) and c.show_alert for c in calls)
        assert not any(isinstance(c, SendPhoto) for c in calls)
    # 5. The card renderer at send time (a card queued before the withdrawal, e.g. by a race).
    for code in (misha_code, elena_code):
        with pytest.raises(svc.Withheld):
            await app.services.codes.render_card_for({"code_id": code.id, "lang": "ru", "recipient": elena})
    # 6. Reissue: a new code for Миша is stored but goes to nobody.
    assert await app.services.codes.issue(misha, "student", "IVM3-NEW0-Z03") == "ok"
    assert await _pending_cards(h) == {CODES["Кузнецова Ольга Николаевна"]}
    # 7. Nudges: none for a code whose gate is closed, even after its card went out earlier.
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE outbox SET status = 'sent', sent_at = created_at WHERE dedupe_key = ?",
                           (f"code:{misha_code.id}:{elena}",))
    from datetime import timedelta

    h.clock.advance(timedelta(days=4))
    await app.services.codes_nudges.sweep(app.clock.now())
    nudges = await app.db.fetchall("SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE '%nudge%'")
    assert not any(str(r[0]).startswith(f"code:{misha_code.id}:") for r in nudges)
    # 8. The class teacher's sheet in the bot: nothing left to print, and who and why.
    docs, texts = await _bot_sheet(h)
    assert docs == []
    assert "Не выдано: 3 кода — нет согласия (нет ответа: 1, отказ: 1, согласие отозвано: 1)" in texts[0]
    assert f"• {MISHA} — согласие отозвано" in texts[1]
    # 9. The status view and the report count what the gate keeps in.
    data = await app.services.status.collect(await app.people.by_account(Channel.TELEGRAM, IT_OFFICER))
    withheld = {(r.class_label, r.role): r.withheld for r in data.codes or []}
    assert withheld[("5А", "student")] == 3 and withheld[("5А", "parent")] == 3
    text = status_service.render(data, app.catalog.bind("ru"), app.school.tz)
    assert "не выдано 3 кода — нет согласия" in text

    # 10. The CLI sheet, from the same database.
    settings = app.settings
    monkeypatch.setenv("DATABASE_PATH", str(settings.database_path))
    monkeypatch.setenv("SCHOOL_CONFIG", str(settings.school_config))
    monkeypatch.chdir(tmp_path)
    code = await asyncio.to_thread(cli_main, ["print", "cards", "--class", "5А", "--all", "--out", "after.pdf"])
    assert code == 1 and not (tmp_path / "after.pdf").exists()
    code = await asyncio.to_thread(cli_main, ["print", "cards", "--class", "5А", "--parents", "--all"])
    assert code == 1


async def test_withdrawal_for_one_child_keeps_the_siblings_cards(harness: Harness) -> None:
    h = harness
    await _school(h)
    await _decide(h, ELENA, MASHA, "given")
    await _decide(h, ELENA, MISHA, "withdrawn")
    # Маша is still covered, so her card and her mother's own code still go out.
    assert await _pending_cards(h) == {CODES[MASHA], CODES[ELENA], CODES["Кузнецова Ольга Николаевна"]}
