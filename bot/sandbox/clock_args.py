"""The sandbox's time arguments and data folder: start moments, time-travel targets, quiet-hour slots."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import App
from bot.sandbox.options import SandboxProblem
from bot.services.ops import BACKUP_WINDOW


def parse_start(value: str, tz: ZoneInfo) -> datetime:
    """"2026-12-01 10:00" (or an ISO date) in the school's time zone -> aware UTC."""
    text = value.strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=tz).astimezone(UTC)
    raise SandboxProblem("time_format", value=value)


NIGHTLY_BACKUP_AT = time(BACKUP_WINDOW[0].hour, 30)


def _allowed_hour(hour: int, quiet_start: time, quiet_end: time) -> bool:
    moment = time(hour, 0)
    if quiet_start > quiet_end:  # wraps midnight
        return quiet_end <= moment < quiet_start
    return not (quiet_start <= moment < quiet_end)


def _exists(path: Path) -> bool:
    return path.exists()


def school_config_path(data_dir: Path) -> Path:
    """./school.toml when there is one, else a missing path, so the shipped example is used."""
    local = Path("school.toml")
    return local if local.is_file() else data_dir / "missing-school.toml"


def _prepare_data_dir(data_dir: Path, keep: bool) -> None:
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)


def default_start(now: datetime, tz: ZoneInfo) -> datetime:
    """The next working day (Mon-Fri) after today, 10:00 school time."""
    day = now.astimezone(tz).date() + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(10, 0), tzinfo=tz).astimezone(UTC)


async def _has_people(app: App) -> bool:
    if not _exists(app.settings.database_path):
        return False
    await app.open()
    return await app.people.count_active() > 0


def parse_time_arg(arg: str, now: datetime, tz: ZoneInfo) -> datetime:
    """`+3d`, `+2h`, `+30m`, `+1w`, or an absolute 'YYYY-MM-DD HH:MM' in school time."""
    text = arg.strip()
    if text.startswith("+"):
        units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
        total = 0
        number = ""
        for ch in text[1:]:
            if ch.isdigit():
                number += ch
            elif ch in units and number:
                total += int(number) * units[ch]
                number = ""
            elif ch != " ":
                raise SandboxProblem("time_duration", value=arg)
        if number or total == 0:
            raise SandboxProblem("time_duration", value=arg)
        return now + timedelta(seconds=total)
    return parse_start(text, tz)
