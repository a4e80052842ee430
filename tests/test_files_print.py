"""The workbooks the bot hands out print: LibreOffice (headless, one invocation for every file)
turns each into a PDF, and pdftotext, pdffonts and pdfinfo read what came out: the expected text
on the expected number of pages, every sheet with content, dates printed as dates, and no serif
fallback font (every cell names its font)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.consent_helpers import school
from tests.harness import Harness

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


async def test_the_files_the_bot_makes_print(harness: Harness, tmp_path: Path) -> None:
    h = harness
    await school(h)
    t = h.app.catalog.bind("ru")
    report = await h.app.services.report.render_report(t)
    register, _, _ = await h.app.services.consent_export.export("xlsx", t, None)
    sends, _, _ = await h.app.services.send_log_export.export("xlsx", t, None)
    pdfs = _to_pdf({"report.xlsx": report, "register.xlsx": register, "sends.xlsx": sends}, tmp_path)
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

    assert "Журнал отправок сообщений" in _text(pdfs["sends.xlsx"]) and _pages(pdfs["sends.xlsx"]) >= 1
    assert "Анализ текущего состояния" in _text(pdfs["analysis.pdf"]) and _pages(pdfs["analysis.pdf"]) == 1
    assert "Сдача классных журналов в архив" in _text(pdfs["archive.pdf"]) and _pages(pdfs["archive.pdf"]) == 1
