"""End to end: a parent finds an answer by a free-text question (the bot as `schoolbot run` runs it,
long-polling the fake Bot API server)."""

from __future__ import annotations

from pathlib import Path

from bot.fakeapi import FakeTelegram
from tests.harness import PARENT_TWO, running_bot
from tests.help_helpers import import_school, link_e2e


async def test_parent_finds_answer_by_free_text(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        await import_school(app)
        parent = await link_e2e(tg, app, PARENT_TWO, "Елена", "Иванова")
        before = len(tg.sent(PARENT_TWO))
        await parent.send("забыл пароль")
        results = await tg.wait_for(PARENT_TWO, lambda m: "Возможно, ответ здесь" in (m.plain or ""), after=before)
        labels = [b["text"] for row in (results.reply_markup or {})["inline_keyboard"] for b in row]
        assert labels[0].startswith("Забыл пароль от Дневник.ру")
        assert labels[-1] == "✉️ Ничего не подошло — спросить ответственного"
        assert len(labels) <= 4
        await parent.press(results, labels[0])
        answer = await tg.wait_for(
            PARENT_TWO, lambda m: any("Забыли пароль?" in (e.text or "") for e in m.edits), after=before
        )
        # The answer screen keeps a way back.
        assert "⬅️ Назад" in str(answer.reply_markup)
        # Word forms match: "пароля", "паролем".
        mark = len(tg.sent(PARENT_TWO))
        await parent.send("Не помню пароля")
        again = await tg.wait_for(PARENT_TWO, lambda m: "Возможно" in (m.plain or ""), after=mark)
        assert "Забыл пароль" in str(again.reply_markup)
