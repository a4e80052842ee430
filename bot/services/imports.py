"""Files the IT officer imports (roster, codes, activations, ...), behind one registry, so the bot
and the CLI share the same all-or-nothing import and the same report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.services.roster import RowError, import_roster

if TYPE_CHECKING:
    from bot.app import App
    from bot.i18n import Translator

MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass
class ImportOutcome:
    errors: list[RowError] = field(default_factory=list)
    # Counter name (a key of the `imports.count` catalog table) -> number, in display order.
    counts: dict[str, int] = field(default_factory=dict)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    # Only the plan import uses it: the school year to move the plan's dates onto.
    school_year: int | None = None


@dataclass(frozen=True)
class Importer:
    kind: str
    label_key: str
    run: Callable[[App, bytes, str, ImportOptions], Awaitable[ImportOutcome]]


def render_outcome(outcome: ImportOutcome, t: Translator, *, limit: int = 25) -> str:
    if outcome.errors:
        lines = [t.plural("imports.errors_title", len(outcome.errors))]
        for err in outcome.errors[:limit]:
            lines.append(t("import_errors.line", line=err.line, message=t(f"import_errors.{err.code}", **err.params)))
        if len(outcome.errors) > limit:
            lines.append(t("imports.more_errors", n=len(outcome.errors) - limit))
        lines.append(t("imports.nothing_written"))
        return "\n".join(lines)
    title = t("imports.applied_title") if outcome.applied else t("imports.preview_title")
    lines = [title]
    lines += [f"• {t(f'imports.count.{name}')}: {value}" for name, value in outcome.counts.items()]
    return "\n".join(lines)


async def _roster(app: App, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
    report = await import_roster(app.db, data, filename, now=app.clock.now(), dry_run=options.dry_run)
    return ImportOutcome(
        errors=report.errors,
        counts={
            "added": len(report.added),
            "updated": len(report.updated),
            "unchanged": report.unchanged,
            "deactivated": len(report.deactivated),
        },
        applied=report.applied and report.ok,
    )


ROSTER_IMPORTER = Importer(kind="roster", label_key="imports.kind.roster", run=_roster)
