"""The XLSX report for plan item 18: plan status, consent by class, codes by class, training
attendance and the backup log, one sheet each, laid out for printing (bold frozen header row,
column widths, landscape A4 fitted to the page width, header rows repeated on every page).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.calendar import deadline_words
from bot.services import analysis
from bot.services import status as status_service
from bot.services.access_log import AccessKind, AccessLog
from bot.services.exports import file_size, write_private, xlsx_append
from bot.services.repos import OpsRecords
from bot.services.tasks import Task
from bot.services.xlsx import fit_landscape_a4, fit_rows, new_workbook, style_table

if TYPE_CHECKING:
    # openpyxl is imported where a report is written, not when the bot starts (memory).
    from openpyxl.worksheet.worksheet import Worksheet

    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.i18n import Catalog
    from bot.services.analysis import AnalysisService
    from bot.services.backup import BackupService
    from bot.services.consent_export import ConsentExport
    from bot.services.status import StatusService
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Row = list[Any]
# Deadlines that fall on a day: the report's "Срок" holds that day as a date cell.
DATED_KINDS = frozenset({"date", "month", "each_quarter", "yearly_month"})


@dataclass
class SheetData:
    title: str
    headers: list[str]
    rows: list[Row]
    widths: list[int]
    wrap: set[int]  # column indexes (0-based) whose text wraps


@dataclass
class ReportData:
    title: str
    sheets: list[SheetData]


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """A real date cell in the school's wall-clock time (a spreadsheet cell holds no time zone)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _write_sheet(ws: Worksheet, sheet: SheetData, title: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.title = sheet.title[:31]
    xlsx_append(ws, sheet.headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE5F0")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in sheet.rows:
        xlsx_append(ws, row)
    for i, width in enumerate(sheet.widths):
        ws.column_dimensions[get_column_letter(i + 1)].width = width
    for row_cells in ws.iter_rows(min_row=2):
        for cell in row_cells:
            cell.alignment = Alignment(wrap_text=(int(cell.column or 1) - 1) in sheet.wrap, vertical="top")
    style_table(ws, header_row=1, columns=len(sheet.headers))
    if len(sheet.rows) == 1 and len(sheet.rows[0]) == 1:
        # A sheet that only says why it is empty says it across the table, not down its first column.
        ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(sheet.headers))
        ws["A2"].alignment = Alignment(wrap_text=True, vertical="top")
        for merged in ws.merged_cells.ranges:
            merged.format()   # the hidden cells carry the borders of the edges (Excel draws those)
    ws.freeze_panes = "A2"
    fit_landscape_a4(ws, title_rows="1:1")
    fit_rows(ws)
    if ws.oddHeader is not None:
        ws.oddHeader.center.text = title
    if ws.oddFooter is not None:
        ws.oddFooter.right.text = "&P / &N"


def build_xlsx(report: ReportData) -> bytes:
    """Blocking: run in a thread."""

    wb = new_workbook()
    first = True
    for sheet in report.sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        _write_sheet(ws, sheet, report.title)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@dataclass(kw_only=True, eq=False)
class ReportService:
    """The IT officer's XLSX report and the printable consent register renderer."""

    access_log: AccessLog
    analysis: AnalysisService
    backup: BackupService
    catalog: Catalog
    clock: Clock
    consent_export: ConsentExport
    db: UnitOfWork
    ops_repo: OpsRecords
    school: SchoolConfig
    status: StatusService
    tasks: TasksService


    async def _plan_rows(self, t: Any, today: date) -> list[Row] | None:
        ops = self.ops_repo
        if not await ops.table_exists("plan_items") or not await ops.table_exists("task_proofs"):
            return None
        snap = await self.tasks.snapshot()
        rows: list[Row] = []
        for item in snap.items:
            occs = snap.occurrences(item)
            if not occs:
                rows.append([item.number, item.text, deadline_words(item.deadline, None, t.lang),
                             item.responsible_text, t("status.report.no_deadline")])
                continue
            for occ in occs:
                state = snap.summary_state(Task(item, occ), today)
                # A real date where the deadline is one (sortable, printed dd.mm.yyyy); words otherwise.
                dated = occ.due is not None and item.deadline.kind in DATED_KINDS
                due: date | str = occ.due if dated and occ.due is not None else deadline_words(
                    item.deadline, occ, t.lang)
                rows.append([item.number, item.text, due, item.responsible_text,
                             t(f"status.report.{state}")])
        return rows

    async def collect(self, t: Any) -> ReportData:
        now = self.clock.now()
        today = now.astimezone(self.school.tz).date()
        data = await self.status.collect(None)
        na = [[t("status.report.not_available")]]
        R = "status.report."

        # Plan item 18's analysis comes first: the sheet the report is for.
        found = await status_service._section("report-analysis", lambda: self.analysis.collect(t))
        first = SheetData(
            t("analysis.sheet.title"),
            [t("analysis.sheet.section"), t("analysis.sheet.item"), t("analysis.sheet.value")],
            analysis.rows(found, t) if found is not None else na,
            # 138 characters: landscape A4 at full size (168 printed at 82 %).
            [24, 66, 48],
            {0, 1, 2},
        )

        plan_rows = await status_service._section("report-plan", lambda: self._plan_rows(t, today))
        plan = SheetData(
            t(R + "sheet_plan"),
            [t(R + "number"), t(R + "item"), t(R + "deadline"), t(R + "responsible"), t(R + "state")],
            plan_rows if plan_rows is not None else na,
            [8, 70, 28, 30, 14],
            {1, 2, 3},
        )

        consent_rows: list[Row]
        if data.consent is None:
            consent_rows = na
        else:
            consent_rows = [[cls, r.total, r.done, r.percent] for cls, r in data.consent.per_class.items()]
            c = data.consent.total
            consent_rows.append([t(R + "total"), c.total, c.done, c.percent])
        consent = SheetData(
            t(R + "sheet_consent"),
            [t(R + "class"), t(R + "children"), t(R + "covered"), t(R + "percent")],
            consent_rows, [14, 12, 14, 8], set(),
        )

        codes_rows: list[Row]
        if data.codes is None:
            codes_rows = na
        else:
            codes_rows = [
                [
                    t(f"status.code_role.{r.role}"), r.class_label or "—",
                    r.imported, r.delivered, r.activated, r.withheld,
                ]
                for r in data.codes
            ]
            codes_rows.append([t(R + "total"), "", sum(r.imported for r in data.codes),
                               sum(r.delivered for r in data.codes), sum(r.activated for r in data.codes),
                               sum(r.withheld for r in data.codes)])
        codes = SheetData(
            t(R + "sheet_codes"),
            [t(R + "role"), t(R + "class"), t(R + "imported"), t(R + "delivered"), t(R + "activated"),
             t(R + "withheld")],
            codes_rows, [16, 10, 12, 14, 14, 22], {5},
        )

        training = await status_service._section("report-training", lambda: self.status.training_rows())
        tz = self.school.tz
        training_sheet = SheetData(
            t(R + "sheet_training"),
            [t(R + "session"), t(R + "starts"), t(R + "invited"), t(R + "rsvp_yes"), t(R + "attended")],
            [[s.title, _local(s.starts_at, tz), s.invited, s.rsvp_yes, s.attended]
             for s in training] if training is not None else na,
            [50, 18, 12, 10, 16], {0},
        )

        backup_rows: list[Row] = []
        for j in await self.ops_repo.journal_backups():
            backup_rows.append([t(R + "journal"), _local(j.logged_at, tz), j.quarter,
                                j.medium_label, j.logged_by_name or "", "📷" if j.photo_file_id else ""])
        for b in reversed(await self.ops_repo.db_backup_log(limit=40)):
            outcome = t(R + "ok") if b.ok else f"{t(R + 'failed')}: {b.detail}"
            backup_rows.append([t(R + "db"), _local(b.taken_at, tz), "", b.path.rsplit("/", 1)[-1], "", outcome])
        backups = SheetData(
            t(R + "sheet_backups"),
            [t(R + "kind"), t(R + "when"), t(R + "quarter"), t(R + "medium"), t(R + "who"), t(R + "result")],
            # An empty log still says so on paper, rather than print a header alone.
            backup_rows or [[t(R + "no_backups")]], [22, 18, 10, 40, 28, 16], {0, 3, 5},
        )
        # People per messenger (#17): who the bot reaches where, for the policy's sake.
        messengers = SheetData(
            t(R + "sheet_messengers"),
            [t(R + "reach"), t(R + "people")],
            [[t(R + "reach_total"), data.people_total],
             [t(R + "reach_telegram_only"), data.people_telegram_only],
             [t(R + "reach_max_only"), data.people_max_only],
             [t(R + "reach_both"), data.people_both],
             [t(R + "reach_none"), data.people_unlinked]],
            [40, 12], {0},
        )
        title = t("status.report_caption", when=now.astimezone(tz).strftime("%d.%m.%Y"))
        return ReportData(title, [first, plan, consent, codes, training_sheet, backups, messengers])

    def report_filename(self) -> str:
        return f"report-{self.clock.now().astimezone(self.school.tz).strftime('%Y-%m-%d')}.xlsx"

    async def render_report(self, t: Any) -> bytes:
        await self.access_log.record(AccessKind.REPORT, self.report_filename())
        return await asyncio.to_thread(build_xlsx, await self.collect(t))

    # --- CLI and installation -------------------------------------------------------------------------
    async def cmd_export_report(self, args: argparse.Namespace, t: Any) -> int:
        data = await self.render_report(t)
        out = Path(args.out) if args.out else Path(self.report_filename())
        await asyncio.to_thread(write_private, out, data)
        print(t("cli.file_written", path=out, size=file_size(t, len(data))))
        return 0

    async def cmd_backup(self, args: argparse.Namespace, t: Any) -> int:

        result = await self.backup.take_backup()
        if not result.ok:
            print(t("cli.backup_failed", detail=result.detail), file=sys.stderr)
            return 1
        print(t("cli.backup_done", path=result.path, size=file_size(t, result.size_bytes)))
        for path in result.removed:
            print(t("cli.backup_rotated", name=path.name))
        return 0

    async def consent_register(self, args: dict[str, Any]) -> tuple[bytes, str]:

        t = self.catalog.bind(str(args.get("lang") or "ru"))
        data, name, _count = await self.consent_export.export("pdf", t, None)
        return data, name
