"""The send log for an inspector (issue #17, item 5): `schoolbot export sends`.

One row per send (every request that put content before a person, direct answers and the outbox's
alike, issue #22): when (the school's wall-clock time), the channel, the data class, the outcome, all
in words from the catalog, and the purpose (the handler or the outbox's notice kind, a code name);
then a summary: sends per channel and data class, per data class how many went out, were replaced by
the pointer and were refused by the messenger, and how many credentials and children's personal data
went out on a channel the school's policy does not allow (0 when the policy held). The log holds no
personal data (see migration 015), and neither does this file: no names, ids, chats or texts exist to
put in it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.channels import Channel, ChannelPolicy, DataClass
from bot.i18n import Translator
from bot.reach import SendRecord
from bot.services.access_log import AccessKind, AccessLog
from bot.services.exports import csv_row, write_private, xlsx_append
from bot.services.repos import Messengers
from bot.services.xlsx import FONT_NAME, FONT_SIZE, fit_landscape_a4, fit_rows, new_workbook, style_table, wrap_across

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.unit_of_work import UnitOfWork

Format = Literal["csv", "xlsx"]
COLUMNS = ("when", "channel", "data_class", "outcome", "purpose")
XLSX_WIDTHS = (18, 12, 36, 40, 28)
# Per data class: sent as it was, replaced by the pointer, refused (the messenger did not take it).
OUTCOME_COLUMNS = (("sent", ("sent",)), ("replaced", ("pointer",)), ("refused", ("failed",)))
CHANNELS = ("telegram", "max", "paper")
# The classes the law keeps off a forbidden channel above all: the summary's explicit line counts these.
GUARDED = frozenset({DataClass.CREDENTIAL, DataClass.CHILD_PERSONAL})
DATE_FORMAT = "%d.%m.%Y %H:%M"


@dataclass(frozen=True)
class Summary:
    counts: Counter[tuple[str, DataClass]]  # (channel, data class) -> sends
    violations: int  # credential / child-data messages sent on a channel the policy forbids
    # (data class, outcome) -> sends on a messenger (the paper path is not a send)
    outcomes: Counter[tuple[DataClass, str]] = field(default_factory=Counter)


def summarise(records: Sequence[SendRecord], policy: ChannelPolicy) -> Summary:
    counts: Counter[tuple[str, DataClass]] = Counter((r.channel, r.data_class) for r in records)
    violations = sum(
        1 for r in records
        if r.outcome == "sent" and r.data_class in GUARDED and r.channel in tuple(Channel)
        and not policy.allows(Channel(r.channel), r.data_class)
    )
    outcomes: Counter[tuple[DataClass, str]] = Counter(
        (r.data_class, r.outcome) for r in records if r.channel in tuple(Channel)
    )
    return Summary(counts, violations, outcomes)


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """Aware UTC -> the school's wall-clock time to the minute, naive (what a spreadsheet cell holds)."""
    return moment.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)


def header(t: Translator) -> list[str]:
    return [t(f"channels.export.{c}") for c in COLUMNS]


def _words(record: SendRecord, t: Translator) -> list[str]:
    return [
        t(f"channels.export.channel_name.{record.channel}"),
        t(f"channels.export.class.{record.data_class.value}"),
        t(f"channels.export.outcome_name.{record.outcome}"),
        record.purpose,
    ]


def summary_rows(summary: Summary, t: Translator) -> list[list[object]]:
    """The summary block: its heading, one row per channel and data class that has sends, the total
    and the explicit line on forbidden sends."""
    rows: list[list[object]] = [[t("channels.export.summary")],
                                [t("channels.export.channel"), t("channels.export.data_class"),
                                 t("channels.export.count")]]
    for channel in CHANNELS:
        for data_class in DataClass:
            n = summary.counts.get((channel, data_class), 0)
            if n:
                rows.append([t(f"channels.export.channel_name.{channel}"),
                             t(f"channels.export.class.{data_class.value}"), n])
    rows.append([t("channels.export.total"), "", sum(summary.counts.values())])
    rows.append([])
    rows.append([t("channels.export.by_class")])
    rows.append([t("channels.export.data_class"), *(t(f"channels.export.{name}") for name, _ in OUTCOME_COLUMNS)])
    for data_class in DataClass:
        counts = [sum(summary.outcomes.get((data_class, o), 0) for o in outcomes) for _, outcomes in OUTCOME_COLUMNS]
        if any(counts):
            rows.append([t(f"channels.export.class.{data_class.value}"), *counts])
    rows.append([t("channels.export.violations", n=summary.violations)])
    return rows


def to_csv(records: Sequence[SendRecord], summary: Summary, t: Translator, *, tz: tzinfo = UTC) -> bytes:
    # UTF-8 with BOM and ';': what Russian Excel opens without an import dialog (as the consent register).
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_row(header(t)))
    for record in records:
        writer.writerow(csv_row([_local(record.at, tz).strftime(DATE_FORMAT), *_words(record, t)]))
    writer.writerow([])
    writer.writerows(csv_row(row) for row in summary_rows(summary, t))
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(
    records: Sequence[SendRecord], summary: Summary, t: Translator, *, title: str, subtitle: str, tz: tzinfo = UTC
) -> bytes:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = new_workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("channels.export.sheet")[:31]
    for i, width in enumerate(XLSX_WIDTHS, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    last_column = get_column_letter(len(COLUMNS))
    xlsx_append(ws, [title])
    xlsx_append(ws, [subtitle])
    ws["A1"].font = Font(name=FONT_NAME, bold=True, size=13)
    wrap_across(ws, row=2, columns=len(COLUMNS))
    xlsx_append(ws, header(t))
    for cell in ws[3]:
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for record in records:
        xlsx_append(ws, [_local(record.at, tz), *_words(record, t)])
    last = ws.max_row
    style_table(ws, header_row=3, columns=len(COLUMNS))
    fit_rows(ws, first_row=3)
    xlsx_append(ws, [])
    # The summary: two small tables under the log, each with a bold heading line above it; bordered
    # and in the same face as the log (style_table covers only the log's own rows).
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    headings = {t("channels.export.summary"), t("channels.export.by_class")}
    table_header = False
    first_summary = ws.max_row + 1
    for row in summary_rows(summary, t):
        xlsx_append(ws, row)
        n = ws.max_row
        heading = len(row) == 1   # the two headings and the closing line on forbidden sends
        for cell in ws[n]:
            if cell.value is None and cell.column is not None and cell.column > len(row):
                continue
            cell.font = Font(name=FONT_NAME, size=FONT_SIZE, bold=heading or table_header)
            if len(row) > 1:
                cell.border = border
                # The summary's columns are the log's, narrower for some of its words: they wrap
                # ("личные данные" under "Канал" was cut to "личные данны").
                cell.alignment = Alignment(wrap_text=True, vertical="top",
                                           horizontal="right" if isinstance(cell.value, int) else None)
        table_header = len(row) == 1 and row[0] in headings
    fit_rows(ws, first_row=first_summary)
    ws.freeze_panes = "A4"
    ws.auto_filter.ref = f"A3:{last_column}{last}"
    fit_landscape_a4(ws, title_rows="3:3")
    if ws.oddFooter is not None:
        ws.oddFooter.center.text = "&P / &N"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# --- CLI ----------------------------------------------------------------------------------------


def parse_since(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


@dataclass(kw_only=True, eq=False)
class SendLogExport:
    """The send log by channel and data class, exported for an inspector."""

    access_log: AccessLog
    clock: Clock
    db: UnitOfWork
    messengers: Messengers
    school: SchoolConfig


    async def export(
        self, fmt: Format, t: Translator, since: date | None = None
    ) -> tuple[bytes, str, int]:
        """(file bytes, file name, number of sends). ``since`` is a day in the school's time zone."""
        await self.access_log.record(AccessKind.SEND_LOG, since.isoformat() if since else None)
        tz = self.school.tz
        start = datetime.combine(since, time(0), tz).astimezone(UTC) if since is not None else None
        records = await self.messengers.send_log(start)
        # The school's policy as configured (the default for a municipal school when school.toml says
        # nothing): what an inspector checks the sends against, served channels or not.
        summary = summarise(records, self.school.channel_policy)
        now = self.clock.now().astimezone(tz)
        name = f"sends-{now:%Y%m%d}.{fmt}"
        if fmt == "csv":
            return to_csv(records, summary, t, tz=tz), name, len(records)
        title = t("channels.export.title")
        period = t("channels.export.since", since=f"{since:%d.%m.%Y}") if since is not None else ""
        subtitle = t("channels.export.subtitle", school=self.school.school.name, when=now.strftime(DATE_FORMAT),
                     period=period)
        data = await asyncio.to_thread(to_xlsx, records, summary, t, title=title, subtitle=subtitle, tz=tz)
        return data, name, len(records)

    async def cmd_export(self, args: argparse.Namespace, t: Translator) -> int:
        since: date | None = None
        if args.since is not None:
            since = parse_since(args.since)
            if since is None:
                print(t("channels.export.bad_since", value=args.since), file=sys.stderr)
                return 2
        data, name, count = await self.export(args.format, t, since)
        out = Path(args.out) if args.out else Path(name)
        await asyncio.to_thread(write_private, out, data)
        print(t.plural("channels.export.written", count, path=out))
        return 0
