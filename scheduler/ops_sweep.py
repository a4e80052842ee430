"""The operations sweep, every minute: the nightly backup of the bot's own database and the
end-of-year archive reminder (item 19). The quarterly journal backup (item 16) is a plan task like
any other: its reminders are the plan reminders (bot.services.reminders), and logging a backup
closes that quarter's occurrence.

The year-end reminder is enqueued only while `now` is an allowed sending time (working hours of a
working day, outside quiet hours). Dedupe keys name the year and person, so a restart or the next
minute's sweep never repeats one.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from bot.channels import DataClass
from bot.domain.access import ADMIN_ROLE
from bot.services import backup as backup_service
from bot.services.outbox import notify
from storage import ops
from storage.outbox import Payload

if TYPE_CHECKING:
    from bot.services.core import Core

log = logging.getLogger(__name__)

BACKUP_WINDOW = (time(2, 0), time(5, 0))  # school-local; the nightly backup runs inside it
BACKUP_ATTEMPTS_PER_NIGHT = 3
YEAR_END_DAY = (5, 20)  # May 20 or the next working day; the archive is due by the end of May


def allowed_now(app: Core, now: datetime) -> bool:
    return app.school.calendar.send_window(now) == now


def is_working_day(app: Core, day: date) -> bool:
    return day.isoweekday() in app.school.hours.working_days and day not in app.school.hours.holidays


def working_day_on_or_after(app: Core, day: date) -> date:
    for _ in range(30):
        if is_working_day(app, day):
            return day
        day += timedelta(days=1)
    return day


async def nightly_backup(app: Core, now: datetime) -> bool:
    """Take today's backup inside the night window unless one already succeeded today."""
    if str(app.db.path) == ":memory:":
        return False
    local = now.astimezone(app.school.tz)
    if not BACKUP_WINDOW[0] <= local.time() < BACKUP_WINDOW[1]:
        return False
    day = local.date().isoformat()
    if await ops.has_db_backup_on(app.db, day):
        return False
    if await ops.db_backup_attempts_on(app.db, day) >= BACKUP_ATTEMPTS_PER_NIGHT:
        return False
    result = await backup_service.take_backup(app)
    return result.ok


def year_end_day(app: Core) -> date:
    month, day = YEAR_END_DAY
    return working_day_on_or_after(app, date(app.school.school_year.year + 1, month, day))


async def year_end(app: Core, now: datetime) -> int:
    today = now.astimezone(app.school.tz).date()
    start = year_end_day(app)
    if not start <= today <= date(start.year, 5, 31) or not allowed_now(app, now):
        return 0
    year = app.school.school_year.year
    teachers = [p for p in await app.people.with_role("class_teacher") if p.reachable]
    officers = [p for p in await app.people.with_role(ADMIN_ROLE) if p.reachable]
    sent = 0
    async with app.db.transaction() as conn:
        for person in teachers:
            if person.has_role(ADMIN_ROLE):
                continue
            t = app.translator_for(person)
            sent += await notify(
                app, conn, person, data_class=DataClass.PUBLIC, key=f"ops:yearend:{year}:{person.id}",
                kind="text", payload=Payload(text=t("status.year_end.teacher")), now=now,
            )
        for person in officers:
            t = app.translator_for(person)
            sent += await notify(
                app, conn, person, data_class=DataClass.PUBLIC, key=f"ops:yearend:{year}:{person.id}",
                kind="text", payload=Payload(text=t("status.year_end.it_officer")), now=now,
            )
            # The printable consent register for the archive folder (renderer: bot.services.report).
            sent += await notify(
                app, conn, person, data_class=DataClass.PERSONAL_FILE, key=f"ops:yearend:{year}:{person.id}:register",
                kind="document",
                payload=Payload(text=t("status.year_end.consent_register"), renderer="ops_consent_register",
                                args={"format": "pdf", "lang": t.lang}),
                now=now,
            )
    return sent


async def sweep(app: Core, now: datetime) -> None:
    await year_end(app, now)
    try:
        await nightly_backup(app, now)
    except Exception:
        log.exception("nightly database backup failed")
