"""Retention and purge (#24 item 3): what the bot keeps, for how long, and the destruction.

The term comes from school.toml's [retention] (bot/config.py RetentionSettings says why the
defaults are what they are). Once a day the sweep, and on demand `schoolbot purge --apply`, remove
for every person past the term (left the school `after_leaving_days` ago, or whose withdrawal of
consent has stood `after_withdrawal_days`): phone, messenger accounts, invitation codes, questions,
conversation state and the texts of messages sent to them; a person who left keeps a row with a
pseudonym instead of the name (the ledger, plan proofs and archive checks name them by id). A
withdrawn child still at school keeps name and class (the school keeps its roster under the
education law), and loses the rest. Backups older than `backup_days` are deleted, as they hold
what was purged. Each destruction writes an append-only record (migration 028).

The consent ledger is not touched: it is the proof of each decision (version, the document's hash,
time, the account that pressed or the staff member who recorded paper), chained by hashes, and
holds ids, no names or phones, so a purge leaves it verifiable (storage/chain.py).

`schoolbot purge` without --apply is a dry run: it names what would go, by counts and record
numbers, and removes nothing. The conversation state of a purged person is removed from the
database; a running bot's FSM cache keeps its copy until restart (it is only ever read for that
messenger user, whose link to the person is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.retention import BACKUP, KINDS, Candidate
from bot.i18n import Translator
from bot.services.access_log import current_accessor
from bot.services.backup import expired
from bot.services.repos import RetentionRecords

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig, Settings
    from bot.i18n import Catalog
    from bot.unit_of_work import UnitOfWork


class _DryRun(Exception):
    """Raised to roll the dry run's transaction back."""


@dataclass(frozen=True)
class PersonPurge:
    candidate: Candidate
    counts: dict[str, int]


@dataclass
class PurgePlan:
    people: list[PersonPurge] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.people and not self.backups


@dataclass(kw_only=True, eq=False)
class RetentionService:
    catalog: Catalog
    clock: Clock
    db: UnitOfWork
    retention_repo: RetentionRecords
    school: SchoolConfig
    settings: Settings

    def _folder(self) -> Path:
        return Path(self.settings.backup_dir)

    async def _candidates(self, now: datetime) -> list[Candidate]:
        terms = self.school.retention
        repo = self.retention_repo
        return [
            *await repo.left_before(now - timedelta(days=terms.after_leaving_days)),
            *await repo.withdrawals_before(now - timedelta(days=terms.after_withdrawal_days)),
        ]

    async def plan(self, now: datetime) -> PurgePlan:
        """Everything past its term at `now`, with what would be removed; nothing is written. The
        purge itself runs, in order, inside a transaction that is rolled back: the counts are the
        real run's, even where two purges meet (a parent's card of a child's code is one message)."""
        who = current_accessor()
        t = self.catalog.bind("ru")
        people: list[PersonPurge] = []
        with contextlib.suppress(_DryRun):
            async with self.db.transaction() as conn:
                for candidate in await self._candidates(now):
                    counts = await self.retention_repo.purge(
                        conn, candidate, pseudonym=t("retention.pseudonym", id=candidate.person_id), now=now,
                        actor=who.person_id, channel=who.channel,
                    )
                    people.append(PersonPurge(candidate, counts))
                raise _DryRun
        backups = await asyncio.to_thread(expired, self._folder(), now, self.school.retention.backup_days)
        return PurgePlan(people, backups)

    async def apply(self, now: datetime) -> PurgePlan:
        """Carry out what is due at `now`; returns what was removed. Each person in one transaction."""
        who = current_accessor()
        t = self.catalog.bind("ru")
        done = PurgePlan()
        for candidate in await self._candidates(now):
            async with self.db.transaction() as conn:
                counts = await self.retention_repo.purge(
                    conn, candidate, pseudonym=t("retention.pseudonym", id=candidate.person_id), now=now,
                    actor=who.person_id, channel=who.channel,
                )
            done.people.append(PersonPurge(candidate, counts))
        plan = PurgePlan(backups=await asyncio.to_thread(
            expired, self._folder(), now, self.school.retention.backup_days))
        for path in plan.backups:
            await asyncio.to_thread(path.unlink, True)
            async with self.db.transaction() as conn:
                await self.retention_repo.record(
                    conn, now=now, reason=BACKUP, person_id=None, withdrawal_row=None, what={"file": path.name},
                    actor=who.person_id, channel=who.channel,
                )
            done.backups.append(path)
        return done

    async def sweep(self, now: datetime) -> int:
        """The daily run (the capability's sweep): once a school-local day."""
        day = now.astimezone(self.school.tz).date().isoformat()
        if await self.retention_repo.ran_on(day):
            return 0
        done = await self.apply(now)
        async with self.db.transaction() as conn:
            await self.retention_repo.mark_run(conn, day, now)
        return len(done.people) + len(done.backups)

    def describe(self, plan: PurgePlan, t: Translator, *, applied: bool) -> str:
        terms = self.school.retention
        lines = [t("retention.header_applied" if applied else "retention.header_dry",
                   leaving=terms.after_leaving_days, withdrawal=terms.after_withdrawal_days,
                   backups=terms.backup_days)]
        if plan.empty:
            lines.append(t("retention.nothing"))
        for item in plan.people:
            c = item.candidate
            since = c.since.astimezone(self.school.tz).strftime("%d.%m.%Y")
            what = ", ".join(t(f"retention.kind.{k}", n=item.counts[k]) for k in KINDS if item.counts.get(k))
            lines.append(t(f"retention.person_{c.reason}", id=c.person_id, since=since,
                           what=what or t("retention.kind.none")))
        if plan.backups:
            lines.append(t.plural("retention.backups", len(plan.backups),
                                  files=", ".join(p.name for p in plan.backups)))
        if not applied and not plan.empty:
            lines.append(t("retention.how_to_apply"))
        return "\n".join(lines)

    async def cmd_purge(self, args: argparse.Namespace, t: Translator) -> int:
        now = self.clock.now()
        plan = await (self.apply(now) if args.apply else self.plan(now))
        print(self.describe(plan, t, applied=bool(args.apply)))
        return 0
