"""Plan item 18: the analysis and next year's tasks, drafted from the bot's data, edited by the IT
officer in the bot or from the command line, as a PDF and as the XLSX report's first sheet."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import subprocess
from pathlib import Path

from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile
from openpyxl import load_workbook

from bot.channels import Channel
from bot.services import analysis
from bot.services.task_actions import text_proof
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness
from tests.test_tasks import local, seed, sent


def _documents(calls: list[object]) -> list[BufferedInputFile]:
    docs = [c.document for c in calls if isinstance(c, SendDocument)]
    assert all(isinstance(d, BufferedInputFile) for d in docs)
    return docs  # type: ignore[return-value]


async def _year(h: Harness) -> None:
    """A year with something to say: late and missed plan items, questions asked."""
    app = h.app
    await seed(app)
    officer = await app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    director = await app.people.by_account(Channel.TELEGRAM, DIRECTOR)
    assert officer is not None and director is not None
    for tg_id, text in ((PARENT_TWO, "Не приходит код, что делать?"), (PARENT_ONE, "не приходит  код — что делать"),
                        (PARENT_TWO, "Где вводить код?")):
        asker = await app.people.by_account(Channel.TELEGRAM, tg_id)
        assert asker is not None
        await app.services.tickets.open_ticket(asker, text)
    h.clock.set(local(app, "2026-10-20 10:00"))
    await app.services.backup.log_journal(quarter=1, label="Флешка №1", person_id=officer.id)
    h.clock.set(local(app, "2026-11-05 10:00"))  # item 3 was due 31 October: accepted late
    proof = await app.services.task_actions.submit_proof(director, "3", "2026-10-31", text_proof("Приказ №12"))
    await app.services.task_actions.review(officer, proof, accept=True, comment=None)
    h.clock.set(local(app, "2027-05-31 10:00"))


def test_tasks_are_parsed_one_a_line() -> None:
    assert analysis.parse_tasks("1. Первое\n\n- Второе\n  • Третье  \n2) Четвёртое") == [
        "Первое", "Второе", "Третье", "Четвёртое"]


async def test_it_officer_gets_the_analysis_edits_the_tasks_and_the_report_follows(harness: Harness) -> None:
    await _year(harness)
    app = harness.app
    t = app.catalog.bind("ru")
    found = await app.services.analysis.collect(t)
    assert [c.label for c in found.classes] == ["5А", "6Б"]
    assert [line.label for line in found.late] == ["Пункт 3"]
    assert "Пункт 16 · II четверть" in [line.label for line in found.not_done]
    assert "Пункт 16 · I четверть" not in [line.label for line in found.not_done]  # logged in time
    # Questions are counted by topic (the FAQ section that answers them), never quoted.
    assert found.topics[0] == ("Пригласительные коды", 3)
    assert not found.tasks_edited and found.tasks == found.proposed
    assert any("5А, 6Б" in task for task in found.tasks)  # consent coverage is low in both classes
    assert any("II, III, IV" in task for task in found.tasks)  # the missed backups

    calls = await harness.text(IT_OFFICER, "/analysis")
    [pdf] = _documents(calls)
    assert pdf.data.startswith(b"%PDF") and pdf.filename == "analysis-2026-2027.pdf"
    assert "черновик" in (calls[0].caption or "")  # type: ignore[attr-defined]
    listing = sent(calls)[-1]
    assert "1. " in listing and "Задачи на следующий учебный год" in listing

    # The IT officer rewrites the tasks in the bot.
    calls = await harness.press(IT_OFFICER, "ana:edit")
    assert "по одной на строке" in sent(calls)[0]
    calls = await harness.text(IT_OFFICER, "1. Обучить новых учителей <5А>\n2. Собрать согласия в 6Б")
    [pdf2] = _documents(calls)
    assert pdf2.data.startswith(b"%PDF") and pdf2.data != pdf.data
    assert "1. Обучить новых учителей &lt;5А&gt;\n2. Собрать согласия в 6Б" in sent(calls)[-1]
    again = await app.services.analysis.collect(t)
    assert again.tasks_edited and again.tasks == ["Обучить новых учителей <5А>", "Собрать согласия в 6Б"]

    # The XLSX report's first sheet is the same analysis, with the edited tasks.
    calls = await harness.text(DIRECTOR, "/report")
    [report] = _documents(calls)
    wb = load_workbook(io.BytesIO(report.data))
    assert wb.sheetnames[0] == "Анализ"
    rows = [[c.value for c in r] for r in wb["Анализ"].iter_rows(min_row=2)]
    assert ["Задачи на следующий год", "1. Обучить новых учителей <5А>", None] in rows
    assert ["Выполнено с опозданием", rows[[r[0] for r in rows].index("Выполнено с опозданием")][1], rows[
        [r[0] for r in rows].index("Выполнено с опозданием")][2]] in rows
    assert any(r[0] == "Вопросы по темам" and r[1] == "Пригласительные коды" and r[2] == 3 for r in rows)

    # The director reads it but does not edit; a class teacher does not get it.
    calls = await harness.text(DIRECTOR, "/analysis")
    assert _documents(calls) and "✏️" not in str(calls[-1].reply_markup)  # type: ignore[attr-defined]
    calls = await harness.text(CLASS_TEACHER, "/analysis")
    assert not _documents(calls)


async def test_empty_edit_is_refused_and_nothing_saved(harness: Harness) -> None:
    await _year(harness)
    await harness.press(IT_OFFICER, "ana:edit")
    calls = await harness.text(IT_OFFICER, "  \n - \n")
    assert "хотя бы одна задача" in sent(calls)[0]
    assert not (await harness.app.services.analysis.collect(harness.app.catalog.bind("ru"))).tasks_edited


async def test_cli_sets_the_tasks_and_writes_a_private_pdf(harness: Harness, tmp_path: Path) -> None:
    await _year(harness)
    app = harness.app
    tasks_file = tmp_path / "tasks.txt"
    tasks_file.write_text("Первое\nВторое\n", encoding="utf-8")
    out = tmp_path / "out" / "analysis.pdf"
    args = argparse.Namespace(tasks=str(tasks_file), out=str(out))
    assert await app.services.analysis.cmd_analysis(args, app.catalog.bind("ru")) == 0
    assert out.read_bytes().startswith(b"%PDF") and os.stat(out).st_mode & 0o777 == 0o600
    assert (await app.services.analysis.collect(app.catalog.bind("ru"))).tasks == ["Первое", "Второе"]
    bad = argparse.Namespace(tasks=str(tmp_path / "missing.txt"), out=str(out))
    assert await app.services.analysis.cmd_analysis(bad, app.catalog.bind("ru")) == 2


async def test_a_private_question_appears_nowhere_in_the_report_or_the_analysis(
    harness: Harness, tmp_path: Path
) -> None:
    """A parent's question names a child and asks for a password: the XLSX report and the item-18
    analysis count it under a topic and never print it, nor propose it for the FAQ."""
    await _year(harness)
    app = harness.app
    private = "сбросьте пароль дочери Маше, 7В"
    asker = await app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert asker is not None
    for _ in range(3):  # the most asked, so it would lead the "frequent questions" before
        await app.services.tickets.open_ticket(asker, private)
    t = app.catalog.bind("ru")
    found = await app.services.analysis.collect(t)
    assert sum(n for _, n in found.topics) == 6
    assert ("Вход в Дневник.ру", 3) in found.topics
    everything = repr(found) + repr(analysis.rows(found, t))
    for needle in ("сбросьте", "Маше", "7В"):
        assert needle not in everything
    workbook = load_workbook(io.BytesIO(await app.services.report.render_report(t)))
    cells = " ".join(
        str(c.value) for ws in workbook.worksheets for row in ws.iter_rows() for c in row if c.value is not None
    )
    workbook.close()
    assert "Вход в Дневник.ру" in cells
    for needle in ("сбросьте", "Маше", "7В", "Не приходит код"):
        assert needle not in cells
    data, _ = await app.services.analysis.pdf_bytes(t)
    pdftotext = shutil.which("pdftotext")
    if pdftotext:
        path = tmp_path / "analysis.pdf"
        path.write_bytes(data)
        out = await asyncio.to_thread(
            subprocess.run, [pdftotext, str(path), "-"], capture_output=True, check=True, text=True
        )
        assert "сбросьте" not in out.stdout and "Маше" not in out.stdout
