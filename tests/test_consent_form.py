"""The consent form a school can sign (152-FZ art. 9 part 4), honest about what a button press is:
the document is opened before the agree button appears, a pre-filled PDF to sign, staff record the
signed original, and codes can wait for it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from aiogram.methods import AnswerCallbackQuery, SendDocument

from bot.config import MessengerSpec
from bot.services import consent as svc
from bot.tg.callbacks import ConsentCb, StaffCb
from storage.codes import CodeRepo
from storage.consent import ConsentRepo
from storage.outbox import Payload
from tests.codes_helpers import CODES, load_school, person_id
from tests.consent_helpers import buttons, consent_menu, last_with_buttons, texts
from tests.harness import CLASS_TEACHER, PARENT_TWO, Harness

MISHA = "Иванов Миша Андреевич"
ELENA = "Иванова Елена Викторовна"
BLANK = svc.LONG_BLANK


async def _linked(h: Harness) -> None:
    await load_school(h.app)
    await h.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await h.contact(CLASS_TEACHER, "+79000000003", CLASS_TEACHER)


async def _document(h: Harness, parent_name: str, child_name: str) -> str:
    parent = await h.app.people.get(await person_id(h.app, parent_name))
    child = await h.app.people.get(await person_id(h.app, child_name))
    assert parent is not None and child is not None
    return h.app.services.consent.render_document(await h.app.services.consent.current(), "ru", parent, child)


async def test_form_has_every_element_of_article_9_part_4(harness: Harness) -> None:
    await _linked(harness)
    text = await _document(harness, ELENA, MISHA)
    # 1, 3: the subject (the child) and the representative: names, addresses, identity documents,
    # and the basis of the representative's authority. The bot does not hold addresses or
    # documents: blank lines to fill in by hand, never invented.
    assert "Я, Иванова Елена Викторовна,\nадрес: " + BLANK in text
    # The identity documents field by field (series and number, issued by, date), parent and child.
    short = svc.BLANK
    parent_doc = (f"документ, удостоверяющий личность (вид): {BLANK},\nсерия и номер: {short},\n"
                  f"кем выдан: {BLANK},\nдата выдачи: {short},")
    assert parent_doc in text
    assert "обучающегося Иванова Миши Андреевича, класс 5А" in text
    assert "адрес ребёнка: " + BLANK in text
    child_doc = (f"документ, удостоверяющий личность ребёнка (вид: свидетельство о рождении или паспорт): {BLANK},"
                 f"\nсерия и номер: {short},\nкем выдан: {BLANK},\nдата выдачи: {short},")
    assert child_doc in text
    assert "полномочия законного представителя" in text and "реквизиты): " + BLANK in text
    # 2: the operator's name and address.
    assert "Оператор персональных данных: МБОУ «Средняя общеобразовательная школа № 1», адрес: 123456" in text
    # 4: purpose; 5: the exact list of data, by where it is processed.
    assert "Цель обработки:" in text
    assert "— в чат-боте школы: ребёнка — фамилия, имя, отчество; класс; пригласительный код" in text
    assert "номер телефона; идентификатор и имя пользователя в мессенджере (MAX, Telegram)" in text
    # 6: every processor acting for the school: the journal platform; the bot's hosting is not
    # configured (the school hosts it): no hosting processor, said plainly. Every messenger the
    # school serves, with its operator.
    assert "— ООО «Дневник.ру», адрес: 197198" in text
    assert "размещение чат-бота" not in text and "размещены на собственном сервере оператора" in text
    assert "Каналы связи: мессенджер MAX (ООО «Коммуникационная платформа», адрес: " in text
    assert "; мессенджер Telegram (" in text
    # Nothing else is confirmed inside the consent (a separate document since 1 September 2025).
    assert "ознакомлен" not in text and "Я подтверждаю" not in text
    # 7: actions and methods; 8: term and how to withdraw; 9: signature.
    assert "Перечень действий с персональными данными: сбор" in text and "Способы обработки:" in text
    assert "Срок действия согласия:" in text and "Порядок отзыва согласия:" in text
    assert "Подпись: ______________________ / Иванова Е. В. /" in text
    assert "{" not in text and "}" not in text


async def test_configured_hosting_and_messenger_are_named(harness: Harness) -> None:
    await _linked(harness)
    form = harness.app.school.consent
    form.hosting_name, form.hosting_address = "ООО «Хостер»", "г. Москва, ул. Серверная, 1"
    form.messengers = [MessengerSpec(name="MAX", operator="ООО «Коммуникационная платформа»", address="г. Москва")]
    text = await _document(harness, ELENA, MISHA)
    assert "— ООО «Хостер», адрес: г. Москва, ул. Серверная, 1, — размещение чат-бота школы" in text
    # A MAX-only school names MAX, not Telegram.
    assert "Каналы связи: мессенджер MAX (ООО «Коммуникационная платформа», адрес: г. Москва)" in text
    assert "Telegram" not in text
    # A school without [[consent.messengers]] keeps its one messenger from the older fields.
    form.messengers = []
    form.messenger_operator, form.messenger_address = "Telegram FZ-LLC", "Dubai, UAE"
    text = await _document(harness, ELENA, MISHA)
    assert "мессенджер Telegram (Telegram FZ-LLC, адрес: Dubai, UAE)" in text


async def test_agree_without_opening_the_document_is_refused(harness: Harness) -> None:
    await _linked(harness)
    keys = buttons(last_with_buttons(await harness.text(PARENT_TWO, "/consent")))
    assert not [k for k in keys if k.startswith("✅")]
    version = await harness.app.services.consent.current()
    misha = await person_id(harness.app, MISHA)
    # A hand-made "agree" press before reading: refused, nothing recorded.
    calls = await harness.press(PARENT_TWO, ConsentCb(action="give", child=misha, version=version.number).pack())
    refusal = next(c for c in calls if isinstance(c, AnswerCallbackQuery))
    assert refusal.text is not None and "Сначала откройте документ" in refusal.text
    assert await ConsentRepo.ledger_rows(harness.app.db.conn) == []
    # Declining needs no reading.
    await harness.press(PARENT_TWO, keys["❌ Не согласна: Миша"])
    assert [r.decision for r in await ConsentRepo.ledger_rows(harness.app.db.conn)] == ["declined"]


async def test_parent_gets_the_prefilled_form_as_pdf(harness: Harness, tmp_path: Path) -> None:
    await _linked(harness)
    keys = buttons(last_with_buttons(await harness.text(PARENT_TWO, "/consent")))
    calls = await harness.press(PARENT_TWO, keys["🖨 Бланк для подписи: Миша"])
    # "Preparing" at once, then the file, then the menu with the agree button (the form was opened).
    first = calls[0]
    assert isinstance(first, AnswerCallbackQuery) and first.text == "Готовлю файл…"
    doc = next(c for c in calls if isinstance(c, SendDocument))
    assert doc.caption is not None and "подпишите и сдайте в школу" in doc.caption
    pdf = _document_bytes(doc)
    assert pdf.startswith(b"%PDF")
    assert any("✅ Согласна: Миша" in k for k in buttons(last_with_buttons(calls)))
    pdftotext = shutil.which("pdftotext")
    if pdftotext:
        path = tmp_path / "form.pdf"
        path.write_bytes(pdf)
        out = await asyncio.to_thread(
            subprocess.run, [pdftotext, "-layout", str(path), "-"], capture_output=True, check=True, text=True
        )
        flat = " ".join(out.stdout.split())
        assert "Иванова Елена Викторовна" in flat and "Иванова Миши Андреевича" in flat
        # The acknowledgement of having read the law follows as a document of its own.
        assert "ПОДТВЕРЖДЕНИЕ ОЗНАКОМЛЕНИЯ" in flat and "ознакомлена с положениями" in flat
        assert "Оператор персональных данных" in flat and "Порядок отзыва согласия" in flat
        assert "Иванова Е. В." in flat and "_____" in flat


def _document_bytes(call: SendDocument) -> bytes:
    document = call.document
    data = getattr(document, "data", None)
    assert isinstance(data, bytes)
    return data


async def test_codes_wait_for_the_signed_original_when_the_school_says_so(harness: Harness) -> None:
    app = harness.app
    app.school.consent.codes_wait_for_original = True
    await _linked(harness)
    keys = await consent_menu(harness, PARENT_TWO)
    await harness.press(PARENT_TWO, keys["✅ Согласна: Миша"])
    misha = await person_id(app, MISHA)
    assert not await app.services.consent_gate.is_covered(app.db.conn, misha, require_original=True)
    assert await _code_owners(harness) & {CODES[MISHA], CODES[ELENA]} == set()
    # The class teacher marks the signed original received: the codes go out now.
    view = last_with_buttons(await harness.text(CLASS_TEACHER, "/consent"))
    marked = await harness.press(CLASS_TEACHER, buttons(view)["🖊 Получен подписанный оригинал"])
    pick = buttons(last_with_buttons(marked))
    calls = await harness.press(CLASS_TEACHER, pick[MISHA])
    assert any("подписанный оригинал согласия за Иванова Мишу Андреевича получен" in t for t in texts(calls))
    assert any("🖊 оригинал" in t for t in texts(calls))
    assert await app.services.consent_gate.is_covered(app.db.conn, misha, require_original=True)
    assert await _code_owners(harness) >= {CODES[MISHA], CODES[ELENA]}
    # Twice is refused politely; another class's pupil is not this teacher's to record.
    again = await harness.press(CLASS_TEACHER, pick[MISHA])
    assert any(isinstance(c, AnswerCallbackQuery) and c.text and "уже отмечен" in c.text for c in again)
    masha = await person_id(app, "Иванова Маша Андреевна")
    forged = await harness.press(CLASS_TEACHER, StaffCb(action="origc", cls="5А", child=masha).pack())
    assert any(isinstance(c, AnswerCallbackQuery) and c.show_alert for c in forged)


async def _code_owners(h: Harness) -> set[str]:
    rows = await h.app.db.fetchall(
        "SELECT payload FROM outbox WHERE dedupe_key LIKE 'code:%' AND status != 'cancelled'"
    )
    found = set()
    for (raw,) in rows:
        code = await CodeRepo(h.app.db).get(Payload.from_json(raw).args["code_id"])
        assert code is not None
        found.add(code.code)
    return found
