"""The workbooks the bot hands out print: LibreOffice (headless, one invocation for every file)
turns each into a PDF, and pdftotext, pdffonts and pdfinfo read what came out: the expected text
on the expected number of pages, every sheet with content, dates printed as dates, and no serif
fallback font (every cell names its font)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from bot.services.print_sheets import render_sheets
from bot.services.qr_card import CardData, qr_payload
from bot.services.roster import import_roster
from bot.services.training import SessionSpec
from tests.consent_helpers import school
from tests.harness import ROSTER_ROWS, Harness, csv_bytes

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None or shutil.which("pdftotext") is None,
    reason="LibreOffice (soffice) or poppler-utils is not installed: scripts/test.sh installs them",
)


def _to_pdf(files: dict[str, bytes], folder: Path) -> dict[str, Path]:
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert SOFFICE is not None
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{folder / 'profile'}", "--headless", "--convert-to", "pdf",
         "--outdir", str(folder), *[str(folder / n) for n in files]],
        check=True, capture_output=True, timeout=300,
    )
    return {name: folder / (Path(name).stem + ".pdf") for name in files}


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,  # noqa: S607
                          text=True).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout  # noqa: S607
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def _fonts(pdf: Path) -> str:
    return subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout  # noqa: S607


# The longest name a school is likely to have: it wraps on paper, it is never cut.
LONG_NAME = "Константинопольская-Голенищева Александра-Виктория Святославовна"


def _flat(text: str) -> str:
    """pdftotext's text with line breaks and runs of spaces (wrapped cells, table layout) as one space."""
    return " ".join(text.split())


def _sans_only(pdf: Path) -> None:
    fonts = _fonts(pdf)
    assert "Serif" not in fonts and "Times" not in fonts, fonts


async def test_the_files_the_bot_makes_print(harness: Harness, tmp_path: Path) -> None:
    h = harness
    await school(h)
    # A teacher with a very long name: the training attendance sheet must wrap it.
    rows = [*ROSTER_ROWS, [LONG_NAME, "учитель", "", "+79000000009", ""]]
    assert (await import_roster(h.app.db, csv_bytes(rows, encoding="utf-8", delimiter=";"), "roster.csv",
                                now=h.clock.now())).ok
    t = h.app.catalog.bind("ru")
    report = await h.app.services.report.render_report(t)
    register, _, _ = await h.app.services.consent_export.export("xlsx", t, None)
    sends, _, _ = await h.app.services.send_log_export.export("xlsx", t, None)
    session_id, _, _ = await h.app.services.training.create_session(None, SessionSpec(
        title="Работа в электронном журнале", audience="teachers", class_label=None,
        starts_at=h.clock.now() + timedelta(days=2), place="Кабинет информатики"))
    attendance = await h.app.services.training.attendance_xlsx(session_id, "ru")
    assert attendance is not None
    access, _, _ = await h.app.services.access_log.export(t)
    pdfs = _to_pdf({"report.xlsx": report, "register.xlsx": register, "sends.xlsx": sends,
                    "attendance.xlsx": attendance[0], "access.xlsx": access}, tmp_path)
    # The class teacher's code sheet as print_cards renders it, with the long name on a card.
    code = "AB12-CD34-EF56"
    (tmp_path / "codes.pdf").write_bytes(render_sheets([CardData(
        full_name=LONG_NAME, role_label="Обучающийся", class_label="5А", code=code,
        qr_payload=qr_payload(code, None), where_to_enter="Введите код в боте школы",
        school_name="МБОУ «СОШ № 17»")], title="5А — пригласительные коды"))
    pdfs["codes.pdf"] = tmp_path / "codes.pdf"
    # The PDFs the bot makes itself need no conversion: read them as they are.
    for name, (data, _) in {
        "analysis.pdf": await h.app.services.analysis.pdf_bytes(t),
        "archive.pdf": await h.app.services.archive.checklist_pdf(t),
    }.items():
        (tmp_path / name).write_bytes(data)
        pdfs[name] = tmp_path / name
    if keep := os.environ.get("KEEP_PRINTS"):   # to look at the pages: KEEP_PRINTS=/some/folder
        for pdf in pdfs.values():
            shutil.copy(pdf, keep)

    text = _text(pdfs["report.xlsx"])
    # Every sheet has content: the backups sheet says there were none instead of a lone header.
    assert "Копий пока не было" in text
    assert "Мероприятие" in text and "Итого" in text
    assert "31.10.2026" in text   # a deadline printed as a date (plan item 3: October 2026)
    assert _pages(pdfs["report.xlsx"]) >= 7   # one sheet at least a page each
    fonts = _fonts(pdfs["report.xlsx"])
    assert "Serif" not in fonts and "Times" not in fonts, fonts

    text = _text(pdfs["register.xlsx"])
    assert "Иванов Миша Андреевич" in text and "Смирнов Коля Олегович" in text
    assert _pages(pdfs["register.xlsx"]) == 1
    fonts = _fonts(pdfs["register.xlsx"])
    assert "Serif" not in fonts and "Times" not in fonts, fonts

    text = _flat(_text(pdfs["sends.xlsx"]))
    assert "Журнал отправок сообщений" in text and _pages(pdfs["sends.xlsx"]) == 1
    # The subtitle wraps to its end instead of stopping at the page's edge ("… Только в").
    assert "персональных данных в журнале нет" in text, text
    _sans_only(pdfs["sends.xlsx"])

    text = _flat(_text(pdfs["attendance.xlsx"]))
    assert "Работа в электронном журнале" in text and "Присутствие" in text
    assert all(part in text for part in LONG_NAME.split()), text   # wrapped, every word there
    assert _pages(pdfs["attendance.xlsx"]) == 1
    _sans_only(pdfs["attendance.xlsx"])

    text = _flat(_text(pdfs["access.xlsx"]))
    assert "Журнал" in text and _pages(pdfs["access.xlsx"]) == 1
    _sans_only(pdfs["access.xlsx"])

    # The card breaks the name after its hyphens and at spaces: whole on the card, never "…".
    text = _flat(_text(pdfs["codes.pdf"])).replace("- ", "-")
    assert "…" not in text and LONG_NAME in text, text
    assert code in text and _pages(pdfs["codes.pdf"]) == 1
    assert "Анализ текущего состояния" in _text(pdfs["analysis.pdf"]) and _pages(pdfs["analysis.pdf"]) == 1
    assert "Сдача классных журналов в архив" in _text(pdfs["archive.pdf"]) and _pages(pdfs["archive.pdf"]) == 1
