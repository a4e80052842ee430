"""Plan item 19, each May: every class teacher confirms per class that the journal was printed,
laced, sealed, signed and handed to the archive (who, when); the IT officer sees the classes still
missing and prints the checklist and the consent register for the archive folder.

The database is the truth: the steps are rows of `archive_checks`, the May nudges rows of
`archive_nudges` recorded in the same transaction as their outbox message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.domain.year import ARCHIVE_STEPS, ArchiveCheck
from bot.i18n import Translator
from bot.paths import CONTENT_DIR
from bot.services.access_log import AccessKind, AccessLog
from bot.services.repos import People, YearRecords
from bot.services.wrapping import wrap_text

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.services.ports import Buttons
    from bot.unit_of_work import UnitOfWork

FONT_DIR = CONTENT_DIR / "fonts"
# The button of the nudge: handlers.archive.ArchiveView(action="open"), packed (a test checks it).
YEAR_END_DAY = (5, 20)  # as the item-19 reminder of the operations sweep: May 20 or the next working day


class Marked(Enum):
    DONE = "done"
    ALREADY = "already"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class ClassChecklist:
    class_label: str
    teachers: list[str]
    steps: dict[str, ArchiveCheck | None]

    @property
    def complete(self) -> bool:
        return all(self.steps.values())

    @property
    def missing(self) -> list[str]:
        return [step for step, check in self.steps.items() if check is None]


def may_mark(person: Person, class_label: str) -> bool:
    """The class's own class teacher, or the IT officer (who may record it for anyone)."""
    return person.is_admin or (person.has_role("class_teacher") and person.class_label == class_label)


def own_classes(person: Person, all_classes: list[ClassChecklist]) -> list[ClassChecklist]:
    """The classes a person confirms: their own class; every class for the IT officer."""
    return [c for c in all_classes if may_mark(person, c.class_label)]


# --- the May nudge -------------------------------------------------------------------------------


def _class_order(label: str) -> tuple[int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (int(digits) if digits else 0, label)


def _pdf(rows: list[tuple[str, list[str]]], t: Translator, title: str, subtitle: str) -> bytes:
    from fpdf import FPDF  # heavy; imported where the PDF is made, as the consent register does
    from fpdf.enums import MethodReturnValue

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 13)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(0, 4.5, subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    heads = [t("archive.pdf.class"), t("archive.pdf.teacher")] + [t(f"archive.step.{s}") for s in ARCHIVE_STEPS]
    widths = [18, 49] + [42] * len(ARCHIVE_STEPS)

    def heading() -> None:
        pdf.set_font("DejaVu", "B", 8)
        pdf.set_fill_color(221, 221, 221)
        for head, width in zip(heads, widths, strict=True):
            pdf.cell(width, 7, head, border=1, fill=True)
        pdf.ln()
        pdf.set_font("DejaVu", "", 7.5)

    heading()
    line = 5.0

    def wrapped(text: str, width: float) -> str:
        """Broken at spaces and after hyphens as the code cards break names (fpdf would cut a double
        surname inside its second half: "Голенище|ва")."""
        lines = wrap_text(text, width - 2 * pdf.c_margin, lambda s: float(pdf.get_string_width(s)), 20)
        return "\n".join(lines)

    def lines_of(text: str, width: float) -> int:
        found = pdf.multi_cell(width, line, text, dry_run=True, output=MethodReturnValue.LINES)
        return len(found) if isinstance(found, list) else 1

    for cls, cells in rows:
        texts = [wrapped(text, width) for text, width in zip([cls, *cells], widths, strict=True)]
        # Every cell of a row as tall as its tallest (a long name wraps; it used to run into the
        # next row, and a short row left a gap under it); two lines at least, room to write by hand.
        lines = max(lines_of(text, width) for text, width in zip(texts, widths, strict=True))
        height = max(2, lines) * line
        if pdf.get_y() + height > pdf.h - 20:
            pdf.add_page()
            heading()
        y, x = pdf.get_y(), pdf.l_margin
        for text, width in zip(texts, widths, strict=True):
            pdf.rect(x, y, width, height)
            pdf.set_xy(x, y)
            pdf.multi_cell(width, line, text, new_x="RIGHT", new_y="TOP")
            x += width
        pdf.set_xy(pdf.l_margin, y + height)
    pdf.ln(6)
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(0, 5, t("archive.pdf.signature"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@dataclass(kw_only=True, eq=False)
class ArchiveService:
    """Plan item 19: the class teachers' journal-archive checklist and its May nudges."""

    access_log: AccessLog
    buttons: Buttons
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    outbox: Outbox
    people: People
    school: SchoolConfig
    year_repo: YearRecords


    def archive_year(self) -> int:
        """The school year whose journals are archived this May (2026 for May 2027)."""
        return self.school.school_year.year

    async def checklist(self) -> list[ClassChecklist]:
        year = self.archive_year()
        checks = await self.year_repo.archive_checks(year)
        by_class: dict[str, dict[str, ArchiveCheck]] = {}
        for check in checks:
            by_class.setdefault(check.class_label, {})[check.step] = check
        teachers: dict[str, list[str]] = {}
        for person in await self.people.with_role("class_teacher"):
            if person.class_label:
                teachers.setdefault(person.class_label, []).append(person.full_name)
        classes = sorted(set(await self.people.classes()) | set(by_class) | set(teachers), key=_class_order)
        return [
            ClassChecklist(
                class_label=cls,
                teachers=teachers.get(cls, []),
                steps={step: by_class.get(cls, {}).get(step) for step in ARCHIVE_STEPS},
            )
            for cls in classes
        ]

    async def mark(self, person: Person, class_label: str, step: str) -> Marked:
        """Record one step of one class; checked against the caller's rights on the server."""
        if step not in ARCHIVE_STEPS or not may_mark(person, class_label):
            return Marked.FORBIDDEN
        if class_label not in {c.class_label for c in await self.checklist()}:
            return Marked.FORBIDDEN
        async with self.db.transaction() as conn:
            done = await self.year_repo.mark_archive_step(
                conn, school_year=self.archive_year(), class_label=class_label, step=step, person_id=person.id,
                now=self.clock.now(),
            )
        return Marked.DONE if done else Marked.ALREADY

    def nudge_window(self) -> tuple[date, date]:
        """From the week after the item-19 reminder (which opens the month) to the end of May."""
        month, day = YEAR_END_DAY
        first = date(self.archive_year() + 1, month, day)
        start = first + timedelta(days=7 - first.weekday())  # the Monday after
        return start, date(first.year, 5, 31)

    async def run_nudges(self, now: datetime) -> int:
        """At most one nudge a week to each class teacher whose class's checklist is incomplete."""
        if self.school.calendar.send_window(now) != now:
            return 0
        today = now.astimezone(self.school.tz).date()
        start, end = self.nudge_window()
        if not start <= today <= end:
            return 0
        year = self.archive_year()
        iso = today.isocalendar()
        week = f"{iso[0]}-W{iso[1]:02d}"
        incomplete = {c.class_label: c for c in await self.checklist() if not c.complete}
        teachers = [
            p for p in await self.people.with_role("class_teacher")
            if p.reachable and p.class_label in incomplete
        ]
        sent = 0
        async with self.db.transaction() as conn:
            for person in teachers:
                assert person.class_label is not None
                if await self.year_repo.archive_nudged(conn, year, person.id, week):
                    continue
                t = self.catalog.translator_for(person)
                missing = ", ".join(t(f"archive.step.{s}") for s in incomplete[person.class_label].missing)
                text = t("archive.nudge", cls=person.class_label, missing=missing)
                open_markup = self.buttons.archive_open(t("archive.open"))
                added = await self.outbox.notify(
                    conn, person, data_class=DataClass.PUBLIC, key=f"archive:{year}:{person.id}:{week}",
                    kind="text", payload=Payload(text=text, reply_markup=open_markup), now=now,
                )
                await self.year_repo.record_archive_nudge(conn, year, person.id, week, now)
                sent += added
        return sent

    # --- the printed checklist -------------------------------------------------------------------------
    def _when(self, check: ArchiveCheck | None) -> str:
        if check is None:
            return "—"
        return f"{check.done_at.astimezone(self.school.tz):%d.%m.%Y}\n{check.person_name}"

    async def checklist_pdf(self, t: Translator) -> tuple[bytes, str]:
        classes = await self.checklist()
        year = self.archive_year()
        await self.access_log.record(AccessKind.ARCHIVE_CHECKLIST, year)
        rows = [(c.class_label, [", ".join(c.teachers) or "—", *[self._when(c.steps[s]) for s in ARCHIVE_STEPS]])
                for c in classes]
        now = self.clock.now().astimezone(self.school.tz)
        title = t("archive.pdf.title", label=f"{year}/{year + 1}")
        subtitle = t("archive.pdf.subtitle", school=self.school.school.name, when=f"{now:%d.%m.%Y %H:%M}")
        data = await asyncio.to_thread(_pdf, rows, t, title, subtitle)
        return data, f"archive-checklist-{year}.pdf"
