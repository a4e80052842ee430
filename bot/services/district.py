"""A district's rules (#27): which schools it holds, who its operators are, and the coverage table
the district role sees across schools.

One service, many schools, and a store per school (storage/district.py says why: isolation is
decided where a school's services are built, not by every query). This module never opens a store:
the district's composition (bot/district/) builds each school's services on its own store and hands
this module one `SchoolFigures` per school. What crosses the line between a school and the district
is counts only: plan progress, consent coverage and activation coverage. No code, no child's or
parent's name and no staff name is read into the district's objects, so no district screen or
command can show one.

Families. Consent is decided per pupil under the family rule (bot/domain/consent.py) and a family
is reached through the pupil or any of their representatives, so the district counts a family per
active pupil: "decided" when the family's decisions on the current consent version amount to
anything but pending (given, declined, withdrawn), "reached" when the pupil or a representative has
a linked messenger account or was delivered an invitation code (storage.district.FamilyReach).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from bot.channels import Channel
from bot.config import ConfigError, SchoolConfig, parse_school_config
from bot.domain.district import SCHOOL_KEY, FamilyReach, OperatorRecord, SchoolRecord
from bot.i18n import Translator
from bot.services.consent_gate import ConsentGate
from bot.services.repos import ConsentLedger

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.services.tasks import TasksService
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

TITLE_LIMIT = 200


class DistrictError(Exception):
    """Input the district refuses; the message is for the operator (Russian by default) and names the
    field."""


class DistrictRecords(Protocol):
    """The registry as this module reads and writes it (storage.district.DistrictStore)."""

    async def schools(self) -> list[SchoolRecord]: ...

    async def school(self, key: str) -> SchoolRecord | None: ...

    async def add_school(self, record: SchoolRecord) -> None: ...

    async def operators(self) -> list[OperatorRecord]: ...

    async def operator_by_account(self, channel: str, user_id: int) -> OperatorRecord | None: ...

    async def add_operator(
        self, full_name: str, accounts: Iterable[tuple[str, int]], now: datetime
    ) -> OperatorRecord: ...

    async def chosen(self, channel: str, user_id: int) -> str | None: ...

    async def choose(self, channel: str, user_id: int, key: str, now: datetime) -> None: ...


class FamilyFigures(Protocol):
    """One school's families as the district counts them (storage.district.SchoolFiguresRepo)."""

    async def families(self) -> list[FamilyReach]: ...


@dataclass(frozen=True)
class School:
    """A school of the district as the rest of the service sees it: its key, title, checked settings
    and its own bots' tokens (None: served by the district's bot alone)."""

    key: str
    title: str
    config: SchoolConfig = field(repr=False)
    telegram_token: SecretStr | None = field(default=None, repr=False)
    max_token: SecretStr | None = field(default=None, repr=False)


def school_of(record: SchoolRecord) -> School:
    """A registry row as a `School`: its settings checked by the loader school.toml goes through."""
    return School(
        key=record.key, title=record.title, config=parse_school_config(record.settings_toml, f"school {record.key}"),
        telegram_token=SecretStr(record.telegram_token) if record.telegram_token else None,
        max_token=SecretStr(record.max_token) if record.max_token else None,
    )


@dataclass(frozen=True)
class NewSchool:
    """A school checked and ready to be created (store first, then its registry row)."""

    record: SchoolRecord
    config: SchoolConfig = field(repr=False)


def check_key(key: str, t: Translator) -> str:
    if not SCHOOL_KEY.fullmatch(key):
        raise DistrictError(t("district.bad_key", key=key))
    return key


def check_token(text: str, source: str, t: Translator) -> str:
    """A bot token as read from its file: one line, no spaces (the file's trailing newline is fine)."""
    token = text.strip()
    if not token:
        raise DistrictError(t("district.token_empty", path=source))
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise DistrictError(t("district.token_bad", path=source))
    return token


@dataclass(kw_only=True, eq=False)
class DistrictRegistry:
    """The district's schools and operators: what `schoolbot district add-school`, `list` and
    `add-operator` check and record."""

    records: DistrictRecords
    clock: Clock

    async def schools(self) -> list[School]:
        return [school_of(r) for r in await self.records.schools()]

    async def check_new_school(
        self, key: str, title: str, settings_toml: str, source: str, t: Translator, *,
        telegram_token: str | None = None, max_token: str | None = None,
    ) -> NewSchool:
        """Everything `add-school` can refuse, before anything is written: the key, the title, the
        settings (the same loader and messages as school.toml, naming the field), a token another
        school's bot already uses (one bot serves one school)."""
        check_key(key, t)
        title = title.strip()
        if not title:
            raise DistrictError(t("district.empty_title"))
        if len(title) > TITLE_LIMIT:
            raise DistrictError(t("district.long_title", limit=TITLE_LIMIT))
        if await self.records.school(key) is not None:
            raise DistrictError(t("district.duplicate", key=key))
        try:
            config = parse_school_config(settings_toml, source)
        except ConfigError as exc:
            raise DistrictError(t("district.bad_config", detail=str(exc))) from None
        for other in await self.records.schools():
            for mine, theirs, which in ((telegram_token, other.telegram_token, "Telegram"),
                                        (max_token, other.max_token, "MAX")):
                if mine and mine == theirs:
                    raise DistrictError(t("district.token_taken", messenger=which, key=other.key))
        record = SchoolRecord(
            key=key, title=title, settings_toml=settings_toml, created_at=self.clock.now(),
            telegram_token=telegram_token, max_token=max_token,
        )
        return NewSchool(record, config)

    async def register(self, school: NewSchool) -> None:
        await self.records.add_school(school.record)

    async def add_operator(
        self, full_name: str, accounts: Iterable[tuple[Channel, int]], t: Translator
    ) -> OperatorRecord:
        name = " ".join(full_name.split())
        if not name:
            raise DistrictError(t("district.operator_no_name"))
        wanted = list(accounts)
        if not wanted:
            raise DistrictError(t("district.operator_no_account"))
        for channel, user_id in wanted:
            held = await self.records.operator_by_account(channel.value, user_id)
            if held is not None:
                raise DistrictError(t("district.operator_taken", account=f"{channel.value}:{user_id}"))
        return await self.records.add_operator(name, [(c.value, u) for c, u in wanted], self.clock.now())

    async def operators(self) -> list[OperatorRecord]:
        return await self.records.operators()


@dataclass(kw_only=True, eq=False)
class SchoolChoices:
    """Which school each messenger account talks to on the district's bot (bot/multibot.py asks it),
    kept in the registry so that a restart does not ask a person known in several schools again."""

    records: DistrictRecords
    clock: Clock

    async def chosen(self, channel: Channel, user_id: int) -> str | None:
        return await self.records.chosen(channel.value, user_id)

    async def choose(self, channel: Channel, user_id: int, key: str) -> None:
        await self.records.choose(channel.value, user_id, key, self.clock.now())


# --- coverage across schools ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchoolCoverage:
    """One school's line of the district's table: counts only."""

    key: str
    title: str
    plan_done: int
    plan_total: int
    plan_overdue: int
    families: int
    consent_decided: int
    consent_given: int
    reached: int
    # False: the school's store could not be read just now (its line says so; the totals leave it out).
    available: bool = True

    @classmethod
    def unavailable(cls, key: str, title: str) -> SchoolCoverage:
        return cls(key, title, 0, 0, 0, 0, 0, 0, 0, available=False)


@dataclass(kw_only=True, eq=False)
class SchoolFigures:
    """One school's figures, read on that school's own store and services (built per school by
    bot/district/: `db`, `tasks` and `figures` are that school's)."""

    key: str
    title: str
    db: UnitOfWork
    tasks: TasksService
    figures: FamilyFigures
    ledger: ConsentLedger
    consent_gate: ConsentGate
    school: SchoolConfig
    clock: Clock

    async def read(self) -> SchoolCoverage:
        today = self.school.calendar.local_date(self.clock.now())
        # The plan's one reading (bot.services.tasks.Snapshot), as /status counts it.
        snap = await self.tasks.snapshot()
        done = overdue = total = 0
        for task in snap.dated_tasks():
            total += 1
            state = snap.summary_state(task, today)
            done += state == "done"
            overdue += state == "overdue"
        families = await self.figures.families()
        pupils = {f.child_id for f in families}
        version = await self.ledger.current_version(self.db.conn)
        states = await self.consent_gate.family_states(self.db.conn, version.number) if version is not None else {}
        decided = sum(1 for cid, s in states.items() if cid in pupils and s.state != "pending")
        given = sum(1 for cid, s in states.items() if cid in pupils and s.covered)
        return SchoolCoverage(
            key=self.key, title=self.title, plan_done=done, plan_total=total, plan_overdue=overdue,
            families=len(families), consent_decided=decided, consent_given=given,
            reached=sum(1 for f in families if f.reached),
        )


@dataclass(kw_only=True, eq=False)
class DistrictService:
    """What the district role asks: whether a messenger account is a district operator, and the
    coverage table across every school (bot/district/ hands it each school's `SchoolFigures`)."""

    records: DistrictRecords
    schools: Mapping[str, SchoolFigures]
    # Schools read at once: each is its own store, so they do not wait on each other; bounded so a
    # district of 300 does not open 300 reads together.
    parallel: int = 8

    async def is_operator(self, channel: Channel, user_id: int) -> bool:
        return await self.records.operator_by_account(channel.value, user_id) is not None

    async def coverage(self) -> list[SchoolCoverage]:
        gate = asyncio.Semaphore(self.parallel)

        async def one(figures: SchoolFigures) -> SchoolCoverage:
            # One school whose store cannot be read (down, being restored) does not hide the others.
            async with gate:
                try:
                    return await figures.read()
                except Exception as exc:
                    log.warning("district: school %s not available: %s", figures.key, type(exc).__name__)
                    return SchoolCoverage.unavailable(figures.key, figures.title)

        rows = await asyncio.gather(*(one(self.schools[key]) for key in sorted(self.schools)))
        return list(rows)


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


def render_coverage(rows: list[SchoolCoverage], t: Translator, *, html: bool = False) -> str:
    """The coverage table: one block per school, then the district's totals. `html` escapes the
    schools' titles for a messenger (parse mode HTML); the command line prints them as they are."""
    if not rows:
        return t("district.status_empty")
    shown = escape if html else str
    lines = [t("district.status_title")]
    total = SchoolCoverage("", "", 0, 0, 0, 0, 0, 0, 0)
    counted = 0
    for row in rows:
        lines.append("")
        lines.append(t("district.status_school", title=shown(row.title), key=row.key))
        if not row.available:
            lines.append(t("district.status_unavailable"))
            continue
        counted += 1
        lines.extend(_figures(row, t))
        total = SchoolCoverage(
            "", "", total.plan_done + row.plan_done, total.plan_total + row.plan_total,
            total.plan_overdue + row.plan_overdue, total.families + row.families,
            total.consent_decided + row.consent_decided, total.consent_given + row.consent_given,
            total.reached + row.reached,
        )
    lines.append("")
    lines.append(t.plural("district.status_total", counted))
    lines.extend(_figures(total, t))
    lines.append("")
    lines.append(t("district.status_note"))
    return "\n".join(lines)


def _figures(row: SchoolCoverage, t: Translator) -> list[str]:
    return [
        t("district.status_plan", done=row.plan_done, total=row.plan_total,
          percent=_percent(row.plan_done, row.plan_total), overdue=row.plan_overdue),
        t("district.status_consent", done=row.consent_decided, total=row.families,
          percent=_percent(row.consent_decided, row.families), given=row.consent_given),
        t("district.status_reached", done=row.reached, total=row.families,
          percent=_percent(row.reached, row.families)),
    ]
