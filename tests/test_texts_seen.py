"""The texts issue #25 saw read wrong, each through the bot as a school meets it: a girl moved to
another class, a count of recipients or children, a line for codes that belong to no class, a
school's own contact inside a sentence, the consent screen once the family has answered, and the
receipt of a decline made without opening the document."""

from __future__ import annotations

from bot.paths import CONTENT_DIR
from bot.tg.callbacks import BcAudience, BcConfirm, ConsentCb
from tests.codes_helpers import load_school
from tests.consent_helpers import buttons, consent_menu, last_with_buttons, school, texts
from tests.harness import IT_OFFICER, PARENT_TWO, ROSTER_ROWS, Harness, csv_bytes


async def test_a_girl_moved_to_another_class_is_переведена(harness: Harness) -> None:
    h = harness
    await school(h, IT_OFFICER)
    rows = [list(r) for r in ROSTER_ROWS]
    for r in rows:
        if r[0] in ("Иванова Маша Андреевна", "Иванов Миша Андреевич"):
            r[2] = "7В"
    await h.document(IT_OFFICER, csv_bytes(rows), "roster.csv")
    preview = texts(await h.press(IT_OFFICER, "imp:roster:0"))[-1]
    assert "Иванова Маша Андреевна: переведена 6Б → 7В" in preview
    assert "Иванов Миша Андреевич: переведён 5А → 7В" in preview


async def test_broadcast_counts_its_recipients_in_the_form_the_number_governs(harness: Harness) -> None:
    h = harness
    await school(h)   # both parents joined
    await h.text(IT_OFFICER, "/broadcast")
    await h.press(IT_OFFICER, BcAudience(kind="parents").pack())
    await h.text(IT_OFFICER, "Собрание в пятницу")
    started = texts(await h.press(IT_OFFICER, BcConfirm(ok=True).pack()))
    assert any("Рассылка запущена: 2 получателя." in t for t in started), started
    await h.app.watchers.stop()


async def test_status_says_из_21_ребёнка_and_names_no_class_for_parents_codes(harness: Harness) -> None:
    h = harness
    await load_school(h.app)
    # 18 more pupils: 21 children in all.
    extra = [[f"Новиков Ученик{i} Петрович", "ученик", "7В", "", ""] for i in range(18)]
    report = await h.app.services.roster_import.import_roster(
        csv_bytes([*ROSTER_ROWS, *extra]), "r.csv", now=h.clock.now())
    assert report.ok, report.errors
    await h.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    text = texts(await h.text(IT_OFFICER, "/status"))[-1]
    assert "из 21 ребёнка" in text, text
    assert "—:" not in text and ", —" not in text
    assert "• сотрудники: " in text, text


async def test_help_puts_the_schools_contact_on_its_own_line(harness: Harness) -> None:
    h = harness
    await school(h, PARENT_TWO)
    text = texts(await h.text(PARENT_TWO, "/help"))[-1]
    contact = h.app.school.school.it_officer_contact
    assert f"или {contact}" not in text and f"\n{contact}" in text


def test_every_text_puts_the_schools_contact_on_its_own_line() -> None:
    """school.toml's contact is a block of its own («Ответственный по информатизации: каб. 214, …»):
    inside a sentence it read «Вопросы: Ответственный по информатизации: …», capitalised mid-sentence
    (and «напишите ответственному по информатизации: Ответственный по информатизации…»)."""
    inline = [f"{path.parent.name}/{path.name}: {line.strip()}"
              for path in sorted((CONTENT_DIR / "i18n").glob("*/*.toml"))
              for line in path.read_text(encoding="utf-8").splitlines()
              if "{contact}" in line and "\\n{contact}" not in line]
    assert inline == []


async def test_consent_screen_says_each_thing_once_and_stops_asking_to_read_once_answered(harness: Harness) -> None:
    h = harness
    await school(h, PARENT_TWO)
    first = texts(await h.text(PARENT_TWO, "/consent"))[-1]
    assert "Сначала откройте документ" in first
    assert first.count("бумажный экземпляр") <= 1, first
    keys = await consent_menu(h, PARENT_TWO)
    for label, data in keys.items():
        if label.startswith("✅") and "всех" not in label:
            await h.press(PARENT_TWO, data)
    screen = texts(await h.text(PARENT_TWO, "/consent"))[-1]
    assert screen.count("согласие дано") == 2, screen
    assert "Сначала откройте документ" not in screen
    assert "Нажатие кнопки" not in screen   # nothing left to agree to


async def test_a_decline_without_opening_gets_a_receipt_that_does_not_say_it_was_read(harness: Harness) -> None:
    h = harness
    await school(h, PARENT_TWO)
    keys = buttons(last_with_buttons(await h.text(PARENT_TWO, "/consent")))
    decline = next(data for label, data in keys.items() if label.startswith("❌"))
    assert ConsentCb.unpack(decline).action == "decline"
    receipt = next(t for t in texts(await h.press(PARENT_TWO, decline)) if "Квитанция" in t)
    assert "который вы прочитали" not in receipt and "SHA-256 текста документа" in receipt
