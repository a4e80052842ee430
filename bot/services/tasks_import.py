"""Importing the plan (TOML) and loading the shipped plan into the database for the running school year."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.domain.plan import Plan
from bot.services.imports import Importer, ImportOptions, ImportOutcome
from bot.services.plan import PLAN_PATH, PlanError, read_plan, shift_plan
from bot.services.repos import PlanRecords
from bot.services.roster import RowError
from bot.services.tabular import MAX_FILE_BYTES

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.unit_of_work import UnitOfWork


# --- plan import ----------------------------------------------------------------------------------


def _read_plan(data: bytes, year: int) -> Plan | RowError:
    """Decoding, TOML and validation: CPU work, run in a worker thread."""
    if len(data) > MAX_FILE_BYTES:
        return RowError(0, "file.too_big", {"limit": str(MAX_FILE_BYTES // (1024 * 1024))})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return RowError(line, "file.text_encoding", {"byte": f"0x{data[exc.start]:02X}"})
    try:
        return shift_plan(read_plan(text), year)
    except PlanError as exc:
        # The problem on its line, in the reader's language (import_errors.plan.*).
        return RowError(exc.line, exc.catalog_code, exc.params)


@dataclass(kw_only=True, eq=False)
class TasksImport:
    """The plan file: loaded once at start if missing, or imported by the IT officer."""

    clock: Clock
    db: UnitOfWork
    plan_repo: PlanRecords
    school: SchoolConfig
    plan_checked: bool = field(default=False, init=False)
    importer: Importer = field(init=False)

    def __post_init__(self) -> None:
        self.importer = Importer(kind="plan", label_key="tasks.import_kind", run=self.import_plan)


    async def import_plan(self, data: bytes, filename: str, options: ImportOptions) -> ImportOutcome:
        """All-or-nothing: a bad file writes nothing; importing the same file twice changes nothing."""
        year = options.school_year or self.school.school_year.year
        parsed = await asyncio.to_thread(_read_plan, data, year)
        if isinstance(parsed, RowError):
            return ImportOutcome(errors=[parsed])
        plan = parsed
        now = self.clock.now()
        async with self.db.transaction() as conn:
            existing = await self.plan_repo.existing_items(conn)
            added = updated = unchanged = 0
            for item in plan.items:
                old = existing.get(item.number)
                if old is None:
                    added += 1
                elif old != (item, True):
                    updated += 1
                else:
                    unchanged += 1
            incoming = {item.number for item in plan.items}
            removed = sum(1 for number, (_, active) in existing.items() if number not in incoming and active)
            if not options.dry_run:
                await self.plan_repo.save_plan(
                    conn, plan.items, title=plan.title, order=plan.order, school_year=year, now=now
                )
        counts = {"added": added, "updated": updated, "unchanged": unchanged, "deactivated": removed}
        return ImportOutcome(counts=counts, applied=not options.dry_run)

    async def ensure_plan(self) -> None:
        """Load the shipped plan for the configured school year once, on the first start."""
        if self.plan_checked:
            return
        if await self.plan_repo.plan_year() is None:
            outcome = await self.import_plan(PLAN_PATH.read_bytes(), PLAN_PATH.name, ImportOptions())
            if not outcome.ok:  # pragma: no cover - the shipped plan is tested
                raise RuntimeError(f"shipped plan does not load: {outcome.errors}")
        self.plan_checked = True
