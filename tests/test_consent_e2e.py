"""End to end: a parent of two children agrees for one, declines for the other, withdraws and gets
receipts; staff are alerted; a class teacher records a paper consent; the registers open."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.channels import Channel
from bot.fakeapi import FakeTelegram
from bot.fakeapi.models import SentMessage
from bot.services import consent as svc
from storage.consent import ConsentRepo
from storage.consent_form import ConsentFormRepo
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_TWO, roster_csv, running_bot

pytestmark = pytest.mark.slow


def has(text: str) -> Callable[[SentMessage], bool]:
    def check(m: SentMessage) -> bool:
        return text in (m.plain or "")

    check.__name__ = f"has({text!r})"
    return check


async def test_parent_decides_withdraws_and_teacher_records_paper(tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(tg, tmp_path) as app:
        report = await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())
        assert report.ok
        people = {
            IT_OFFICER: tg.user(IT_OFFICER, "Пётр", "Петров", phone="+79000000001"),
            CLASS_TEACHER: tg.user(CLASS_TEACHER, "Ольга", "Кузнецова", phone="+79000000003"),
            PARENT_TWO: tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005"),
        }
        for uid, user in people.items():
            await user.share_contact(user.phone)
            await tg.wait_for(uid)  # the welcome
        parent = people[PARENT_TWO]

        n = len(tg.sent(PARENT_TWO))
        await parent.send("/consent")
        menu = await tg.wait_for(PARENT_TWO, has("Согласие на обработку"), after=n)
        assert "ответа нет" in (menu.plain or "")
        # The document first: the agree button comes with the menu sent after it.
        n = len(tg.sent(PARENT_TWO))
        await parent.press(menu, "📄 Прочитать документ: Миша")
        document = await tg.wait_for(PARENT_TWO, has("обучающегося Иванова Миши Андреевича"), after=n)
        assert "Я, Иванова Елена Викторовна," in (document.plain or "")
        menu = await tg.wait_for(PARENT_TWO, lambda m: any("✅ Согласна: Миша" in row for row in m.buttons()), after=n)

        n = len(tg.sent(PARENT_TWO))
        await parent.press(menu, "✅ Согласна: Миша")
        given = await tg.wait_for(PARENT_TWO, has("Квитанция"), after=n)
        assert "согласие дано" in (given.plain or "") and "Иванов Миша Андреевич" in (given.plain or "")

        n = len(tg.sent(PARENT_TWO))
        await tg.wait_for(PARENT_TWO, lambda m: m.message_id == menu.message_id and "согласие дано" in (m.plain or ""))
        await parent.press(tg.message(PARENT_TWO, menu.message_id), "❌ Не согласна: Маша")
        declined = await tg.wait_for(PARENT_TWO, has("Квитанция"), after=n)
        assert "отказ от согласия" in (declined.plain or "") and "Иванова Маша" in (declined.plain or "")

        await tg.wait_for(PARENT_TWO, lambda m: m.message_id == menu.message_id and "отказ" in (m.plain or ""))
        await parent.press(tg.message(PARENT_TWO, menu.message_id), "↩️ Отозвать согласие: Миша")
        await tg.wait_for(
            PARENT_TWO, lambda m: m.message_id == menu.message_id and "Отозвать согласие" in (m.plain or "")
        )
        n = len(tg.sent(PARENT_TWO))
        await parent.press(tg.message(PARENT_TWO, menu.message_id), "Да, отозвать")
        withdrawn = await tg.wait_for(PARENT_TWO, has("Квитанция"), after=n)
        assert "согласие отозвано" in (withdrawn.plain or "")

        # Staff are told through the outbox.
        await tg.wait_for(IT_OFFICER, has("Отзыв согласия"))
        await tg.wait_for(CLASS_TEACHER, has("Иванов Миша Андреевич"))

        rows = await ConsentRepo.ledger_rows(app.db.conn)
        misha, masha = (await app.people.children((await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)).id))  # type: ignore[union-attr]
        assert [(r.child_id, r.decision, r.channel, r.user_id) for r in rows] == [
            (misha.id, "given", "telegram", PARENT_TWO),
            (masha.id, "declined", "telegram", PARENT_TWO),
            (misha.id, "withdrawn", "telegram", PARENT_TWO),
        ]
        version = await app.services.consent.current()
        assert {r.version for r in rows} == {version.number}
        # Each row names the exact text shown (or printed for paper), kept beside the ledger.
        for r in rows:
            kept = await ConsentFormRepo.text_by_hash(app.db.conn, r.sha256)
            assert kept is not None and svc.sha256_text(kept) == r.sha256 and "{" not in kept
        assert len({r.receipt_id for r in rows}) == 3 and len({r.tg_callback_id for r in rows}) == 3
        for receipt, row in zip((given, declined, withdrawn), rows, strict=True):
            assert row.receipt_id in (receipt.plain or "")

        # The class teacher records a paper consent for a pupil of 5А.
        teacher = people[CLASS_TEACHER]
        n = len(tg.sent(CLASS_TEACHER))
        await teacher.send("/consent")
        view = await tg.wait_for(CLASS_TEACHER, has("Класс 5А"), after=n)
        await teacher.press(view, "📝 Внести бумажное согласие")
        pick = await tg.wait_for(CLASS_TEACHER, has("Бумажное согласие"), after=n)
        await teacher.press(pick, "Смирнов Коля Олегович")
        await tg.wait_for(CLASS_TEACHER, lambda m: m.message_id == pick.message_id and "что указано" in (m.plain or ""))
        await teacher.press(tg.message(CLASS_TEACHER, pick.message_id), "✅ Согласие")
        await tg.wait_for(CLASS_TEACHER, lambda m: m.message_id == pick.message_id and "дд.мм.гггг" in (m.plain or ""))
        await teacher.send("27.11.2026")
        done = await tg.wait_for(CLASS_TEACHER, has("Записано"), after=n)
        assert "27.11.2026" in (done.plain or "")
        paper = (await ConsentRepo.ledger_rows(app.db.conn))[-1]
        teacher_person = await app.people.by_account(Channel.TELEGRAM, CLASS_TEACHER)
        assert teacher_person is not None
        assert (paper.channel, paper.decision, paper.recorded_by, str(paper.paper_date)) == (
            "paper", "given", teacher_person.id, "2026-11-27"
        )
        assert await app.services.consent_gate.is_covered(app.db.conn, paper.child_id)
        assert await app.services.consent_gate.covered_children(app.db.conn) == {paper.child_id}

        # The registers.
        t = app.catalog.bind("ru")
        data, _, count = await app.services.consent_export.export("csv", t)
        assert count == 3 and data.decode("utf-8-sig").splitlines()[0].startswith("Класс;Ученик")
        data, _, _ = await app.services.consent_export.export("xlsx", t)
        ws = load_workbook(io.BytesIO(data)).active
        assert ws is not None and ws["A3"].value == "Класс" and ws.max_row == 6
        data, _, _ = await app.services.consent_export.export("pdf", t)
        assert data.startswith(b"%PDF")
        _, register = await app.services.consent_registers.register()
        # Each class starts on its own page.
        assert len(re.findall(rb"/Type\s*/Page\b", data)) == len({r.class_label for r in register}) == 2
