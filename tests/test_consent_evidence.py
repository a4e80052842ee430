"""Evidence an inspector can read (#24 item 6): the hash is always of the legally binding Russian text
as shown; a paper decision hashes the form as it was printed; `schoolbot consent evidence` lists every
ledger row with its account, time, version, hash and chain status and the exact text by its hash;
the register carries the account and the hash, by class."""

from __future__ import annotations

import argparse
import html
import io
import re
from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from bot.channels import Channel
from bot.services import consent as svc
from bot.services.consent_evidence import Selection
from bot.services.consent_pdf import plain_text
from bot.tg.callbacks import LangChoice
from storage.consent import ConsentRepo
from storage.consent_form import ConsentFormRepo
from tests.codes_helpers import person_id
from tests.consent_helpers import buttons, consent_menu, last_with_buttons, school, sent
from tests.harness import CLASS_TEACHER, PARENT_ONE, PARENT_TWO, Harness

KOLYA = "Смирнов Коля Олегович"
OLEG = "Смирнов Олег Павлович"


async def test_an_english_speaking_parent_s_receipt_hashes_the_russian_text(harness: Harness) -> None:
    await school(harness)
    await harness.press(PARENT_ONE, LangChoice(code="en").pack())
    keys = buttons(last_with_buttons(await harness.text(PARENT_ONE, "/consent")))
    shown = sent(await harness.press(PARENT_ONE, next(v for k, v in keys.items() if k.startswith("📄"))))[:-1]
    english = "\n\n".join(re.sub(r"\n\n\(\d+/\d+\)$", "", html.unescape(m.text)) for m in shown)
    keys = buttons(last_with_buttons(await harness.text(PARENT_ONE, "/consent")))
    await harness.press(PARENT_ONE, next(v for k, v in keys.items() if k.startswith("✅")))
    [row] = await ConsentRepo.ledger_rows(harness.app.db.conn)
    consent = harness.app.services.consent
    parent = await harness.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
    child = await harness.app.people.get(row.child_id)
    assert parent is not None and child is not None
    russian = consent.render_document(await consent.current(), "ru", parent, child)
    # The ledger names the Russian text; the English one the parent read is kept beside it.
    assert row.sha256 == svc.sha256_text(russian) != svc.sha256_text(english)
    conn = harness.app.db.conn
    assert await ConsentFormRepo.text_by_hash(conn, row.sha256) == russian
    assert await ConsentFormRepo.translations(conn, row.sha256) == [("en", svc.sha256_text(english))]
    assert await ConsentFormRepo.text_by_hash(conn, svc.sha256_text(english)) == english


async def test_a_paper_decision_hashes_the_form_as_printed(harness: Harness) -> None:
    await school(harness)
    app = harness.app
    keys = buttons(last_with_buttons(await harness.text(PARENT_ONE, "/consent")))
    await harness.press(PARENT_ONE, keys["🖨 Бланк для подписи: Коля"])
    kolya = await person_id(app, KOLYA)
    oleg = await app.people.get(await person_id(app, OLEG))
    child = await app.people.get(kolya)
    assert oleg is not None and child is not None
    version = await app.services.consent.current()
    printed = app.services.consent.render_document(version, "ru", oleg, child)
    # school.toml changes between printing and entering the signed form.
    app.school.school.address = "Новый адрес школы, д. 1"
    assert app.services.consent.render_document(version, "ru", oleg, child) != printed
    teacher = await app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
    assert teacher is not None
    result = await app.services.consent_paper.record_paper(
        staff=teacher, child_id=kolya, decision="given", paper_date=date(2026, 11, 30)
    )
    assert result.row is not None and result.row.sha256 == svc.sha256_text(printed)
    # The scanned signed form is attached to the receipt by its hash (and where the paper is kept).
    evidence = app.services.consent_evidence
    t = app.catalog.bind("ru")
    scan = Path(harness.app.settings.database_path).parent / "scan.pdf"
    scan.write_bytes(b"%PDF scanned form")
    args = argparse.Namespace(receipt=result.row.receipt_id, file=str(scan), ref="папка 5А, лист 3")
    assert await evidence.cmd_scan(args, t) == 0
    paras = await evidence.paragraphs(Selection(receipt=result.row.receipt_id), t)
    assert paras is not None
    text = plain_text(paras)
    assert svc.sha256_text("%PDF scanned form") in text and "папка 5А, лист 3" in text
    assert printed in text


async def test_evidence_lists_every_row_and_the_exact_text_by_hash(harness: Harness, tmp_path: Path) -> None:
    await school(harness)
    app = harness.app
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    keys = buttons(last_with_buttons(await harness.text(PARENT_ONE, "/consent")))
    confirm = last_with_buttons(await harness.press(PARENT_ONE, keys["↩️ Отозвать согласие: Коля"]))
    await harness.press(PARENT_ONE, buttons(confirm)["Да, отозвать"])
    keys = await consent_menu(harness, PARENT_TWO)
    await harness.press(PARENT_TWO, keys["✅ Согласна: Миша"])  # another family: not in Коля's evidence
    rows = await ConsentRepo.ledger_rows(app.db.conn)
    kolya = await person_id(app, KOLYA)
    mine = [r for r in rows if r.child_id == kolya]
    assert [r.decision for r in mine] == ["given", "withdrawn"]
    t = app.catalog.bind("ru")
    evidence = app.services.consent_evidence
    paras = await evidence.paragraphs(Selection(child_id=kolya), t)
    assert paras is not None
    text = plain_text(paras)
    assert "разрывов нет" in text
    for r in mine:
        assert f"Квитанция № {r.receipt_id}" in text and r.sha256 in text
    assert text.count(f"учётная запись: tg:{PARENT_ONE}") == 2
    assert text.count("Цепочка хешей: запись сходится") == 2
    assert "версия 1" in text and "(Europe/Moscow)" in text and "UTC" in text
    other = next(r for r in rows if r.child_id != kolya)
    assert other.receipt_id not in text
    # The exact text each decision was on, retrieved by its hash, re-hashed in front of the reader.
    shown = await ConsentFormRepo.text_by_hash(app.db.conn, mine[0].sha256)
    assert shown is not None and shown in text and "хеш текста совпадает" in text
    # A parent's evidence: their own decisions and their children's; a receipt: that row only.
    oleg = await person_id(app, OLEG)
    by_parent = await evidence.paragraphs(Selection(parent_id=oleg), t)
    assert by_parent is not None and all(r.receipt_id in plain_text(by_parent) for r in mine)
    one = await evidence.paragraphs(Selection(receipt=mine[1].receipt_id), t)
    assert one is not None and mine[0].receipt_id not in plain_text(one)
    # The command line writes the PDF, 0600, and the access log says who exported it.
    out = tmp_path / "evidence.pdf"
    args = argparse.Namespace(child=kolya, parent=None, receipt=None, out=str(out))
    assert await evidence.cmd_evidence(args, t) == 0
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_mode & 0o777 == 0o600
    logged = await app.db.fetchall("SELECT object_id FROM access_log WHERE kind = 'evidence'")
    assert [r[0] for r in logged] == [f"child-{kolya}"]
    nothing = argparse.Namespace(child=None, parent=None, receipt="NOSUCH", out=str(tmp_path / "x.pdf"))
    assert await evidence.cmd_evidence(nothing, t) == 1


async def test_the_register_shows_the_account_and_the_hash_by_class(harness: Harness) -> None:
    await school(harness)
    keys = await consent_menu(harness, PARENT_ONE)
    await harness.press(PARENT_ONE, keys["✅ Согласен: Коля"])
    [row] = await ConsentRepo.ledger_rows(harness.app.db.conn)
    t = harness.app.catalog.bind("ru")
    data, _, count = await harness.app.services.consent_export.export("xlsx", t, "5А")
    # How each decision was made is on the register's second sheet (the first prints the decisions).
    ws = load_workbook(io.BytesIO(data))["Подтверждения 5А"]
    header = [c.value for c in ws[3]]
    assert "Учётная запись" in header and "SHA-256 текста" in header
    lines = [[c.value for c in r] for r in ws.iter_rows(min_row=4)]
    assert len(lines) == count and {line[0] for line in lines} == {"5А"}
    kolya = next(line for line in lines if line[1] == KOLYA)
    assert kolya[header.index("Учётная запись")] == f"tg:{PARENT_ONE}"
    assert kolya[header.index("SHA-256 текста")] == row.sha256
