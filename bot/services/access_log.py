"""Who looked (#24 item 5): every opening or export of personal data leaves a row in the access
log, and the IT officer exports the log for an inspector (`schoolbot export access`, or /admin).

Who is asking comes from where the request came in, not from each caller: the bot's middleware
sets the accessor for the length of one update (the person and the messenger), the command line
sets "cli" for the length of one command, and anything else is the bot's own schedule ("system").
The services that build a register, a sheet, a report or a backup call `record` where the file
is made, so every path to it (bot, CLI, a scheduled send) is logged by the same line, and a new
path cannot forget to. The log names people by id only.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import io
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.access_log import AccessRow
from bot.i18n import Translator
from bot.services.exports import write_private, xlsx_append
from bot.services.repos import AccessLogRecords
from bot.services.xlsx import FONT_NAME, fit_landscape_a4, fit_rows, new_workbook, style_table, wrap_across

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.unit_of_work import UnitOfWork


class AccessKind(enum.StrEnum):
    REGISTER = "register"  # a class's consent register on screen (children's names)
    REGISTER_EXPORT = "register_export"  # the consent register as a file
    CODE_SHEET = "code_sheet"  # printable code cards of a class
    REPORT = "report"  # the item-18 XLSX report
    ANALYSIS = "analysis"  # the item-18 analysis PDF
    PERSON_SEARCH = "person_search"  # a search of the roster by name
    SUBJECT_REPORT = "subject_report"  # a person's own data (152-FZ art. 14)
    BACKUP_EXPORT = "backup_export"  # a copy of the database leaving the server
    BACKUP_RESTORE = "backup_restore"  # a backup opened to replace the database
    EVIDENCE = "evidence"  # consent evidence for an inspector
    DESTRUCTION_ACT = "destruction_act"  # the act of destroying a withdrawn child's data
    SEND_LOG = "send_log"  # the send log export
    ACCESS_LOG = "access_log"  # this log's own export
    ARCHIVE_CHECKLIST = "archive_checklist"  # the item-19 checklist (class teachers' names)
    TRAINING_ATTENDANCE = "training_attendance"  # who was invited to a session, answered and came
    SURVEY_RESULTS = "survey_results"  # a survey's results as a file, or its free-text answers (issue #26)


CHANNELS = ("telegram", "max", "cli", "system")


@dataclass(frozen=True)
class Accessor:
    person_id: int | None
    channel: str  # one of CHANNELS


CLI = Accessor(None, "cli")
SYSTEM = Accessor(None, "system")
_CURRENT: ContextVar[Accessor] = ContextVar("schoolbot_accessor", default=SYSTEM)


@contextmanager
def acting_as(accessor: Accessor) -> Iterator[None]:
    """Everything recorded inside the block is recorded as done by `accessor`."""
    if accessor.channel not in CHANNELS:
        raise ValueError(f"unknown access channel {accessor.channel!r}")
    token = _CURRENT.set(accessor)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_accessor() -> Accessor:
    return _CURRENT.get()


XLSX_WIDTHS = (18, 19, 19, 40, 22, 14)  # "расписание бота" on one line


def _who(row: AccessRow, t: Translator) -> str:
    if row.actor is not None:
        return t("access.export.person", id=row.actor)
    return t(f"access.export.actor_{'cli' if row.channel == 'cli' else 'system'}")


def to_xlsx(rows: Sequence[AccessRow], t: Translator, *, title: str, subtitle: str, tz: object) -> bytes:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = new_workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("access.export.sheet")[:31]
    xlsx_append(ws, [title])
    xlsx_append(ws, [subtitle])
    ws["A1"].font = Font(name=FONT_NAME, bold=True, size=13)
    xlsx_append(ws, [t(f"access.export.{c}") for c in ("when", "who", "channel", "what", "object", "due")])
    for cell in ws[3]:
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
    for r in rows:
        xlsx_append(ws, [
            r.at.astimezone(tz).replace(tzinfo=None),  # type: ignore[arg-type]
            _who(r, t), t(f"access.channel.{r.channel}"), t(f"access.kind.{r.kind}"), r.object_id or "",
            r.due_on,   # a real date cell (fit_rows prints it dd.mm.yyyy), not text
        ])
    for cells in ws.iter_rows(min_row=3):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, width in enumerate(XLSX_WIDTHS, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    wrap_across(ws, row=2, columns=len(XLSX_WIDTHS))
    style_table(ws, header_row=3, columns=len(XLSX_WIDTHS))
    ws.freeze_panes = "A4"
    fit_landscape_a4(ws, title_rows="3:3")
    fit_rows(ws, first_row=3)
    if ws.oddFooter is not None:
        ws.oddFooter.center.text = "&P / &N"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@dataclass(kw_only=True, eq=False)
class AccessLog:
    """The access log: `record` from every path that opens or exports personal data; the export."""

    access_log_repo: AccessLogRecords
    clock: Clock
    db: UnitOfWork
    school: SchoolConfig

    async def record(
        self, kind: AccessKind, object_id: str | int | None = None, *, due_on: date | None = None,
        by: Accessor | None = None,
    ) -> int:
        """One row, committed at once (an export that fails after this still counts as opened)."""
        who = by if by is not None else current_accessor()
        async with self.db.transaction() as conn:
            return await self.access_log_repo.append(
                conn, at=self.clock.now(), actor=who.person_id, channel=who.channel, kind=AccessKind(kind).value,
                object_id=None if object_id is None else str(object_id), due_on=due_on,
            )

    async def rows(self, since: datetime | None = None) -> list[AccessRow]:
        return await self.access_log_repo.rows(since=since)

    async def export(self, t: Translator, since: date | None = None) -> tuple[bytes, str, int]:
        """(XLSX bytes, file name, rows). Exporting the log is itself an access, logged first."""
        await self.record(AccessKind.ACCESS_LOG, since.isoformat() if since else None)
        tz = self.school.tz
        start = datetime.combine(since, time(0), tz).astimezone(UTC) if since is not None else None
        rows = await self.rows(start)
        now = self.clock.now().astimezone(tz)
        title = t("access.export.title")
        subtitle = t("access.export.subtitle", school=self.school.school.name, when=now.strftime("%d.%m.%Y %H:%M"))
        data = await asyncio.to_thread(to_xlsx, rows, t, title=title, subtitle=subtitle, tz=tz)
        return data, f"access-{now:%Y%m%d}.xlsx", len(rows)

    async def cmd_export(self, args: argparse.Namespace, t: Translator) -> int:
        since: date | None = None
        if args.since is not None:
            try:
                since = date.fromisoformat(args.since)
            except ValueError:
                print(t("access.export.bad_since", value=args.since), file=sys.stderr)
                return 2
        data, name, count = await self.export(t, since)
        out = Path(args.out) if args.out else Path(name)
        await asyncio.to_thread(write_private, out, data)
        print(t.plural("access.export.written", count, path=out))
        return 0
