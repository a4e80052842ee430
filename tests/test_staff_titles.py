"""Staff-typed titles are personal data unless their author says they name no one (#22, links).

A training session's title and place are free text: «Разбор ошибок с Ивановой Еленой Викторовной»
went out as a `public` invitation, to Telegram too under the municipal rules. Now the author chooses
when creating, as for a broadcast: «✅ Создать» (personal: where the school's rules keep personal data
off a messenger, the invitee gets the pointer) or «в названии и месте нет персональных данных»
(public). Built as `schoolbot run` builds it, a municipal school on Telegram and MAX.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from bot.services.surveys import Audience
from tests.codes_helpers import load_school
from tests.harness import IT_OFFICER, TEACHER, running_bot
from tests.help_helpers import PHONES
from tests.test_max_e2e import MaxWire, TelegramWire

NAMED = "Разбор ошибок с Ивановой Еленой Викторовной"
PLAIN = "Обучение работе с электронным журналом"
ORDER = "Приказ о назначении Ивановой Елены Викторовны ответственной за ЭЖ"
MEMO = "Памятка по работе с электронным журналом"



async def _create(officer: MaxWire, title: str, create_label: str) -> None:
    mark = officer.count()
    await officer.send("/admin")
    menu = await officer.wait(lambda text: "Администрирование" in text, after=mark)
    await officer.press(menu, "🎓 Обучение и собрания")
    sessions = await officer.wait(lambda text: "Выберите занятие или создайте новое" in text, after=mark)
    await officer.press(sessions, "➕ Новое занятие или собрание")
    await officer.wait(lambda text: "Название занятия" in text, after=mark)
    await officer.send(title)
    audience = await officer.wait(lambda text: "Кого пригласить?" in text, after=mark)
    await officer.press(audience, "👩‍🏫 Все учителя")
    await officer.wait(lambda text: "Дата и время" in text, after=mark)
    await officer.send("02.12.2026 15:00")
    await officer.wait(lambda text: "Место (кабинет)" in text, after=mark)
    await officer.send("Кабинет 21")
    preview = await officer.wait(lambda text: "Создать и разослать приглашения?" in text, after=mark)
    assert title in str(preview.plain)
    await officer.press(preview, create_label)
    await officer.wait(lambda text: "Занятие создано" in text, after=mark)


async def _linked(tg: FakeTelegram, mx: FakeMax) -> tuple[MaxWire, TelegramWire]:
    """The IT officer in MAX, a teacher on Telegram."""
    officer = MaxWire(mx, IT_OFFICER, "Пётр", "Петров", PHONES[IT_OFFICER].lstrip("+"))
    await officer.send("/start")
    await officer.share_contact(await officer.wait(lambda text: "поделитесь своим номером" in text))
    await officer.wait(lambda text: "Ваши роли" in text)
    teacher = TelegramWire(tg, TEACHER, "Игорь", "Морозов", PHONES[TEACHER])
    await teacher.send("/start")
    await teacher.share_contact(await teacher.wait(lambda text: "поделитесь своим номером" in text))
    await teacher.wait(lambda text: "🔒" in text)
    return officer, teacher


async def _send_for_reading(officer: MaxWire, text: str, send_label: str) -> None:
    mark = officer.count()
    await officer.send("/surveys")
    menu = await officer.wait(lambda text: "опрос" in text.lower() or "ознакомлен" in text.lower(), after=mark)
    await officer.press(menu, "✍️ Ознакомление с документами")
    listed = await officer.wait(lambda text: "на ознакомление" in text, after=mark)
    await officer.press(listed, "➕ Отправить документ на ознакомление")
    await officer.wait(lambda text: "Пришлите документ" in text, after=mark)
    await officer.send(text)
    items = await officer.wait(lambda text: "Для какого пункта плана" in text, after=mark)
    await officer.press(items, "Без пункта плана")
    audience = await officer.wait(lambda text: "Кому отправить?" in text, after=mark)
    await officer.press(audience, "Все сотрудники")
    confirm = await officer.wait(lambda text: "на ознакомление?" in text, after=mark)
    await officer.press(confirm, send_label)
    await officer.wait(lambda text: "Отправлено на ознакомление" in text, after=mark)


async def test_a_training_title_is_personal_unless_its_author_says_it_names_no_one(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app, with_codes=False)
        officer, teacher = await _linked(tg, mx)

        # «✅ Создать»: the title may name someone, so Telegram gets the pointer, not the title.
        mark = teacher.count()
        await _create(officer, NAMED, "✅ Создать")
        pointer = await teacher.wait(lambda text: "🔒" in text, after=mark)
        assert "Ивановой" not in str(pointer.plain)
        assert not [m for m in tg.sent(TEACHER) if "Ивановой" in (m.plain or "")]

        # The author says the title and place name no one: the invitation itself reaches Telegram.
        mark = teacher.count()
        await _create(officer, PLAIN, "✅ Создать: в названии и месте нет персональных данных")
        invitation = await teacher.wait(lambda text: PLAIN in text, after=mark)
        assert "Приглашение" in str(invitation.plain) and "Кабинет 21" in str(invitation.plain)
        rows = await app.db.fetchall("SELECT title, public_text FROM training_sessions ORDER BY id")
        assert [(r["title"], r["public_text"]) for r in rows] == [(NAMED, 0), (PLAIN, 1)]


async def test_an_acknowledgement_is_personal_unless_its_author_says_it_names_no_one(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app, with_codes=False)
        officer, teacher = await _linked(tg, mx)

        # «✅ Отправить»: the text is the author's and may name someone: Telegram gets the pointer.
        mark = teacher.count()
        await _send_for_reading(officer, ORDER, "✅ Отправить")
        await teacher.wait(lambda text: "🔒" in text, after=mark)
        assert not [m for m in tg.sent(TEACHER) if "Ивановой" in (m.plain or "")]

        # Marked as naming no one: the text and its «Ознакомлен(а)» reach Telegram, and so does the
        # note naming what was confirmed.
        mark = teacher.count()
        await _send_for_reading(officer, MEMO, "✅ Отправить: в названии и тексте нет персональных данных")
        memo = await teacher.wait(lambda text: MEMO in text, after=mark)
        mark = teacher.count()
        await teacher.press(memo, "✅ Ознакомлен(а)")
        await teacher.wait(lambda text: MEMO in text, after=mark)
        rows = await app.db.fetchall("SELECT title, public_title FROM ack_campaigns ORDER BY id")
        assert [(r["title"], r["public_title"]) for r in rows] == [(ORDER, 0), (MEMO, 1)]


async def test_a_surveys_title_from_a_staff_file_is_personal_a_templates_public(
    tg: FakeTelegram, mx: FakeMax, tmp_path: Path
) -> None:
    async with running_bot(tg, tmp_path, mx=mx, school_config=EXAMPLE_SCHOOL_CONFIG) as app:
        await load_school(app, with_codes=False)
        _officer, teacher = await _linked(tg, mx)
        surveys = app.services.surveys
        template = surveys.templates["staff_ict"]
        await surveys.create(None, template, Audience("role", "staff"), 5, anonymous=False)

        # A shipped template's title is the catalog's: the teacher's list of surveys reaches Telegram.
        mark = teacher.count()
        await teacher.send("/surveys")
        await teacher.wait(lambda text: "Опросы, на которые" in text, after=mark)
        listing = tg.sent(TEACHER)[-1]
        assert any(template.title in label for row in listing.buttons() for label in row)

        # A survey made from a staff file: its title is free text and may name someone.
        from_file = replace(template, title=NAMED, name=None)
        await surveys.create(None, from_file, Audience("role", "staff"), 5, anonymous=False)
        mark = teacher.count()
        await teacher.send("/surveys")
        await teacher.wait(lambda text: "🔒" in text, after=mark)
        assert not [m for m in tg.sent(TEACHER) if "Ивановой" in (m.plain or "") + repr(m.reply_markup)]
