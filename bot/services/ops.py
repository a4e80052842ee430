"""The operations sweep (the status capability's, every minute): the nightly backup of the bot's own database and the
end-of-year archive reminder (item 19). The quarterly journal backup (item 16) is a plan task like
any other: its reminders are the plan reminders (bot.services.reminders), and logging a backup
closes that quarter's occurrence.

The year-end reminder is enqueued only while `now` is an allowed sending time (working hours of a
working day, outside quiet hours). Dedupe keys name the year and person, so a restart or the next
minute's sweep never repeats one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.channels import DataClass
from bot.config import SchoolConfig
from bot.domain.access import ADMIN_ROLE
from bot.domain.messages import Payload
from bot.i18n import Catalog
from bot.services.backup import BackupService
from bot.services.outbox import Outbox
from bot.services.repos import OpsRecords, People
from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

BACKUP_WINDOW = (time(2, 0), time(5, 0))  # school-local; the nightly backup runs inside it
BACKUP_ATTEMPTS_PER_NIGHT = 3
YEAR_END_DAY = (5, 20)  # May 20 or the next working day; the archive is due by the end of May


@dataclass(kw_only=True, eq=False)
class OpsService:
    """The status capability's minute (its `sweep`): year-end reminders, the nightly backup."""

    school: SchoolConfig
    db: UnitOfWork
    people: People
    catalog: Catalog
    outbox: Outbox
    backup: BackupService
    ops_repo: OpsRecords


    def allowed_now(self, now: datetime) -> bool:
        return self.school.calendar.send_window(now) == now

    def is_working_day(self, day: date) -> bool:
        return self.school.calendar.is_working_day(day)

    def working_day_on_or_after(self, day: date) -> date:
        for _ in range(30):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        return day

    async def nightly_backup(self, now: datetime) -> bool:
        """Take today's backup inside the night window unless one already succeeded today."""
        if not self.backup.can_back_up():
            return False
        local = now.astimezone(self.school.tz)
        if not BACKUP_WINDOW[0] <= local.time() < BACKUP_WINDOW[1]:
            return False
        day = local.date().isoformat()
        if await self.ops_repo.has_db_backup_on(day):
            return False
        if await self.ops_repo.db_backup_attempts_on(day) >= BACKUP_ATTEMPTS_PER_NIGHT:
            return False
        result = await self.backup.take_backup()
        return result.ok

    def year_end_day(self) -> date:
        month, day = YEAR_END_DAY
        return self.working_day_on_or_after(date(self.school.school_year.year + 1, month, day))

    async def year_end(self, now: datetime) -> int:
        today = now.astimezone(self.school.tz).date()
        start = self.year_end_day()
        if not start <= today <= date(start.year, 5, 31) or not self.allowed_now(now):
            return 0
        year = self.school.school_year.year
        teachers = [p for p in await self.people.with_role("class_teacher") if p.reachable]
        officers = [p for p in await self.people.with_role(ADMIN_ROLE) if p.reachable]
        sent = 0
        notify = self.outbox.notify
        async with self.db.transaction() as conn:
            for person in teachers:
                if person.has_role(ADMIN_ROLE):
                    continue
                t = self.catalog.translator_for(person)
                sent += await notify(
                    conn, person, data_class=DataClass.PUBLIC, key=f"ops:yearend:{year}:{person.id}",
                    kind="text", payload=Payload(text=t("status.year_end.teacher")), now=now,
                )
            for person in officers:
                t = self.catalog.translator_for(person)
                sent += await notify(
                    conn, person, data_class=DataClass.PUBLIC, key=f"ops:yearend:{year}:{person.id}",
                    kind="text", payload=Payload(text=t("status.year_end.it_officer")), now=now,
                )
                # The printable consent register for the archive folder (renderer: bot.services.report).
                sent += await notify(
                    conn, person, data_class=DataClass.PERSONAL_FILE,
                    key=f"ops:yearend:{year}:{person.id}:register", kind="document",
                    payload=Payload(text=t("status.year_end.consent_register"), renderer="ops_consent_register",
                                    args={"format": "pdf", "lang": t.lang}),
                    now=now,
                )
        return sent

    async def sweep(self, now: datetime) -> None:
        await self.year_end(now)
        try:
            await self.nightly_backup(now)
        except Exception:
            log.exception("nightly database backup failed")
