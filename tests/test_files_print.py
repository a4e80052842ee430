"""The files the bot hands out print: LibreOffice (headless, one invocation for every workbook) turns
each XLSX into a PDF, and pdftotext, pdffonts and pdfinfo read what came out: the expected text on
the expected number of pages, at a readable size, every sheet with content, dates printed as dates,
and no serif fallback font (every cell names its font). The PDFs the bot draws itself (code sheets,
analysis, archive) are read as they are.

Every module that makes a workbook does it through bot.services.xlsx.new_workbook; the first test
finds them in the source, so a new exporter fails here until it is printed below too."""

from __future__ import annotations

import argparse
import ast
import collections
import io
import os
import re
import shutil
import subprocess
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiogram.methods import SendDocument
from openpyxl import load_workbook
from openpyxl.cell.cell import MergedCell

from bot.channels import Channel
from bot.i18n import Translator
from bot.services.consent_evidence import Selection
from bot.services.imports import ImportOptions
from bot.services.print_sheets import render_sheets
from bot.services.qr_card import CardData, qr_payload
from bot.services.surveys import Audience
from bot.services.surveys_spec import load_templates
from bot.services.surveys_tally import Results, group_results, tally
from bot.services.surveys_xlsx import render_xlsx
from bot.services.training import SessionSpec
from bot.services.xlsx import FONT_NAME, FONT_SIZE
from bot.tg.callbacks import CodePrint
from storage.consent_destruction import DestructionRepo
from storage.surveys import Answer, SurveyRow
from tests.codes_helpers import CODE_ROWS, CODES, codes_csv, person_id
from tests.consent_helpers import PHONES
from tests.harness import CLASS_TEACHER, ROSTER_ROWS, Harness, csv_bytes
from tests.surveys_helpers import EXTRA_TEACHERS

ROOT = Path(__file__).resolve().parent.parent
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_office = pytest.mark.skipif(
    SOFFICE is None or shutil.which("pdftotext") is None,
    reason="LibreOffice (soffice) or poppler-utils is not installed: scripts/test.sh installs them",
)

# Every module that makes a workbook, and the file below that prints it.
WORKBOOKS = {
    "bot.services.report": "report.xlsx",
    "bot.services.consent_export": "register.xlsx",
    "bot.services.send_log_export": "sends.xlsx",
    "bot.services.training": "attendance.xlsx",
    "bot.services.access_log": "access.xlsx",
    "bot.services.surveys_xlsx": "survey.xlsx",
}
# Every module that draws a PDF itself (fpdf), and the files below it draws.
PDFS = {
    "bot.services.print_sheets": ("codes.pdf", "parents.pdf", "school.pdf"),
    "bot.services.consent_export": ("consents.pdf", "form.pdf"),
    "bot.services.consent_pdf": ("evidence.pdf", "act.pdf"),
    "bot.services.analysis": ("analysis.pdf",),
    "bot.services.archive": ("archive.pdf",),
}
# The smallest share of its size a sheet's type may print at once fitted to the page's width.
MIN_SCALE = 0.85


def _imports_and_calls(path: Path) -> tuple[set[str], set[str]]:
    """(names imported from openpyxl and fpdf, functions called by name) in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").split(".")[0] in ("openpyxl", "fpdf") for alias in node.names}
    called = {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
              for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Name | ast.Attribute)}
    return imported, called


def test_every_workbook_and_pdf_maker_is_printed_here() -> None:
    makers, own, drawers = set(), set(), set()
    for folder in ("bot", "handlers", "storage", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            imported, called = _imports_and_calls(path)
            if "Workbook" in imported:
                own.add(module)
            if "FPDF" in imported:
                drawers.add(module)
            if "new_workbook" in called and module != "bot.services.xlsx":
                makers.add(module)
    # Only new_workbook creates one (it sets the default font every width is measured in) ...
    assert own == {"bot.services.xlsx"}, own
    # ... and every module that calls it has its file printed by the test below.
    assert makers == set(WORKBOOKS), makers ^ set(WORKBOOKS)
    # Every module that draws a PDF has its files read by the test below.
    assert drawers == set(PDFS), drawers ^ set(PDFS)


# --- reading what was printed ---------------------------------------------------------------------


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


def _flat(pdf: Path) -> str:
    """pdftotext's text with line breaks and runs of spaces (wrapped cells, table layout) as one
    space, and a name broken after its hyphen joined again."""
    return " ".join(_text(pdf).split()).replace("- ", "-")


def _wrapped(name: str, text: str) -> bool:
    """Every part of a name a table cell wrapped (the layout puts the neighbours' lines between)."""
    return all(part in text for part in re.split(r"[\s-]+", name))


def _words(pdf: Path) -> list[tuple[str, float, float]]:
    """(word, top, bottom) of every word on the first page, in points from the top."""
    html = subprocess.run(["pdftotext", "-bbox", "-l", "1", str(pdf), "-"], check=True,  # noqa: S607
                          capture_output=True, text=True).stdout
    return [(w, float(top), float(bottom)) for top, bottom, w in
            re.findall(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', html)]


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout  # noqa: S607
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def _sans_only(pdf: Path) -> None:
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout  # noqa: S607
    assert "Serif" not in fonts and "Times" not in fonts, fonts


def _scales(pdf: Path) -> list[float]:
    """Per page, the size the body type printed at as a share of FONT_SIZE: the commonest font size
    set on the page (LibreOffice scales a sheet fitted to the page's width by scaling its type)."""
    data = pdf.read_bytes()
    found = []
    for stream in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            content = zlib.decompress(stream.group(1))
        except zlib.error:
            continue   # an image or a font
        sizes = collections.Counter(round(float(s), 1) for s in re.findall(rb"/F\d+ ([\d.]+) Tf", content))
        if sizes:
            found.append(sizes.most_common(1)[0][0] / FONT_SIZE)
    return found


# --- the workbooks as files: fonts, borders, real cells, page set-up, content on every sheet -------

DATE_TEXT = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}( \d{1,2}:\d{2})?$")
# A share or a fraction written as text (a plan item's number such as "1.1" is a label, not a number).
NUMBER_TEXT = re.compile(r"^-?\d+(,\d+)?\s?%$|^-?\d+,\d+$")


def _check_workbook(name: str, data: bytes) -> None:
    wb = load_workbook(io.BytesIO(data))
    default = wb._fonts[0]  # type: ignore[attr-defined]
    assert (default.name, default.sz) == (FONT_NAME, FONT_SIZE), (name, default)
    for ws in wb.worksheets:
        where = f"{name}: {ws.title}"
        setup = ws.page_setup
        assert str(setup.paperSize) == "9" and setup.orientation in ("landscape", "portrait"), where
        assert setup.fitToWidth == 1 and setup.fitToHeight == 0, where
        assert ws.sheet_properties.pageSetUpPr is not None and ws.sheet_properties.pageSetUpPr.fitToPage, where
        assert ws.print_title_rows, where
        header = int(re.findall(r"\d+", ws.print_title_rows)[0])
        # The rows repeated on every page are the table's header, or a title above the tables
        # (a survey's breakdown in several tables, each starting a page): the table starts below.
        while not ws.cell(row=header, column=1).border.left.style and header < ws.max_row:
            header += 1
        width = max(c.column or 1 for c in ws[header] if c.value is not None)
        table = []
        for row in ws.iter_rows(min_row=header, max_col=width):
            if all(c.value is None for c in row) and (row[0].row or 0) > header:
                break   # the table ends at its first empty line (a summary may follow)
            table.append(row)
        assert len(table) > 1, f"{where}: nothing under the header"
        for row in table:
            for cell in row:
                if isinstance(cell, MergedCell):
                    continue   # inside a merged cell: the first cell's borders are drawn
                assert cell.border.left.style and cell.border.top.style, f"{where} {cell.coordinate}: no border"
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                assert cell.font.name == FONT_NAME, f"{where} {cell.coordinate}: font {cell.font.name}"
                if isinstance(cell.value, str):
                    # Dates and numbers are cells of their kind, never their text.
                    assert not DATE_TEXT.match(cell.value), f"{where} {cell.coordinate}: {cell.value!r}"
                    assert not NUMBER_TEXT.match(cell.value), f"{where} {cell.coordinate}: {cell.value!r}"
                if isinstance(cell.value, datetime):
                    assert "DD.MM.YYYY" in cell.number_format, f"{where} {cell.coordinate}"


# --- a school with long names, codes, decisions, a training and a survey ---------------------------

# The longest names a school is likely to have: they wrap on paper, they are never cut.
LONG_NAME = "Константинопольская-Голенищева Александра-Виктория Святославовна"
LONG_PUPIL = "Константинопольская-Римская Александра-Виктория Владиславовна"
LONG_PARENT = "Константинопольский-Римский Владислав Ильич"
LONG_SCHOOL = ("Муниципальное бюджетное общеобразовательное учреждение «Средняя общеобразовательная школа № 17"
               " с углублённым изучением отдельных предметов»")
PUPILS = [LONG_PUPIL, *(f"Ученик{i} Артём Павлович" for i in range(1, 7))]
PUPIL_CODES = {name: f"LNG{i}-STU5-K{i:02d}" for i, name in enumerate(PUPILS, start=1)}


async def _school(h: Harness) -> None:
    rows = [list(r) for r in ROSTER_ROWS]
    # The long-named teacher is 6Б's class teacher: her name wraps on the archive checklist too.
    rows.append([LONG_NAME, "классный руководитель, учитель", "6Б", "+79000000009", ""])
    rows += [[name, "учитель", "", phone, ""] for _, name, phone in EXTRA_TEACHERS]
    rows += [[pupil, "ученик", "5А", "", ""] for pupil in PUPILS]
    rows.append([LONG_PARENT, "родитель", "", "+79000000010", "; ".join(PUPILS)])
    assert (await h.app.services.roster_import.import_roster(
        csv_bytes(rows, encoding="utf-8", delimiter=";"), "roster.csv", now=h.clock.now())).ok
    for user, phone in PHONES.items():
        await h.contact(user, phone, user)
    codes = [*CODE_ROWS, *([name, "5А", "ученик", code] for name, code in PUPIL_CODES.items())]
    outcome = await h.app.importers["codes"].run(codes_csv(codes), "codes.csv", ImportOptions())
    assert outcome.ok and outcome.applied, outcome.errors
    # Decisions: in the bot for most children, one on a paper form the IT officer entered.
    consent = h.app.services.consent
    version = await consent.current()
    for parent_name, children in (("Иванова Елена Викторовна", ["Иванов Миша Андреевич", "Иванова Маша Андреевна"]),
                                  (LONG_PARENT, PUPILS)):
        parent = await h.app.people.get(await person_id(h.app, parent_name))
        assert parent is not None
        ids = [await person_id(h.app, n) for n in children]
        for child_id in ids:
            child = await h.app.people.get(child_id)
            assert child is not None
            await consent.open_document(parent, child, "ru")
        await consent.decide(parent=parent, child_ids=ids, decision="given", version=version.number,
                             channel=Channel.TELEGRAM, user_id=parent.user_id(Channel.TELEGRAM) or 77,
                             update_id=None, callback_id=f"cb-{ids}")
    [officer] = await h.app.people.with_role("it_officer")
    await h.app.services.consent_paper.record_paper(
        staff=officer, child_id=await person_id(h.app, "Смирнов Коля Олегович"), decision="given",
        paper_date=date(2026, 11, 27))
    # Маша's mother withdraws: a destruction task, and its act.
    elena = await h.app.people.get(await person_id(h.app, "Иванова Елена Викторовна"))
    assert elena is not None
    await consent.decide(parent=elena, child_ids=[await person_id(h.app, "Иванова Маша Андреевна")],
                         decision="withdrawn", version=version.number, channel=Channel.TELEGRAM,
                         user_id=elena.user_id(Channel.TELEGRAM) or 77, update_id=None, callback_id="cb-withdraw")


async def _survey(h: Harness) -> bytes:
    """The staff's ICT survey (5 questions), answered by ten of its eleven, closed."""
    surveys = h.app.services.surveys
    spec = surveys.templates["staff_ict"]
    sid, _, _ = await surveys.create(None, spec, Audience("role", "staff"), 3, anonymous=False)
    staff = sorted({p.id: p for role in ("it_officer", "director", "teacher")
                    for p in await h.app.people.with_role(role)}.values(), key=lambda p: p.id)[:10]
    assert len(staff) == 10
    for i, person in enumerate(staff):
        for q, question in enumerate(spec.questions):
            if question.kind == "text":
                await surveys.typed(person, sid, q, "Мало времени")
            else:
                await surveys.choose(person, sid, q, i % len(question.choices))
    [officer] = await h.app.people.with_role("it_officer")
    survey = await surveys.close_now(officer, sid)
    made = await h.app.services.survey_results.xlsx(survey, h.app.catalog.bind("ru"))
    assert made is not None
    return made[0]


# The parents' readiness survey in a school of twelve classes, anonymous: ten classes of six answers
# (two tables of five classes on the breakdown), two of two (left out, and the sheet says so).
CLASSES = [f"{n}А" for n in range(1, 11)] + ["11А", "11Б"]


def _class_survey(t: Translator) -> bytes:
    spec = load_templates()["parents_readiness"]
    questions = list(spec.questions)
    answers = []
    for c, cls in enumerate(CLASSES):
        for p in range(6 if c < 10 else 2):
            answers += [Answer(q, (p + c) % len(question.choices), "parent", cls, f"{cls}-{p}")
                        for q, question in enumerate(questions)]
    by_class, hidden = group_results(questions, answers, "class_label", anonymous=True)
    by_role, _ = group_results(questions, answers, "role", anonymous=True)
    moment = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    survey = SurveyRow(id=7, title=spec.title, template="parents_readiness", spec={}, plan_item=spec.plan_item,
                       audience="parents", audience_value="all", anonymous=True, data_class="child_personal",
                       author_id=None, created_at=moment, deadline=moment, closed_at=moment)
    sheets = len({a.sheet for a in answers})
    return render_xlsx(Results(survey, 70, sheets, sheets, False, tally(questions, answers), by_class, by_role,
                               groups_hidden=hidden, classes_hidden=hidden), t)


@needs_office
async def test_the_files_the_bot_makes_print(harness: Harness, tmp_path: Path) -> None:
    h = harness
    await _school(h)
    t = h.app.catalog.bind("ru")
    session_id, _, _ = await h.app.services.training.create_session(None, SessionSpec(
        title="Работа в электронном журнале", audience="teachers", class_label=None,
        starts_at=h.clock.now() + timedelta(days=2), place="Кабинет информатики"))
    attendance = await h.app.services.training.attendance_xlsx(session_id, "ru")
    assert attendance is not None
    workbooks = {
        "report.xlsx": await h.app.services.report.render_report(t),
        "register.xlsx": (await h.app.services.consent_export.export("xlsx", t, None))[0],
        "sends.xlsx": (await h.app.services.send_log_export.export("xlsx", t, None))[0],
        "attendance.xlsx": attendance[0],
        "access.xlsx": (await h.app.services.access_log.export(t))[0],
        "survey.xlsx": await _survey(h),
        "classes.xlsx": _class_survey(t),
    }
    assert set(WORKBOOKS.values()) <= set(workbooks)
    for name, data in workbooks.items():
        _check_workbook(name, data)
    pdfs = _to_pdf(workbooks, tmp_path)

    # The code sheets, by both ways a school prints them: the class teacher's button in the bot
    # (pupils without Telegram) and `schoolbot print cards --all --parents` (the parents' own codes).
    calls = await h.press(CLASS_TEACHER, CodePrint().pack())
    [doc] = [c for c in calls if isinstance(c, SendDocument)]
    (tmp_path / "codes.pdf").write_bytes(doc.document.data)  # type: ignore[union-attr]
    args = argparse.Namespace(class_label="5А", everyone=True, parents=True, out=str(tmp_path / "parents.pdf"))
    assert await h.app.services.codes_print.cmd_print_cards(args, t) == 0
    # A school with its full official name: on two lines of each card, never cut.
    (tmp_path / "school.pdf").write_bytes(render_sheets([CardData(
        full_name=LONG_PUPIL, role_label="Обучающаяся", class_label="5А", code="AB12-CD34-EF56",
        qr_payload=qr_payload("AB12-CD34-EF56", None), where_to_enter="Введите код в боте школы",
        school_name=LONG_SCHOOL)], title="5А — пригласительные коды"))
    for name in ("codes.pdf", "parents.pdf", "school.pdf"):
        pdfs[name] = tmp_path / name
    # The PDFs the bot makes itself need no conversion: read them as they are.
    parent = await h.app.people.get(await person_id(h.app, LONG_PARENT))
    assert parent is not None
    [task] = await DestructionRepo.all_open(h.app.db.conn)
    act = await h.app.services.consent_withdrawal.act_pdf(task.id, t)
    evidence = await h.app.services.consent_evidence.pdf(Selection(parent_id=parent.id), t)
    assert act is not None and evidence is not None
    for name, data in {
        "analysis.pdf": (await h.app.services.analysis.pdf_bytes(t))[0],
        "archive.pdf": (await h.app.services.archive.checklist_pdf(t))[0],
        "consents.pdf": (await h.app.services.consent_export.export("pdf", t, None))[0],
        "form.pdf": (await h.app.services.consent_export.signing_form(
            parent, await h.app.people.get(await person_id(h.app, LONG_PUPIL)), t))[0],  # type: ignore[arg-type]
        "evidence.pdf": evidence[0],
        "act.pdf": act[0],
    }.items():
        (tmp_path / name).write_bytes(data)
        pdfs[name] = tmp_path / name
    assert {n for names in PDFS.values() for n in names} <= set(pdfs)
    if keep := os.environ.get("KEEP_PRINTS"):   # to look at the pages: KEEP_PRINTS=/some/folder
        for pdf in pdfs.values():
            shutil.copy(pdf, keep)

    # Every workbook: sans-serif type, at a readable size on every page.
    for name in workbooks:
        _sans_only(pdfs[name])
        scales = _scales(pdfs[name])
        assert len(scales) == _pages(pdfs[name]) and min(scales) >= MIN_SCALE, (name, scales)
    _expect(pdfs)


def _expect(pdfs: dict[str, Path]) -> None:
    text = _flat(pdfs["report.xlsx"])
    # Every sheet has content: the backups sheet says there were none instead of a lone header.
    assert "Копий пока не было" in text
    assert "Мероприятие" in text and "Итого" in text
    assert "31.10.2026" in text   # a deadline printed as a date (plan item 3: October 2026)
    assert _pages(pdfs["report.xlsx"]) == 8   # one sheet a page

    # The register: the decisions on one page, how each was made on another; whole names.
    text = _flat(pdfs["register.xlsx"])
    assert "Иванов Миша Андреевич" in text and "Смирнов Коля Олегович" in text
    assert _wrapped(LONG_PUPIL, text) and _wrapped(LONG_PARENT, text), text
    assert "внесено: Петров Пётр Петрович" in text and "27.11.2026" in text
    assert "Подтверждения" in text and "SHA-256" in text
    assert _pages(pdfs["register.xlsx"]) == 2

    text = _flat(pdfs["sends.xlsx"])
    assert "Журнал отправок сообщений" in text and _pages(pdfs["sends.xlsx"]) == 1
    # The subtitle wraps to its end instead of stopping at the page's edge ("… Только в").
    assert "персональных данных в журнале нет" in text, text

    text = _flat(pdfs["attendance.xlsx"])
    assert "Работа в электронном журнале" in text and "Присутствие" in text
    assert _wrapped(LONG_NAME, text), text
    assert _pages(pdfs["attendance.xlsx"]) == 1

    text = _flat(pdfs["access.xlsx"])
    assert "Журнал" in text and _pages(pdfs["access.xlsx"]) == 1

    # The survey: the totals on a page, each breakdown on one (it took 9 pages).
    text = _flat(pdfs["survey.xlsx"])
    assert "ИКТ-компетентность сотрудников" in text and "Ответов: 10 из 11" in text
    assert "Работали ли вы раньше с электронным журналом?" in text and "Да, регулярно" in text
    assert "6Б. Ответов: 1" in text and "учитель." in text and "Ответов: 6" in text and "40%" in text
    assert "Мало времени" not in text   # free text is counted, never quoted
    assert _pages(pdfs["survey.xlsx"]) == 3

    # Ten classes: two tables of five, each on a page of its own, the classes of two left out.
    text = _flat(pdfs["classes.xlsx"])
    assert "1А. Ответов: 6" in text and "10А. Ответов: 6" in text and "11Б" not in text
    assert text.count("Группы, где ответов меньше 5, не показаны") == 1   # on the classes' sheet only
    assert _pages(pdfs["classes.xlsx"]) == 4   # totals, two tables by class, by role

    # The code sheets: each child's name and code, long names broken after their hyphens and at
    # spaces, whole, never "…"; eight cards a page.
    text = _flat(pdfs["codes.pdf"])
    assert "…" not in text
    for name, code in {**PUPIL_CODES, "Иванов Миша Андреевич": CODES["Иванов Миша Андреевич"],
                       "Смирнов Коля Олегович": CODES["Смирнов Коля Олегович"]}.items():
        assert _wrapped(name, text) and code in text, (name, text)
    assert _pages(pdfs["codes.pdf"]) == 2   # nine pupils of 5А
    text = _flat(pdfs["parents.pdf"])
    assert CODES["Иванова Елена Викторовна"] in text and CODES["Смирнов Олег Павлович"] in text
    assert _wrapped("Иванова Елена Викторовна", text) and _pages(pdfs["parents.pdf"]) == 1
    text = _flat(pdfs["school.pdf"])
    assert "…" not in text and _wrapped(LONG_SCHOOL, text) and _wrapped(LONG_PUPIL, text), text

    assert "Анализ текущего состояния" in _text(pdfs["analysis.pdf"]) and _pages(pdfs["analysis.pdf"]) == 2
    # The PDF register: a class a page group, every name whole; the form to sign names the child;
    # the evidence of a parent's decisions; the act of destruction names the child withdrawn.
    text = _flat(pdfs["consents.pdf"])
    assert _wrapped(LONG_PUPIL, text) and "…" not in text and "История решений" in text, text
    assert _pages(pdfs["consents.pdf"]) == 3   # 5А (nine children: two pages), 6Б
    text = _flat(pdfs["form.pdf"])
    assert "СОГЛАСИЕ родителя" in text and _wrapped(LONG_PARENT, text), text
    assert _wrapped("Константинопольской-Римской Александры-Виктории Владиславовны", text), text   # declined
    text = _flat(pdfs["evidence.pdf"])
    assert "Доказательства согласия" in text and _wrapped(LONG_PUPIL, text), text
    # Flush left where a hash or a quoted text is: justified, their words stood far apart.
    layout = _text(pdfs["evidence.pdf"])
    assert "Квитанции" in layout and "свидетельство о рождении или паспорт" in layout
    assert not re.search(r"Квитанции {3,}|\(вид: {3,}свидетельство", layout), layout
    text = _flat(pdfs["act.pdf"])
    assert "об уничтожении персональных данных" in text and _wrapped("Иванова Маша Андреевна", text), text
    assert _pages(pdfs["act.pdf"]) == 1

    text = _flat(pdfs["archive.pdf"])
    assert "Сдача классных журналов в архив" in text and _pages(pdfs["archive.pdf"]) == 1
    # The class teacher's long name wraps inside its row: every word of it above the line to sign.
    assert _wrapped(LONG_NAME, text), text
    words = _words(pdfs["archive.pdf"])
    sign = min(top for word, top, _ in words if word.startswith("Ответственный"))
    parts = set(re.split(r"[\s-]+", LONG_NAME))
    bottoms = [bottom for word, _, bottom in words if word.strip("-") in parts]
    assert bottoms and max(bottoms) < sign, (bottoms, sign)

