"""Clear start-up and run-time errors: one line that says what to do, once per change of state.

- The data folders (database, backups) are checked before the database opens: a read-only, full or
  unusable folder stops the start with one Russian line (exit code 2), never a traceback.
- The Bot API is waited for with a growing pause: one line when it becomes unreachable, one when it
  is back; a token Telegram refuses stops the start (retrying cannot fix it). While polling, the
  per-attempt lines aiogram logs are folded into the same two lines.
- Optional calls (the command list) never stop the bot: one line, then retries in the background.
- A write that fails at run time (disk full, folder turned read-only) is one line, not one per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import User
from aiogram.utils.backoff import BackoffConfig

from bot.config import ConfigError, Settings, startup_text
from storage.db import private_dir, write_refusal

log = logging.getLogger("schoolbot")

MIN_FREE_MB = 10  # below this the database cannot be trusted to grow (WAL, migrations, backups)
# The Bot API is retried after 1, 2, 4 ... seconds, at most API_BACKOFF_CAP apart.
API_BACKOFF_FIRST = 1.0
API_BACKOFF_CAP = 60.0
# While polling, at most this long: a user's message should not wait a minute after an outage.
POLLING_BACKOFF_CAP = 10.0
# The command list is retried after 1, 2, 4 ... minutes, at most 30 minutes apart.
COMMANDS_RETRY_FIRST = 60.0
COMMANDS_RETRY_CAP = 1800.0

_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL = {errno.ENOSPC, errno.EDQUOT}


class StartupError(ConfigError):
    """The bot cannot start; the message is one line for the operator (the CLI exits with 2)."""


class StateLog:
    """Logs a line when a condition changes (ok -> failing, one failure -> another, failing -> ok),
    never one per attempt."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger
        self.state: str | None = None

    def fail(self, state: str, message: str, *, level: int = logging.WARNING) -> None:
        if state != self.state:
            self.logger.log(level, message)
            self.state = state

    def ok(self, message: str) -> None:
        if self.state is not None:
            self.logger.info(message)
            self.state = None


# --- the data folders -----------------------------------------------------------------------------


def _free_mb(folder: Path) -> int:
    return int(shutil.disk_usage(folder).free // 2**20)


def _folder_error(folder: Path, exc: OSError) -> StartupError:
    detail = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return StartupError(startup_text("data_full", path=folder, free=_free_mb(folder), need=MIN_FREE_MB))
    if exc.errno in _READ_ONLY:
        return StartupError(startup_text("data_read_only", path=folder, detail=detail))
    return StartupError(startup_text("data_unusable", path=folder, detail=detail))


def check_data_folder(folder: Path) -> None:
    """Create `folder` if needed and prove it takes a write; StartupError (one line) if not."""
    try:
        private_dir(folder)
        probe = folder / f".schoolbot-write-test-{os.getpid()}"
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                probe.unlink()
    except OSError as exc:
        raise _folder_error(folder, exc) from None
    free = _free_mb(folder)
    if free < MIN_FREE_MB:
        raise StartupError(startup_text("data_full", path=folder, free=free, need=MIN_FREE_MB))


def check_data_folders(settings: Settings) -> None:
    folders = [settings.backup_dir]
    if str(settings.database_path) != ":memory:":
        folders.insert(0, settings.database_path.parent)
    for folder in dict.fromkeys(f.absolute() for f in folders):
        check_data_folder(folder)


def write_failure(exc: BaseException, path: Path) -> tuple[str, str] | None:
    """(state, one line) when `exc` is the storage refusing writes (full disk, read-only folder)."""
    full = isinstance(exc, OSError) and exc.errno in _FULL
    read_only = isinstance(exc, OSError) and exc.errno in _READ_ONLY
    refusal = write_refusal(exc)  # the storage driver's own words for the same two cases
    full = full or refusal == "full"
    read_only = read_only or refusal == "read_only"
    folder = path.absolute().parent
    if full:
        return "full", startup_text("write_failed_full", path=folder)
    if read_only:
        return "read_only", startup_text("write_failed_read_only", path=folder)
    return None


# --- the Bot API ------------------------------------------------------------------------------


def _api_detail(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"


async def wait_for_bot_api(bot: Bot, settings: Settings, state: StateLog) -> User:
    """getMe until it succeeds, with a growing pause (a webhook left over while polling is
    bot.webhook.drop_leftover_webhook's, reported rather than deleted silently)."""
    url = settings.bot_api_url or "https://api.telegram.org"
    delay = API_BACKOFF_FIRST
    while True:
        try:
            me = await bot.get_me()
        except TelegramUnauthorizedError as exc:
            raise StartupError(startup_text("api_unauthorized", detail=exc.message)) from None
        except TelegramAPIError as exc:
            state.fail("api", startup_text("api_unreachable", detail=_api_detail(exc), url=url,
                                           cap=f"{API_BACKOFF_CAP:g}"))
            await asyncio.sleep(delay)
            delay = min(API_BACKOFF_CAP, delay * 2)
            continue
        state.ok(startup_text("api_recovered"))
        return me


class PollingLogFilter(logging.Filter):
    """Folds aiogram's per-attempt polling lines ("Failed to fetch updates", "Sleep for ...",
    "Connection established") into the one-line-per-change StateLog of the Bot API."""

    def __init__(self, state: StateLog, settings: Settings) -> None:
        super().__init__()
        self.state = state
        self.url = settings.bot_api_url or "https://api.telegram.org"

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Failed to fetch updates"):
            args = record.args if isinstance(record.args, tuple) else ()
            kind = str(args[0]) if args else "error"
            detail = f"{kind}: {args[1]}" if len(args) > 1 else kind
            if kind == "TelegramUnauthorizedError":
                self.state.fail("unauthorized", startup_text("api_unauthorized", detail=detail), level=logging.ERROR)
            else:
                self.state.fail("api", startup_text("api_unreachable", detail=detail, url=self.url,
                                                    cap=f"{POLLING_BACKOFF_CAP:g}"))
            return False
        if message.startswith("Sleep for"):
            return False
        if message.startswith("Connection established"):
            self.state.ok(startup_text("api_recovered"))
            return False
        return True


# --- optional calls ---------------------------------------------------------------------------------


async def keep_trying(
    call: Callable[[], Awaitable[object]], state: StateLog, *, failed_key: str, recovered_key: str,
    first: float, cap: float, wait_first: bool = False,
) -> None:
    """Run `call` until it succeeds, pausing `first`, then twice as long each time (at most `cap`):
    one line when it fails, one when it succeeds again."""
    delay = first
    if wait_first:
        await asyncio.sleep(delay)
        delay = min(cap, delay * 2)
    while True:
        try:
            await call()
        except TelegramAPIError as exc:
            minutes = max(1, round(delay / 60))
            state.fail(failed_key, startup_text(failed_key, detail=_api_detail(exc), minutes=minutes))
            await asyncio.sleep(delay)
            delay = min(cap, delay * 2)
            continue
        state.ok(startup_text(recovered_key))
        return


async def try_or_retry(
    call: Callable[[], Awaitable[object]], *, failed_key: str, recovered_key: str
) -> asyncio.Task[None] | None:
    """Try an optional call now; when it fails, say so in one line and keep retrying in a
    background task (returned, for shutdown to cancel). The bot goes on either way."""
    state = StateLog()
    try:
        await call()
    except TelegramAPIError as exc:
        minutes = max(1, round(COMMANDS_RETRY_FIRST / 60))
        state.fail(failed_key, startup_text(failed_key, detail=_api_detail(exc), minutes=minutes))
        return asyncio.create_task(keep_trying(
            call, state, failed_key=failed_key, recovered_key=recovered_key,
            first=COMMANDS_RETRY_FIRST, cap=COMMANDS_RETRY_CAP, wait_first=True,
        ), name=f"retry-{failed_key}")
    return None


def polling_backoff() -> BackoffConfig:
    """aiogram's pause between failed polls: the same growing pause as the start-up wait."""
    return BackoffConfig(min_delay=API_BACKOFF_FIRST, max_delay=POLLING_BACKOFF_CAP, factor=2.0, jitter=0.1)
