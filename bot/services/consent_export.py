"""Consent registers: CSV, XLSX and a printable PDF (one class per page group, Cyrillic via
DejaVu), plus the `schoolbot consent publish` and `schoolbot export consents` commands."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.domain.ledger import Version
from bot.domain.people import Person
from bot.i18n import Translator
from bot.paths import CONTENT_DIR
from bot.russian import Named
from bot.services import consent as svc
from bot.services.access_log import AccessKind, AccessLog
from bot.services.consent_registers import RegisterRow, read_file_text
from bot.services.exports import csv_row, write_private, xlsx_append
from bot.services.wrapping import wrap_text
from bot.services.xlsx import FONT_NAME, fit_landscape_a4, fit_rows, new_workbook, style_table, wrap_across

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.services.consent import ConsentService
    from bot.services.consent_registers import ConsentRegisters

Format = Literal["csv", "xlsx", "pdf"]
FONT_DIR = CONTENT_DIR / "fonts"
COLUMNS = (
    "class", "child", "state", "by", "recorded_by", "when", "paper_date", "channel", "version", "receipt", "original",
    "account", "sha256", "conflict",
)
# The XLSX register prints on landscape A4 at 90 % or more: one sheet with what a school reads on
# paper (the decisions), one with how each was made (the receipt, the account that pressed, the
# SHA-256 of the text, who entered a paper form). All fourteen columns on one sheet printed at 48 %
# (60 % once the default font was right): the hash alone is 64 characters. Widths in characters.
XLSX_MAIN = ("class", "child", "state", "by", "when", "paper_date", "channel", "version", "receipt", "original",
             "conflict")
XLSX_MAIN_WIDTHS = (8, 25, 12, 26, 16, 11, 9, 9, 12.5, 11.5, 15)
XLSX_PROOF = ("class", "child", "receipt", "version", "recorded_by", "account", "sha256")
XLSX_PROOF_WIDTHS = (8, 25, 12.5, 9, 20, 14, 68)
# The PDF register: one line of the table per child, with the history of decisions in the last
# column; cells wrap so that no name is ever cut. Widths in mm (277 = A4 landscape minus margins).
PDF_COLUMNS = ("class", "child", "state", "by", "when", "paper_date", "channel", "original", "receipt", "history")
PDF_WIDTHS = (12, 40, 22, 38, 24, 19, 17, 19, 36, 50)


def _local(moment: datetime | None, tz: tzinfo) -> datetime | None:
    """Aware UTC -> the school's wall-clock time, naive (what a spreadsheet cell can hold)."""
    return moment.astimezone(tz).replace(tzinfo=None) if moment is not None else None


def _values(row: RegisterRow, t: Translator, tz: tzinfo) -> list[object]:
    """The register row with real dates and numbers (for XLSX)."""
    return [
        row.class_label,
        row.child,
        t(f"consent.state.{row.state}"),
        row.by,
        row.recorded_by,
        _local(row.when, tz),
        row.paper_date,
        t(f"consent.channel.{row.channel}") if row.channel else "",
        row.version,
        row.receipt_id,
        row.original,
        row.account,
        row.sha256,
        t("consent.export.conflict_yes") if row.conflict else "",
    ]


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return "" if value is None else str(value)


def _cells(row: RegisterRow, t: Translator, tz: tzinfo) -> list[str]:
    return [_text(v) for v in _values(row, t, tz)]


def header(t: Translator) -> list[str]:
    return [t(f"consent.export.{c}") for c in COLUMNS]


def history_lines(row: RegisterRow, t: Translator, tz: tzinfo) -> str:
    return "\n".join(
        t("consent.export.history_line", when=_text(_local(h.created_at, tz)),
          decision=t(f"consent.state.{h.decision}"), channel=t(f"consent.channel.{h.channel}"), version=h.version)
        for h in row.history
    )


def to_csv(rows: Sequence[RegisterRow], t: Translator, *, tz: tzinfo = UTC) -> bytes:
    # UTF-8 with BOM and ';': what Russian Excel opens without an import dialog.
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_row(header(t)))
    writer.writerows(csv_row(_cells(r, t, tz)) for r in rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(
    rows: Sequence[RegisterRow], t: Translator, *, title: str, subtitle: str, sheet: str, tz: tzinfo = UTC,
    proof_sheet: str = "",
) -> bytes:
    """The register (a decision a line) and, on a second sheet, how each decision was made. A paper
    decision names who entered it under the parent's name on the first sheet."""
    wb = new_workbook()
    ws = wb.active
    assert ws is not None
    lines = []
    for row in rows:
        values = dict(zip(COLUMNS, _values(row, t, tz), strict=True))
        if row.recorded_by:
            values["by"] = "\n".join(x for x in (row.by, t("consent.export.entered_by", name=row.recorded_by)) if x)
        lines.append(values)
    _register_sheet(ws, sheet, [title, subtitle], XLSX_MAIN, XLSX_MAIN_WIDTHS, lines, t)
    proof = wb.create_sheet()
    _register_sheet(proof, proof_sheet or t("consent.export.sheet_proof"), [t("consent.export.proof_title"), subtitle],
                    XLSX_PROOF, XLSX_PROOF_WIDTHS, lines, t)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _register_sheet(
    ws: Worksheet, name: str, heading: list[str], columns: Sequence[str], widths: Sequence[float],
    lines: list[dict[str, object]], t: Translator,
) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.title = name[:31]
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for text in heading:
        xlsx_append(ws, [text])
    ws["A1"].font = Font(name=FONT_NAME, bold=True, size=13)
    wrap_across(ws, row=2, columns=len(columns))
    xlsx_append(ws, [t(f"consent.export.{c}") for c in columns])
    for cell in ws[3]:
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for values in lines:
        xlsx_append(ws, [values[c] for c in columns])
    for row_cells in ws.iter_rows(min_row=4):
        for cell in row_cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    style_table(ws, header_row=3, columns=len(columns))
    ws.freeze_panes = "C4"
    ws.auto_filter.ref = f"A3:{get_column_letter(len(columns))}{ws.max_row}"
    fit_landscape_a4(ws, title_rows="3:3")
    fit_rows(ws, first_row=3)
    if ws.oddFooter is not None:
        ws.oddFooter.center.text = "&A · &P / &N"


def to_pdf(rows: Sequence[RegisterRow], t: Translator, *, title: str, subtitle: str, tz: tzinfo = UTC) -> bytes:
    """Each class on its own pages; the table's heading repeats on every page; cells wrap."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.set_margins(10, 10, 10)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    groups: dict[str, list[RegisterRow]] = {}
    for row in rows:
        groups.setdefault(row.class_label, []).append(row)
    heads = [t(f"consent.export.{c}") for c in PDF_COLUMNS]
    footer = t("consent.export.signature")

    def wrap(text: str, width: float) -> str:
        """The cell's lines broken at spaces and after hyphens, as the code cards break names: fpdf
        alone cut a double surname inside its second half ("Константинопольская-Рим|ская")."""
        pdf.set_font("DejaVu", "", 7.5)
        room = width - 2 * pdf.c_margin - 0.5
        return "\n".join(line for part in text.split("\n")
                         for line in wrap_text(part, room, lambda s: float(pdf.get_string_width(s)), 50) or [""])

    for cls, members in (groups or {"": []}).items():
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 13)
        pdf.multi_cell(0, 7, f"{title}{' — ' + cls if cls else ''}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4.5, subtitle, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 7.5)
        with pdf.table(
            col_widths=PDF_WIDTHS, width=sum(PDF_WIDTHS), line_height=3.8, repeat_headings=1,
            headings_style=FontFace(emphasis="BOLD", fill_color=(221, 221, 221)), text_align="LEFT",
        ) as table:
            table.row(heads)
            for r in members:
                cells = dict(zip(COLUMNS, _cells(r, t, tz), strict=True))
                who = r.by or (t("consent.export.entered_by", name=r.recorded_by) if r.recorded_by else "")
                texts = [
                    cells["class"], cells["child"], cells["state"], who, cells["when"], cells["paper_date"],
                    cells["channel"], cells["original"],
                    # The receipt names the account that pressed and the hash of the text it was on.
                    "\n".join(x for x in (cells["receipt"], cells["account"], cells["sha256"]) if x),
                    history_lines(r, t, tz),
                ]
                table.row([wrap(text, width) for text, width in zip(texts, PDF_WIDTHS, strict=True)])
        pdf.ln(4)
        pdf.set_font("DejaVu", "", 8.5)
        pdf.multi_cell(0, 5, footer, new_x="LMARGIN", new_y="NEXT")
    total = pdf.pages_count
    pdf.set_auto_page_break(auto=False)
    for number in range(1, total + 1):
        pdf.page = number
        pdf.set_y(-12)
        pdf.set_font("DejaVu", "", 8)
        pdf.cell(0, 5, t("consent.export.page", page=number, pages=total), align="C")
    return bytes(pdf.output())


# --- the consent form to sign ----------------------------------------------------------------------


def form_pdf(text: str, *, title: str, footer: str, acknowledgement: Sequence[str] = ()) -> bytes:
    """The consent document as a portrait A4 form: the heading lines bold and centred, the body
    justified, blank lines for what the bot does not hold, room to sign at the end.

    Since 1 September 2025 a consent is a document of its own (152-FZ art. 9 part 4 as amended):
    nothing else is confirmed inside it. The acknowledgement of having read the law (title, text,
    signature lines) follows on a page of its own, signed separately, outside the hashed text."""
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.alias_nb_pages()
    pdf.add_page()
    paragraphs = text.strip().split("\n\n")
    heading, body = paragraphs[0], paragraphs[1:]
    pdf.set_font("DejaVu", "B", 12)
    for line in heading.splitlines():
        pdf.multi_cell(0, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 9.5)
    for para in body:
        for line in para.splitlines():
            # Lines with blanks to fill in stay left-aligned: justified, the blanks would stretch apart.
            align = "L" if "___" in line else "J"
            pdf.multi_cell(0, 5, line, align=align, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.2)
    pdf.set_auto_page_break(auto=False)
    pdf.set_y(-14)
    pdf.set_font("DejaVu", "", 7.5)
    pdf.cell(0, 4, footer, align="C")
    if acknowledgement:
        pdf.set_auto_page_break(auto=True, margin=18)
        pdf.add_page()
        ack_title, *ack_body = acknowledgement
        pdf.set_font("DejaVu", "B", 12)
        for line in ack_title.splitlines():
            pdf.multi_cell(0, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("DejaVu", "", 9.5)
        for para in ack_body:
            for line in para.splitlines():
                pdf.multi_cell(0, 5, line, align="L" if "___" in line else "J", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return bytes(pdf.output())


@dataclass(kw_only=True, eq=False)
class ConsentExport:
    """Consent exports and printable forms; the `consent` CLI commands."""

    access_log: AccessLog
    clock: Clock
    consent: ConsentService
    consent_registers: ConsentRegisters
    school: SchoolConfig


    async def export(
        self, fmt: Format, t: Translator, class_label: str | None = None
    ) -> tuple[bytes, str, int]:
        """(file bytes, file name, number of rows)."""
        await self.access_log.record(AccessKind.REGISTER_EXPORT, class_label or "*")
        version, rows = await self.consent_registers.register(class_label)
        now = self.clock.now()
        title, subtitle = self.titles(version, t, now)
        suffix = f"-{class_label}" if class_label else ""
        name = f"consents{suffix}-{now.astimezone(self.school.tz):%Y%m%d}.{fmt}"
        tz = self.school.tz
        if fmt == "csv":
            return to_csv(rows, t, tz=tz), name, len(rows)
        if fmt == "xlsx":
            # A sheet title says what it is and for whom, within Excel's 31 characters.
            sheet = t("consent.export.sheet_class", cls=class_label) if class_label else t("consent.export.sheet")
            proof = (t("consent.export.sheet_proof_class", cls=class_label) if class_label
                     else t("consent.export.sheet_proof"))
            data = await asyncio.to_thread(to_xlsx, rows, t, title=title, subtitle=subtitle, sheet=sheet, tz=tz,
                                           proof_sheet=proof)
            return data, name, len(rows)
        return await asyncio.to_thread(to_pdf, rows, t, title=title, subtitle=subtitle, tz=tz), name, len(rows)

    def titles(self, version: Version, t: Translator, now: datetime) -> tuple[str, str]:
        subtitle = t(
            "consent.export.subtitle", school=self.school.school.name, version=version.number, sha=version.sha256,
            when=now.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M"),
        )
        return t("consent.export.title"), subtitle

    # --- CLI ----------------------------------------------------------------------------------------
    async def cmd_publish(self, args: argparse.Namespace, t: Translator) -> int:
        try:
            text = read_file_text(Path(args.file))
            text_en = read_file_text(Path(args.en)) if args.en else None
        except OSError as exc:
            print(t("cli.cannot_read", path=exc.filename, reason=t.os_error(exc)), file=sys.stderr)
            return 2
        except UnicodeDecodeError:
            print(t("cli.not_utf8", path=args.file), file=sys.stderr)
            return 2
        if not text.strip():
            print(t("cli.empty_document", path=args.file), file=sys.stderr)
            return 2
        await self.consent.current()  # the shipped document is version 1 if nothing was published yet
        version = await self.consent.publish(text, text_en=text_en)
        print(t("consent.cli.published", version=version.number, sha=version.sha256))
        return 0

    async def cmd_export(self, args: argparse.Namespace, t: Translator) -> int:
        data, name, count = await self.export(args.format, t, args.class_label)
        out = Path(args.out) if args.out else Path(name)
        await asyncio.to_thread(write_private, out, data)
        print(t.plural("consent.cli.exported", count, path=out))
        return 0

    async def signing_form(self, parent: Person, child: Person, t: Translator) -> tuple[bytes, str]:
        """The consent form pre-filled for this parent and child, as a PDF to print and sign. It is the
        Russian text (the one that is signed), and opening it counts as opening the document."""
        version, text = await self.consent.open_document(parent, child, "ru")
        now = self.clock.now().astimezone(self.school.tz)
        footer = t(
            "consent.form_footer", version=version.number, sha=svc.sha256_text(text)[:16], when=f"{now:%d.%m.%Y}"
        )
        title = t("consent.form_title", child=Named(child.full_name))
        # Signed on paper beside the Russian form, so in Russian too.
        ru, me = self.consent.catalog.bind("ru"), Named(parent.full_name)
        ack = (
            ru("consent.form.ack_title"), ru("consent.form.ack_body", parent=me), ru("consent.form.ack_sign", parent=me)
        )
        data = await asyncio.to_thread(form_pdf, text, title=title, footer=footer, acknowledgement=ack)
        return data, f"soglasie-{child.id}-v{version.number}.pdf"
