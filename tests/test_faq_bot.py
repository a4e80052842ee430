"""FAQ browsing and free-text search through the real Dispatcher (handler level)."""

from __future__ import annotations

from aiogram.methods import AnswerCallbackQuery

from bot.domain.access import faq_audiences as audiences_for_roles
from bot.paths import CONTENT_DIR
from bot.services.faq import FaqLibrary
from bot.tg.callbacks import FaqNav
from handlers.faq import PAGE_SIZE
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_TWO, Harness
from tests.help_helpers import alerts, buttons, last_with_buttons, linked_school, texts


async def test_categories_by_role_and_back_everywhere(harness: Harness) -> None:
    await linked_school(harness, PARENT_TWO, CLASS_TEACHER)
    parent = buttons(last_with_buttons(await harness.text(PARENT_TWO, "/faq")))
    teacher = buttons(last_with_buttons(await harness.text(CLASS_TEACHER, "/faq")))
    parent_cats = {FaqNav.unpack(d).cat for _, d in parent if d.startswith("faq:")}
    teacher_cats = {FaqNav.unpack(d).cat for _, d in teacher if d.startswith("faq:")}
    assert "teachers" in teacher_cats and "teachers" not in parent_cats
    assert "parents" in parent_cats

    # Every category screen and every entry screen has a working "back".
    for cat in sorted(parent_cats):
        calls = await harness.press(PARENT_TWO, FaqNav(v="l", cat=cat).pack())
        screen = buttons(last_with_buttons(calls))
        back = [d for text, d in screen if text == "⬅️ Назад"]
        assert back == [FaqNav(v="c").pack()]
        entry_data = next(d for _, d in screen if d.startswith("faq:e:"))
        entry = buttons(last_with_buttons(await harness.press(PARENT_TWO, entry_data)))
        back_to = [d for text, d in entry if text == "⬅️ Назад"]
        assert back_to == [FaqNav(v="l", cat=cat, page=0).pack()]
        calls = await harness.press(PARENT_TWO, back_to[0])
        assert any(isinstance(c, AnswerCallbackQuery) for c in calls)


async def test_pagination(harness: Harness) -> None:
    await linked_school(harness, IT_OFFICER)
    faq = harness.app.services.tickets.faq_library.get("ru")

    aud = audiences_for_roles(["it_officer"])
    big = max(faq.categories(aud), key=lambda c: len(faq.entries(c.id, aud)))
    n = len(faq.entries(big.id, aud))
    assert n > PAGE_SIZE, "some category must need two pages"
    first = buttons(last_with_buttons(await harness.press(IT_OFFICER, FaqNav(v="l", cat=big.id).pack())))
    assert len([d for _, d in first if d.startswith("faq:e:")]) == PAGE_SIZE
    nxt = [d for text, d in first if text.startswith("Дальше")]
    assert nxt
    second_calls = await harness.press(IT_OFFICER, nxt[0])
    second = buttons(last_with_buttons(second_calls))
    assert len([d for _, d in second if d.startswith("faq:e:")]) == n - PAGE_SIZE
    assert any(text.startswith("◀️") for text, _ in second)
    assert "Страница 2 из 2" in texts(second_calls)[-1]
    # A page far beyond the end shows the last page rather than nothing.
    calls = await harness.press(IT_OFFICER, FaqNav(v="l", cat=big.id, page=99).pack())
    assert "Страница 2 из 2" in texts(calls)[-1]


async def test_forged_and_stale_callbacks_are_answered(harness: Harness) -> None:
    await linked_school(harness, PARENT_TWO)
    # A teacher-only entry and category, forged by a parent; an entry that does not exist.
    for data in (
        FaqNav(v="e", e="teacher-fill-journal").pack(),
        FaqNav(v="l", cat="teachers").pack(),
        FaqNav(v="e", e="no-such-entry").pack(),
        FaqNav(v="l", cat="nope").pack(),
    ):
        calls = await harness.press(PARENT_TWO, data)
        assert any("недоступен" in a for a in alerts(calls)), data
        assert "Выберите раздел" in texts(calls)[-1]
    # Garbage with the right prefix reaches the fallback, which still answers.
    calls = await harness.press(PARENT_TWO, "faq:zzz")
    assert any(isinstance(c, AnswerCallbackQuery) for c in calls)


async def test_unlinked_user_sees_all_audience_entries_only(harness: Harness) -> None:
    calls = await harness.text(5555, "/faq")
    cats = {FaqNav.unpack(d).cat for _, d in buttons(last_with_buttons(calls)) if d.startswith("faq:")}
    assert "teachers" not in cats and "parents" not in cats
    assert not any(d.startswith("tk:") for _, d in buttons(last_with_buttons(calls)))


async def test_free_text_search_offers_top_three_and_ask(harness: Harness) -> None:
    await linked_school(harness, PARENT_TWO)
    calls = await harness.text(PARENT_TWO, "забыл пароль")
    found = buttons(last_with_buttons(calls))
    assert FaqNav.unpack(found[0][1]).e == "password-forgot"
    assert len(found) <= 4 and found[-1][1].startswith("tkq:")
    answer = await harness.press(PARENT_TWO, found[0][1])
    assert "Забыли пароль" in texts(answer)[-1]
    # "Back" from an answer returns to the same results.
    back = [d for text, d in buttons(last_with_buttons(answer)) if text == "⬅️ Назад"]
    results = await harness.press(PARENT_TWO, back[0])
    assert buttons(last_with_buttons(results)) == found
    # Results whose query is no longer kept: answered, and the categories are shown.
    stale = await harness.press(PARENT_TWO, FaqNav(v="s", cat="00000000").pack())
    assert alerts(stale) and "Выберите раздел" in texts(stale)[-1]


async def test_faq_reload_reports_errors_and_keeps_content(harness: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil


    folder = tmp_path / "faq"
    shutil.copytree(CONTENT_DIR / "faq", folder)
    harness.app.services.tickets.faq_library = FaqLibrary.load(folder)
    await linked_school(harness, IT_OFFICER)
    ok = await harness.press(IT_OFFICER, "adm:faq_reload")
    assert any("FAQ перечитан" in a for a in alerts(ok))
    (folder / "ru.toml").write_text("[categories]\n", encoding="utf-8")
    bad = await harness.press(IT_OFFICER, "adm:faq_reload")
    assert any("не перечитан" in t for t in texts(bad))
    calls = await harness.text(IT_OFFICER, "забыл пароль")
    assert FaqNav.unpack(buttons(last_with_buttons(calls))[0][1]).e == "password-forgot"
