"""Files the IT officer imports (roster, codes, activations, ...), behind one registry, so the bot
and the CLI share the same all-or-nothing import and the same report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from bot.russian import Named
from bot.services.repos import People, YearRecords
from bot.services.roster import Ambiguity, RosterReport, RowError, import_roster
from bot.services.tabular import DEFAULT_MAX_ROWS, MAX_FILE_BYTES, Limits, TableError

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.i18n import Translator
    from bot.unit_of_work import UnitOfWork

MAX_IMPORT_BYTES = MAX_FILE_BYTES
# The first this many errors are listed, then a count of the rest.
MAX_REPORTED_ERRORS = 100


@dataclass
class ImportOutcome:
    errors: list[RowError] = field(default_factory=list)
    # Counter name (a key of the `imports.count` catalog table) -> number, in display order.
    counts: dict[str, int] = field(default_factory=dict)
    # Who, by name: heading (a key of the `imports.list` catalog table) -> lines, in display order.
    lists: dict[str, list[str]] = field(default_factory=dict)
    # (name, from class, to class) of the pupils found in another class; staff among the names listed.
    moves: list[tuple[str, str, str]] = field(default_factory=list)
    staff: frozenset[str] = frozenset()
    # Nothing was written: the deactivations listed need an explicit confirmation.
    needs_confirmation: bool = False
    # Pupils the file could mean several existing pupils for: (incoming key, name, class,
    # ((existing key, class), ...)). The bot offers them as a choice.
    ambiguous: list[Ambiguity] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    # Only the plan import uses it: the school year to move the plan's dates onto.
    school_year: int | None = None
    # Roster: who imports (never deactivated), the confirmation of listed deactivations, and the
    # answers to ambiguous pupils (incoming roster key -> existing roster key, or "new").
    actor_id: int | None = None
    confirm_deactivations: bool = False
    resolutions: tuple[tuple[str, str], ...] = ()
    # More data rows than this and the file is refused as a whole (all-or-nothing).
    max_rows: int = DEFAULT_MAX_ROWS

    @property
    def limits(self) -> Limits:
        return Limits(max_rows=self.max_rows)


def table_error(exc: TableError) -> RowError:
    """How an unreadable file is reported: one error, on its line or on the file as a whole."""
    return RowError(exc.line, exc.catalog_code, exc.params)


@dataclass(frozen=True)
class Importer:
    kind: str
    label_key: str
    run: Callable[[bytes, str, ImportOptions], Awaitable[ImportOutcome]]


def render_outcome(
    outcome: ImportOutcome,
    t: Translator,
    *,
    limit: int = MAX_REPORTED_ERRORS,
    list_limit: int = 25,
    html: bool = False,
) -> str:
    """The report, whole: at most `limit` errors, then a count; `list_limit` names per list (the
    messenger's wire cuts a long report into messages). `html` escapes names and values taken from
    the file for an HTML message."""
    quote = escape if html else str
    if outcome.errors:
        head = t.plural("imports.errors_title", len(outcome.errors))
        tail = t("imports.nothing_written")
        lines = [head]
        shown = 0
        for err in outcome.errors[:limit]:
            params = {k: quote(v) if isinstance(v, str) else v for k, v in err.params.items()}
            message = t(f"import_errors.{err.code}", **params)
            if err.line > 0:
                line = t("import_errors.line", line=err.line, message=message)
            else:
                line = t("import_errors.whole_file", message=message)
            lines.append(line)
            shown += 1
        if len(outcome.errors) > shown:
            lines.append(t.plural("imports.more_errors", len(outcome.errors) - shown))
        lines.append(tail)
        return "\n".join(lines)
    if outcome.needs_confirmation:
        title = t("imports.confirm_title")
    else:
        title = t("imports.applied_title") if outcome.applied else t("imports.preview_title")
    lines = [title]
    lines += [f"• {t(f'imports.count.{name}')}: {value}" for name, value in outcome.counts.items()]
    if outcome.moves:
        lines.append(t("imports.list.moved"))
        lines += [
            "  – " + t("imports.moved", name=Named(name, escape=html), old=quote(old), new=quote(new))
            for name, old, new in outcome.moves[:list_limit]
        ]
        if len(outcome.moves) > list_limit:
            lines.append("  " + t("imports.more_names", n=len(outcome.moves) - list_limit))
    for heading, names in outcome.lists.items():
        if not names:
            continue
        lines.append(t(f"imports.list.{heading}"))
        lines += [
            "  – " + (t("imports.staff_mark", name=quote(name)) if name in outcome.staff else quote(name))
            for name in names[:list_limit]
        ]
        if len(names) > list_limit:
            lines.append("  " + t("imports.more_names", n=len(names) - list_limit))
    return "\n".join(lines)




@dataclass(kw_only=True, eq=False)
class RosterImport:
    """The roster file the IT officer imports (all-or-nothing, with confirmations)."""

    clock: Clock
    db: UnitOfWork
    people: People
    year_repo: YearRecords
    importer: Importer = field(init=False)

    def __post_init__(self) -> None:
        self.importer = Importer(kind="roster", label_key="imports.kind.roster", run=self._roster)

    async def import_roster(
        self,
        data: bytes,
        filename: str,
        *,
        now: datetime,
        dry_run: bool = False,
        actor_id: int | None = None,
        confirm_deactivations: bool = False,
        resolutions: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> RosterReport:
        """The all-or-nothing roster import (bot.services.roster.import_roster) on this school's store."""
        return await import_roster(
            self.db, self.people, self.year_repo, data, filename, now=now, dry_run=dry_run, actor_id=actor_id,
            confirm_deactivations=confirm_deactivations, resolutions=resolutions, limits=limits,
        )

    async def _roster(self, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
        report = await self.import_roster(
            data,
            filename,
            now=self.clock.now(),
            dry_run=options.dry_run,
            actor_id=options.actor_id,
            confirm_deactivations=options.confirm_deactivations,
            resolutions=dict(options.resolutions),
            limits=options.limits,
        )
        return ImportOutcome(
            errors=report.errors,
            counts={
                "added": len(report.added),
                "updated": len(report.updated),
                "moved": len(report.moved),
                "unchanged": report.unchanged,
                "deactivated": len(report.deactivated),
            },
            lists={"added": report.added, "updated": report.updated, "deactivated": report.deactivated,
                   "kept": report.kept},
            moves=[(m.name, m.from_class or "—", m.to_class or "—") for m in report.moved],
            staff=frozenset(report.deactivated_staff),
            needs_confirmation=report.needs_confirmation and not report.applied,
            ambiguous=report.ambiguous,
            applied=report.applied and report.ok,
        )
