"""Files the IT officer imports (roster, codes, activations, ...), behind one registry, so the bot
and the CLI share the same all-or-nothing import and the same report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from bot.services.roster import Ambiguity, RowError, import_roster

if TYPE_CHECKING:
    from bot.app import App
    from bot.i18n import Translator

MAX_IMPORT_BYTES = 5 * 1024 * 1024


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


@dataclass(frozen=True)
class Importer:
    kind: str
    label_key: str
    run: Callable[[App, bytes, str, ImportOptions], Awaitable[ImportOutcome]]


def render_outcome(outcome: ImportOutcome, t: Translator, *, limit: int = 25, html: bool = False) -> str:
    """The report; `html` escapes names and values taken from the file for a Telegram HTML message."""
    quote = escape if html else str
    if outcome.errors:
        lines = [t.plural("imports.errors_title", len(outcome.errors))]
        for err in outcome.errors[:limit]:
            params = {k: quote(v) for k, v in err.params.items()}
            lines.append(t("import_errors.line", line=err.line, message=t(f"import_errors.{err.code}", **params)))
        if len(outcome.errors) > limit:
            lines.append(t("imports.more_errors", n=len(outcome.errors) - limit))
        lines.append(t("imports.nothing_written"))
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
            "  – " + t("imports.moved", name=quote(name), old=old, new=new) for name, old, new in outcome.moves[:limit]
        ]
        if len(outcome.moves) > limit:
            lines.append("  " + t("imports.more_names", n=len(outcome.moves) - limit))
    for heading, names in outcome.lists.items():
        if not names:
            continue
        lines.append(t(f"imports.list.{heading}"))
        lines += [
            "  – " + (t("imports.staff_mark", name=quote(name)) if name in outcome.staff else quote(name))
            for name in names[:limit]
        ]
        if len(names) > limit:
            lines.append("  " + t("imports.more_names", n=len(names) - limit))
    return "\n".join(lines)


async def _roster(app: App, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
    report = await import_roster(
        app.db,
        data,
        filename,
        now=app.clock.now(),
        dry_run=options.dry_run,
        actor_id=options.actor_id,
        confirm_deactivations=options.confirm_deactivations,
        resolutions=dict(options.resolutions),
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


ROSTER_IMPORTER = Importer(kind="roster", label_key="imports.kind.roster", run=_roster)
