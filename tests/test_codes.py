"""Invitation codes at handler level: import and matching, the consent gate, forged callbacks,
rate limit, masking, activation, nudges, revoke/reissue, print sheets, funnel."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, SendPhoto

from bot.app import App
from bot.channels import Channel
from bot.services import codes_print, consent
from bot.services.imports import ImportOptions, render_outcome
from bot.tg.callbacks import CodeActivated, CodeAdminPick, CodePrint, CodeShow, CodeTrouble
from storage.codes import CodeRepo
from storage.outbox import Payload
from storage.people import PersonRepo
from tests.codes_helpers import CODE_ROWS, CODES, codes_csv, decode_qr, load_school, person_id
from tests.harness import CLASS_TEACHER, PARENT_ONE, PARENT_TWO, TEACHER, Harness

MISHA = "Иванов Миша Андреевич"
MASHA = "Иванова Маша Андреевна"
KOLYA = "Смирнов Коля Олегович"
ELENA = "Иванова Елена Викторовна"
OLEG = "Смирнов Олег Павлович"


async def _code_rows(app: App) -> list[tuple[str, int, str]]:
    rows = await app.db.fetchall("SELECT dedupe_key, person_id, payload FROM outbox WHERE dedupe_key LIKE 'code:%'"
                                 " AND status != 'cancelled' ORDER BY id")
    return [(r[0], r[1], r[2]) for r in rows]


async def _give_consent(app: App, parent_name: str, child_names: list[str]) -> None:
    parent = await app.people.get(await person_id(app, parent_name))
    assert parent is not None
    version = await app.services.consent.current()
    ids = [await person_id(app, n) for n in child_names]
    for cid in ids:
        child = await app.people.get(cid)
        assert child is not None
        await app.services.consent.open_document(parent, child, "ru")  # the agree button appears only after this
    results = await app.services.consent.decide(parent=parent, child_ids=ids, decision="given", version=version.number,
                                   channel=Channel.TELEGRAM,
                                   user_id=parent.user_id(Channel.TELEGRAM) or 0, update_id=None,
                                   callback_id=f"cb-{ids}")
    assert all(r.outcome is consent.Outcome.RECORDED for r in results), results


async def _withdraw(app: App, parent_name: str, child_name: str) -> None:
    parent = await app.people.get(await person_id(app, parent_name))
    assert parent is not None
    version = await app.services.consent.current()
    cid = await person_id(app, child_name)
    await app.services.consent.decide(parent=parent, child_ids=[cid], decision="withdrawn", version=version.number,
                         channel=Channel.TELEGRAM,
                         user_id=parent.user_id(Channel.TELEGRAM) or 0, update_id=None, callback_id=f"wd-{cid}")


# --- import ----------------------------------------------------------------------------------------


async def test_import_matches_roster_and_is_idempotent(harness: Harness) -> None:
    app = harness.app
    await load_school(app, with_codes=False)
    first = await app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
    assert first.ok and first.counts == {"added": 7, "updated": 0, "unchanged": 0}
    again = await app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
    assert again.counts == {"added": 0, "updated": 0, "unchanged": 7}

    changed = [list(r) for r in CODE_ROWS]
    changed[6][3] = "IVE6-NEW0-X99"
    outcome = await app.importers["codes"].run(codes_csv(changed), "codes.csv", ImportOptions())
    assert outcome.counts == {"added": 0, "updated": 1, "unchanged": 6}
    history = await CodeRepo(app.db).history(await person_id(app, ELENA))
    assert [(c.status, c.code) for c in history] == [("replaced", CODES[ELENA]), ("active", "IVE6-NEW0-X99")]
    # The parent's code carries the child's class from the file.
    assert history[-1].class_label == "5А"


async def test_import_reports_bad_rows_by_line_and_writes_nothing(harness: Harness) -> None:
    app = harness.app
    await load_school(app, with_codes=False)
    rows = [list(r) for r in CODE_ROWS]
    rows[2] = ["Неизвестный Человек Иванович", "", "учитель", "ZZZZ-0000-001"]   # line 3: unmatched
    rows[3][1] = "6Б"                                                            # line 4: Миша is in 5А
    rows[4][2] = "завхоз"                                                        # line 5: unknown role
    rows[5][3] = "!"                                                             # line 6: bad code
    rows.append([OLEG, "5А", "родитель", "SMK5-DUPL-E05"])  # line 9: duplicate person
    outcome = await app.importers["codes"].run(codes_csv(rows), "codes.csv", ImportOptions())
    assert [(e.line, e.code) for e in outcome.errors] == [
        (3, "codes_unmatched"), (4, "codes_unmatched"), (5, "codes_role"), (6, "codes_code"),
        (9, "codes_duplicate_person"),
    ]
    assert await app.db.fetchval("SELECT count(*) FROM codes") == 0
    text = render_outcome(outcome, app.catalog.bind("ru"))
    assert "Строка 3" in text and "Ничего не записано" in text
    # The report never carries a code value.
    assert "SMK5-DUPL-E05" not in text and "ZZZZ-0000-001" not in text


async def test_ambiguous_namesake_is_reported(harness: Harness) -> None:
    app = harness.app
    await load_school(app, with_codes=False)
    async with app.db.transaction() as conn:

        await PersonRepo.create(conn, roster_key="adult:морозов игорь сергеевич:2", full_name="Морозов Игорь Сергеевич",
                                roles=["teacher"], now=app.clock.now())
    rows = [CODE_ROWS[0], CODE_ROWS[2]]
    outcome = await app.importers["codes"].run(codes_csv(rows), "codes.csv", ImportOptions())
    assert [(e.line, e.code) for e in outcome.errors] == [(2, "codes_ambiguous")]


async def test_header_aliases_from_school_config(harness: Harness) -> None:
    app = harness.app
    await load_school(app, with_codes=False)
    app.school.codes.column_aliases["code"] = ["Секретный ключ"]
    rows = [["ФИО", "Класс", "Роль", "Секретный ключ"], CODE_ROWS[2]]
    outcome = await app.importers["codes"].run(codes_csv(rows), "codes.csv", ImportOptions())
    assert outcome.ok and outcome.counts["added"] == 1


# --- delivery and the gate -------------------------------------------------------------------------


async def test_teacher_gets_card_when_linking(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(TEACHER, "+79000000004", TEACHER)
    rows = await _code_rows(app)
    assert len(rows) == 1
    _key, pid, raw = rows[0]
    assert pid == await person_id(app, "Морозов Игорь Сергеевич")
    assert CODES["Морозов Игорь Сергеевич"] not in raw  # the payload references the code by id
    payload = Payload.from_json(raw)
    assert payload.protect_content and payload.renderer == "qr_card"
    png, name = await app.renderers["qr_card"](payload.args)
    assert name == "code.png"
    assert decode_qr(png) == [CODES["Морозов Игорь Сергеевич"]]


async def test_parent_gets_family_cards_only_after_consent(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    assert await _code_rows(app) == []
    # /codes before consent: nothing to show, and the reason.
    calls = await harness.text(PARENT_TWO, "/codes")
    assert "согласие" in calls[0].text  # type: ignore[attr-defined]

    await _give_consent(app, ELENA, [MISHA])
    rows = await _code_rows(app)
    owners = {}
    for _, _, raw in rows:
        code = await CodeRepo(app.db).get(Payload.from_json(raw).args["code_id"])
        assert code is not None
        owners[code.person_id] = code.code
    # Миша's card and the parent's own card; not Маша's (no consent for her yet).
    assert set(owners.values()) == {CODES[MISHA], CODES[ELENA]}

    await _give_consent(app, ELENA, [MASHA])
    assert len(await _code_rows(app)) == 3
    # Re-running the sweep enqueues nothing twice.
    await app.services.codes_nudges.sweep(app.clock.now())
    assert len(await _code_rows(app)) == 3


async def test_withdrawal_stops_deliveries(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
    await _give_consent(app, OLEG, [KOLYA])
    assert len(await _code_rows(app)) == 2
    await _withdraw(app, OLEG, KOLYA)
    assert await _code_rows(app) == []  # pending cards cancelled by the consent capability
    await app.services.codes_nudges.sweep(app.clock.now())
    assert await _code_rows(app) == []  # and the sweep does not bring them back
    calls = await harness.press(PARENT_ONE, CodeShow(person_id=await person_id(app, KOLYA)).pack())
    assert any(isinstance(c, AnswerCallbackQuery) and c.show_alert for c in calls)
    assert not any(isinstance(c, SendPhoto) for c in calls)


# --- only to the owner ---------------------------------------------------------------------------


async def test_forged_callbacks_naming_another_family_are_refused(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(app, ELENA, [MISHA, MASHA])
    await _give_consent(app, OLEG, [KOLYA])
    misha = await person_id(app, MISHA)
    elena = await person_id(app, ELENA)
    misha_code = (await CodeRepo(app.db).active_for([misha]))[0]
    for data in (CodeShow(person_id=misha).pack(), CodeShow(person_id=elena).pack(),
                 CodeActivated(code_id=misha_code.id).pack(), CodePrint().pack(),
                 CodeAdminPick(person_id=misha).pack()):
        calls = await harness.press(PARENT_ONE, data)
        assert not any(isinstance(c, (SendPhoto, SendDocument)) for c in calls), data
        texts = " ".join(getattr(c, "text", "") or "" for c in calls)
        assert misha_code.code not in texts
    assert (await CodeRepo(app.db).get(misha_code.id)).activated_at is None  # type: ignore[union-attr]

    # Her own family: shown, once per ten minutes.
    calls = await harness.press(PARENT_TWO, CodeShow(person_id=misha).pack())
    photos = [c for c in calls if isinstance(c, SendPhoto)]
    assert len(photos) == 1 and photos[0].protect_content
    calls = await harness.press(PARENT_TWO, CodeShow(person_id=misha).pack())
    alert = next(c for c in calls if isinstance(c, AnswerCallbackQuery))
    assert "10 мин" in (alert.text or "") and not any(isinstance(c, SendPhoto) for c in calls)
    harness.clock.advance(timedelta(minutes=11))
    calls = await harness.press(PARENT_TWO, CodeShow(person_id=misha).pack())
    assert any(isinstance(c, SendPhoto) for c in calls)


async def test_codes_menu_lists_mine_and_covered_children(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(app, ELENA, [MISHA])
    calls = await harness.text(PARENT_TWO, "🔑 Мои коды")
    markup = calls[0].reply_markup  # type: ignore[attr-defined]
    labels = [row[0].text for row in markup.inline_keyboard]
    assert labels == ["🔑 Мой код", f"🔑 {MISHA}"]


async def test_staff_view_masks_codes_and_revoke_reissue(harness: Harness) -> None:
    app = harness.app
    await harness.text(1, "/start")  # IT officer from ADMIN_IDS
    await load_school(app)
    await harness.contact(TEACHER, "+79000000004", TEACHER)
    teacher = await person_id(app, "Морозов Игорь Сергеевич")
    calls = await harness.press(1, CodeAdminPick(person_id=teacher).pack())
    view = next(c for c in calls if hasattr(c, "text") and c.text and "Коды" in c.text)
    code = CODES["Морозов Игорь Сергеевич"]
    assert "••••••B02" in view.text and code not in view.text
    buttons = [b for row in view.reply_markup.inline_keyboard for b in row]  # type: ignore[attr-defined]
    assert all(code not in b.text and code not in (b.callback_data or "") for b in buttons)

    old = (await CodeRepo(app.db).active_for([teacher]))[0]
    revoke = next(b for b in buttons if b.text.startswith("⛔"))
    await harness.press(1, revoke.callback_data or "")
    assert (await CodeRepo(app.db).get(old.id)).status == "revoked"  # type: ignore[union-attr]
    # The revoked code's card, still waiting in the outbox, does not go out.
    assert await app.db.fetchval("SELECT status FROM outbox WHERE dedupe_key = ?", (f"code:{old.id}:{teacher}",)) \
        == "cancelled"

    issue = next(b for b in buttons if b.text.startswith("➕"))
    await harness.press(1, issue.callback_data or "")
    calls = await harness.text(1, "no")
    assert "не похоже" in calls[0].text  # type: ignore[attr-defined]
    calls = await harness.text(1, "MRZ2-NEW0-Z77")
    assert "сохранён" in calls[0].text  # type: ignore[attr-defined]
    new = (await CodeRepo(app.db).active_for([teacher]))[0]
    assert new.code == "MRZ2-NEW0-Z77" and new.source == "manual"
    rows = await _code_rows(app)
    assert [r[0] for r in rows] == [f"code:{new.id}:{teacher}"]


# --- activation, trouble, nudges ---------------------------------------------------------------------


async def _mark_sent(app: App) -> None:
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE outbox SET status = 'sent', sent_at = next_attempt_at WHERE status = 'pending'")


async def test_activation_button_and_nudges(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(TEACHER, "+79000000004", TEACHER)
    await harness.contact(CLASS_TEACHER, "+79000000003", CLASS_TEACHER)
    await _mark_sent(app)
    teacher_code = (await CodeRepo(app.db).active_for([await person_id(app, "Морозов Игорь Сергеевич")]))[0]
    ct_code = (await CodeRepo(app.db).active_for([await person_id(app, "Кузнецова Ольга Николаевна")]))[0]

    calls = await harness.press(TEACHER, CodeActivated(code_id=teacher_code.id).pack())
    assert "активирован" in (next(c for c in calls if isinstance(c, AnswerCallbackQuery)).text or "")
    assert (await CodeRepo(app.db).get(teacher_code.id)).activated_via == "user"  # type: ignore[union-attr]

    async def nudges() -> list[str]:
        rows = await app.db.fetchall("SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE '%nudge%' ORDER BY id")
        return [r[0] for r in rows]

    await app.services.codes_nudges.sweep(app.clock.now())
    assert await nudges() == []
    for _ in range(4):
        harness.clock.advance(timedelta(days=3))
        await app.services.codes_nudges.sweep(app.clock.now())
        await _mark_sent(app)
    # Only the class teacher (not activated), at most two nudges.
    assert await nudges() == [f"code:{ct_code.id}:{ct_code.person_id}:nudge1",
                              f"code:{ct_code.id}:{ct_code.person_id}:nudge2"]


async def test_trouble_opens_a_ticket_with_masked_context(harness: Harness) -> None:
    app = harness.app
    await harness.text(1, "/start")
    await load_school(app)
    await harness.contact(TEACHER, "+79000000004", TEACHER)
    code = (await CodeRepo(app.db).active_for([await person_id(app, "Морозов Игорь Сергеевич")]))[0]

    calls = await harness.press(TEACHER, CodeTrouble(code_id=code.id).pack())
    assert any(isinstance(c, SendMessage) and "ответственному" in c.text for c in calls)
    row = await app.db.fetchone("SELECT context FROM tickets ORDER BY id DESC LIMIT 1")
    assert row is not None and "••••••B02" in row[0] and code.code not in row[0]


async def test_activation_import(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    rows = [["Код", "Статус"], [CODES[MISHA], "Активирован"], [CODES[KOLYA], "нет"]]
    outcome = await app.importers["activations"].run(codes_csv(rows), "act.csv", ImportOptions())
    assert outcome.ok and outcome.counts == {"updated": 1, "unchanged": 1}
    by_name = [["ФИО", "Класс", "Роль", "Активирован"], [ELENA, "5А", "родитель", "да"], ["Кто То", "", "", "да"]]
    outcome = await app.importers["activations"].run(codes_csv(by_name), "act.csv", ImportOptions())
    assert [(e.line, e.code) for e in outcome.errors] == [(3, "codes_role")]
    funnel = {(r.class_label, r.role): r for r in await codes_print.funnel(CodeRepo(app.db))}
    assert funnel[("5А", "student")].imported == 2 and funnel[("5А", "student")].activated == 1
    assert funnel[("5А", "parent")].imported == 2


# --- print sheets ---------------------------------------------------------------------------------------


async def test_class_teacher_prints_sheet_and_pdf_renders(harness: Harness, tmp_path: Path) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(CLASS_TEACHER, "+79000000003", CLASS_TEACHER)
    await harness.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
    calls = await harness.text(CLASS_TEACHER, "/codes")
    labels = [row[0].text for row in calls[0].reply_markup.inline_keyboard]  # type: ignore[attr-defined]
    assert "🖨 Лист для печати: 5А" in labels
    calls = await harness.press(CLASS_TEACHER, CodePrint().pack())
    # No family has answered yet: nothing may be printed, and the teacher is told why.
    assert not any(isinstance(c, SendDocument) for c in calls)
    assert any(isinstance(c, SendMessage) and "Не выдано: 2 кода — нет согласия (нет ответа: 2)" in c.text
               for c in calls)
    await _give_consent(app, ELENA, [MISHA])
    await _give_consent(app, OLEG, [KOLYA])
    calls = await harness.press(CLASS_TEACHER, CodePrint().pack())
    docs = [c for c in calls if isinstance(c, SendDocument)]
    assert len(docs) == 1
    # The class's pupils without Telegram whose families agreed; never a parent's own code.
    pdf = (await app.services.codes_print.print_cards("5А", everyone=False)).pdf
    assert pdf is not None and pdf.startswith(b"%PDF")
    out = tmp_path / "sheet.pdf"
    out.write_bytes(pdf)
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm is not None, "pdftoppm (poppler-utils) is needed to look at the sheet"
    await asyncio.to_thread(
        subprocess.run, [pdftoppm, "-png", "-r", "150", str(out), str(tmp_path / "page")], check=True
    )
    page = tmp_path / "page-1.png"
    assert sorted(decode_qr(page.read_bytes())) == sorted([CODES[MISHA], CODES[KOLYA]])
    everyone = await app.services.codes_print.print_cards("5А", everyone=True)
    assert everyone.pdf is not None and everyone.printed == 2
    empty = await app.services.codes_print.print_cards("11А", everyone=True)
    assert empty.pdf is None and empty.left_out == []
