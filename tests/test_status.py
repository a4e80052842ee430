"""/status, the chart and /report through the real Dispatcher, for a populated demo school."""

from __future__ import annotations

import io
from pathlib import Path

from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile
from openpyxl import load_workbook
from PIL import Image

from bot.services import backup as backup_service
from bot.services import status as status_service
from bot.services.chart import chart_input, render_png
from bot.tg.callbacks import JournalDone
from storage.ops import OpsRepo
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, PARENT_TWO, Harness
from tests.status_helpers import populate


def _texts(calls: list[object]) -> list[str]:
    return [c.text for c in calls if isinstance(c, SendMessage)]


async def test_status_for_it_officer_shows_every_section(harness: Harness) -> None:
    await populate(harness)
    calls = await harness.text(IT_OFFICER, "/status")
    [text] = _texts(calls)
    assert "Статус внедрения ЭЖ/ЭД" in text
    assert "Людей в составе: 9, подключились к боту: 5" in text
    assert "Всего: 1 из 3 детей (33%)" in text  # Миша given, Маша declined, Коля undecided
    assert "• 5А: 1/2 (50%)" in text and "• 6Б: 0/1 (0%)" in text
    assert "ученики, 5А: 2 → 0 → 1" in text
    assert "Смирнов Олег Павлович" in text  # blocked the bot
    assert "Открытых вопросов: 0" in text
    assert "Копия базы ЭЖ на внешний носитель ещё не отмечалась" in text
    assert "до 28.12.2026 (2 четверть)" in text
    assert len(text) < 4096
    markup = next(c for c in calls if isinstance(c, SendMessage)).reply_markup
    assert markup is not None
    buttons = [b.callback_data for row in markup.inline_keyboard for b in row]  # type: ignore[union-attr]
    assert buttons == ["st:chart", "st:log"]


async def test_status_via_menu_button_for_director(harness: Harness) -> None:
    await populate(harness)
    [text] = _texts(await harness.text(DIRECTOR, "📊 Статус"))
    assert "Статус внедрения ЭЖ/ЭД" in text


async def test_class_teacher_sees_only_their_class(harness: Harness) -> None:
    await populate(harness)
    [text] = _texts(await harness.text(CLASS_TEACHER, "/status"))
    assert "5А класс" in text
    assert "Всего: 1 из 2 детей (50%)" in text
    assert "6Б" not in text
    assert "Смирнов Олег Павлович" in text  # a parent of 5А
    assert "Копия базы бота" not in text and "Открытых вопросов" not in text


async def test_parent_gets_no_status(harness: Harness) -> None:
    await populate(harness)
    calls = await harness.text(PARENT_TWO, "/status")
    assert all("Статус внедрения" not in t for t in _texts(calls))
    calls = await harness.press(PARENT_TWO, "st:chart")
    assert not any(isinstance(c, SendPhoto) for c in calls)


async def test_sections_degrade_when_tables_are_missing(harness: Harness) -> None:
    await populate(harness)
    async with harness.app.db.transaction() as conn:
        await conn.execute("ALTER TABLE tickets RENAME TO tickets_gone")
    data = await harness.app.services.status.collect(None)
    assert data.open_questions is None
    text = status_service.render(data, harness.app.catalog.bind("ru"), harness.app.school.tz)
    assert "Открытые вопросы: — нет данных" in text


async def test_long_lists_are_cut_and_message_fits(harness: Harness) -> None:
    await populate(harness)
    data = await harness.app.services.status.collect(None)
    data.unreachable = [status_service.Unreachable(f"Человек {i}", "5А", "blocked") for i in range(300)]
    text = status_service.render(data, harness.app.catalog.bind("ru"), harness.app.school.tz)
    assert "…и ещё 290" in text
    assert len(text) < 4096


async def test_chart_is_sent_and_is_a_real_png(harness: Harness, tmp_path: Path) -> None:
    await populate(harness)
    calls = await harness.press(IT_OFFICER, "st:chart")
    [photo] = [c for c in calls if isinstance(c, SendPhoto)]
    assert isinstance(photo.photo, BufferedInputFile)
    data = photo.photo.data
    (tmp_path / "status.png").write_bytes(data)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        assert 800 <= img.width <= 2000 and 400 <= img.height <= 1200
    assert 10_000 < len(data) < 500_000
    assert any(isinstance(c, AnswerCallbackQuery) for c in calls)


async def test_chart_without_data_still_renders(harness: Harness) -> None:
    data = await harness.app.services.status.collect(None)
    png = render_png(chart_input(data, harness.app.catalog.bind("en")))
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"


async def test_report_is_an_xlsx_with_the_sheets(harness: Harness) -> None:
    await populate(harness)
    await harness.app.services.backup.log_journal(quarter=2, label="Флешка №2", person_id=None)
    await harness.app.services.backup.take_backup()
    calls = await harness.text(DIRECTOR, "/report")
    [doc] = [c for c in calls if isinstance(c, SendDocument)]
    assert isinstance(doc.document, BufferedInputFile)
    assert doc.document.filename == "report-2026-11-30.xlsx"
    wb = load_workbook(io.BytesIO(doc.document.data))
    assert wb.sheetnames == ["Анализ", "План", "Согласия", "Коды", "Обучение", "Резервные копии", "Мессенджеры"]
    consent = wb["Согласия"]
    assert [c.value for c in consent[1]] == ["Класс", "Детей", "С согласием", "%"]
    assert consent[1][0].font.b
    assert consent.freeze_panes == "A2"
    assert consent.page_setup.orientation == "landscape"
    assert consent.page_setup.fitToWidth == 1
    rows = [[c.value for c in r] for r in consent.iter_rows(min_row=2)]
    assert rows[-1] == ["Итого", 3, 1, 33]
    backups = [[c.value for c in r] for r in wb["Резервные копии"].iter_rows(min_row=2)]
    assert backups[0][0] == "Копия базы ЭЖ" and backups[0][3] == "Флешка №2"
    assert backups[1][0] == "Копия базы бота" and backups[1][5] == "проверена"
    plan = wb["План"]
    assert plan.column_dimensions["B"].width == 70


async def test_teacher_cannot_get_report(harness: Harness) -> None:
    await populate(harness)
    calls = await harness.text(CLASS_TEACHER, "/report")
    assert not any(isinstance(c, SendDocument) for c in calls)


async def test_journal_backup_logged_with_label_and_photo(harness: Harness) -> None:
    await populate(harness)
    assert backup_service.journal_done_data(2026, 2) == JournalDone(year=2026, quarter=2).pack()
    calls = await harness.press(IT_OFFICER, JournalDone(year=2026, quarter=2).pack())
    assert "Как подписан носитель" in _texts(calls)[0]
    calls = await harness.text(IT_OFFICER, "Флешка   №2, сейф")
    assert "2 четверть, носитель «Флешка №2, сейф»" in _texts(calls)[0]
    photo = {"file_id": "ph1", "file_unique_id": "u1", "width": 10, "height": 10}
    calls = await harness.feed({"message": harness._message(IT_OFFICER, photo=[photo])})
    assert "Фото носителя сохранено" in _texts(calls)[0]
    [logged] = await OpsRepo(harness.app.db).journal_backups()
    assert (logged.quarter, logged.medium_label, logged.photo_file_id) == (2, "Флешка №2, сейф", "ph1")
    [text] = _texts(await harness.text(IT_OFFICER, "/status"))
    assert "Последняя копия ЭЖ: 30.11.2026 10:00, 2 четверть" in text
    assert "до 20.03.2027 (3 четверть)" in text


async def test_forged_journal_callback_is_refused(harness: Harness) -> None:
    await populate(harness)
    calls = await harness.press(IT_OFFICER, JournalDone(year=2019, quarter=2).pack())
    [answer] = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert answer.show_alert
    calls = await harness.press(DIRECTOR, JournalDone(year=2026, quarter=2).pack())
    assert not _texts(calls) or all("носитель" not in t for t in _texts(calls))
    assert await OpsRepo(harness.app.db).journal_backups() == []


async def test_backup_command_reports_the_local_copies_and_sends_no_file(harness: Harness) -> None:
    await populate(harness)
    calls = await harness.text(IT_OFFICER, "/backup")
    assert "Копий базы бота ещё нет" in _texts(calls)[0]
    result = await harness.app.services.backup.take_backup()
    calls = await harness.text(IT_OFFICER, "/backup")
    [text] = _texts(calls)
    assert str(result.path.parent.resolve()) in text and result.path.name in text
    assert "BACKUP_PASSPHRASE" in text
    assert not any(isinstance(c, SendDocument) for c in calls)
    calls = await harness.text(DIRECTOR, "/backup")
    assert not any(isinstance(c, SendDocument) for c in calls)
