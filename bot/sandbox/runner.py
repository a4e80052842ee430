"""The sandbox process: a fake Telegram Bot API server, a demo school and the real bot, together.

The bot is built exactly as `schoolbot run` builds it (create_app, build_bot, serve) and talks HTTP
to `bot.fakeapi.FakeTelegram` on 127.0.0.1, so every capability that is installed shows up by
itself. Time is a ManualClock moved by `travel()`, which runs the sweeps the way the scheduler
would have run them in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import App, build_bots, create_app, serve
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG, Settings, load_school_config
from bot.fakeapi import FakeTelegram, FakeUser, SentMessage
from bot.fakemax import FakeMax
from bot.fakemax.user import FakeMaxUser
from bot.sandbox.clock_args import (
    NIGHTLY_BACKUP_AT,
    _allowed_hour,
    _has_people,
    _prepare_data_dir,
    default_start,
    school_config_path,
)
from bot.sandbox.demo import PERSONAS, DemoReport, load_demo, school_year_of
from bot.sandbox.options import SandboxOptions, SandboxProblem
from bot.sandbox.people import SandboxPeople
from bot.sandbox.wires import PlayedUser
from bot.services.exports import write_private
from bot.tg.limiter import SendLimiter, limiter_of
from scheduler.base import ManualScheduler
from storage.delivery import DeliveryRepo
from storage.timefmt import from_db

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "700000:SANDBOX-TOKEN"  # noqa: S105 - the fake server's token, not a secret
SANDBOX_MAX_TOKEN = "sandbox-max-token"  # noqa: S105 - the fake MAX server's token, not a secret
# Requests that are the bot waiting, not the bot working.
_IDLE_METHODS = frozenset({"getUpdates"})


@dataclass
class ChatCursor:
    """What a persona has already seen of their chat: messages by index, edits per message."""

    seen: int = 0
    edits_seen: dict[int, int] = field(default_factory=dict)


def demo_private_school(data_dir: Path) -> Path:
    """The shipped example as a school that is not a state or municipal body (``operator =
    "private"``): the Telegram-only sandbox shows every screen in Telegram. With MAX (``--max``) the
    example stays as shipped, a municipal school, so the sandbox shows the channel policy at work."""
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
    text = text.replace('operator = "municipal"\n', 'operator = "private"\n').replace('telegram = ["public"]\n', "")
    path = data_dir / "school.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Sandbox(SandboxPeople):
    """Owns the fake server, the app and the polling task. Use `Sandbox.running(options)`."""

    def __init__(self, tg: FakeTelegram, app: App, options: SandboxOptions, mx: FakeMax | None = None) -> None:
        self.tg = tg
        self.mx = mx
        self.max_users: dict[str, FakeMaxUser] = {}
        self.app = app
        self.options = options
        self.demo_report = DemoReport()
        self.users: dict[str, FakeUser] = {}
        self.cursors: dict[int, ChatCursor] = {}
        self.files_dir = options.data_dir / "files"
        self._task: asyncio.Task[None] | None = None
        self.limiter: SendLimiter | None = None
        self.max_limiter: SendLimiter | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def running(cls, options: SandboxOptions) -> AsyncIterator[Sandbox]:
        data_dir = options.data_dir
        _prepare_data_dir(data_dir, options.keep)

        school_config = school_config_path(data_dir)
        if not school_config.exists() and not options.max:
            school_config = demo_private_school(data_dir)
        school = load_school_config(school_config)
        tz = ZoneInfo(school.school.timezone)
        clock = ManualClock(options.start or default_start(datetime.now(UTC), tz))
        # Message dates follow the sandbox clock, so what the chat shows matches the time travel.
        async with FakeTelegram(token=SANDBOX_TOKEN, bot_username="schoolbot_sandbox_bot",
                                now=lambda: clock.now().timestamp()) as tg, AsyncExitStack() as stack:
            mx: FakeMax | None = None
            if options.max:
                mx = await stack.enter_async_context(
                    FakeMax(token=SANDBOX_MAX_TOKEN, bot_username="schoolbot_sandbox_bot",
                            now=lambda: clock.now().timestamp()))
            it_officer = next(p for p in PERSONAS if p.key == "it_officer").person
            settings = Settings(
                _env_file=None,  # the sandbox never reads the operator's .env
                bot_token=SANDBOX_TOKEN,
                bot_api_url=tg.base_url,
                database_path=data_dir / "schoolbot.sqlite3",
                backup_dir=data_dir / "backups",
                school_config=school_config,
                admin_ids=[it_officer.tg_id] if it_officer.tg_id else [],
                max_token=SANDBOX_MAX_TOKEN if mx is not None else None,
                max_api_url=mx.base_url if mx is not None else None,
            )
            start = clock.now()
            app = create_app(settings, clock=clock, scheduler=ManualScheduler(), school=school)
            sandbox = cls(tg, app, options, mx)
            kept = options.keep and await _has_people(app)
            await app.open()
            if options.demo and not kept:
                local = start.astimezone(tz)
                sandbox.demo_report = await load_demo(app, school_year=school_year_of(local.year, local.month))
            # Both wires exactly as `schoolbot run` builds them with BOT_TOKEN and MAX_TOKEN.
            bot, max_bot = build_bots(settings)
            sandbox.limiter = limiter_of(bot)
            sandbox.max_limiter = limiter_of(max_bot) if max_bot is not None else None
            sandbox._task = asyncio.create_task(serve(app, bot, handle_signals=False, max_bot=max_bot))
            try:
                await sandbox._wait_started()
                if options.demo and options.prelink and not kept:
                    await sandbox._prelink()
                yield sandbox
            finally:
                await sandbox._stop()

    async def _wait_started(self) -> None:
        assert self._task is not None
        for _ in range(1000):
            if self.app.sender is not None or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()
            raise RuntimeError("the bot stopped during start")

    async def _stop(self) -> None:
        dp = self.app.dispatcher
        if self._task is None:
            return
        if dp is not None and not self._task.done():
            with suppress(RuntimeError):
                await dp.stop_polling()
        try:
            await asyncio.wait_for(self._task, timeout=15)
        finally:
            if self.app.db.is_open:  # stopped before serve() closed it
                await self.app.close()

    async def _prelink(self) -> None:
        """Link some personas through the real flow, so their menus work at once."""
        for persona in PERSONAS:
            if persona.prelink == "contact":
                user = self.user_for(persona.person)
                if persona.key != "it_officer":
                    # The IT officer is in ADMIN_IDS: a /start before linking would make a new
                    # admin-only person instead of linking the roster one, so they only share.
                    await self.act(user, user.send("/start"))
                await self.act(user, user.share_contact(user.phone))
            elif persona.prelink == "token":

                person = await self._roster_person(persona.person)
                if person is None:
                    continue
                token = await self.app.services.onboarding.create_token(
                    purpose="link", person_id=person, created_by=None
                )
                user = self.user_for(persona.person)
                await self.act(user, user.send(f"/start {token}"))
        # What the prelinking said is history: personas start with nothing unread.
        for persona in PERSONAS:
            if persona.person.tg_id is not None:
                self.mark_read(persona.person.tg_id)

    # -- messages -------------------------------------------------------------------------------

    def cursor(self, chat_id: int) -> ChatCursor:
        return self.cursors.setdefault(chat_id, ChatCursor())

    def unread(self, chat_id: int) -> list[tuple[SentMessage, bool]]:
        """New messages and edited ones since last read: (message, is_edit)."""
        cur = self.cursor(chat_id)
        out: list[tuple[SentMessage, bool]] = []
        messages = self.sent(chat_id)
        for index, message in enumerate(messages):
            if index >= cur.seen:
                out.append((message, False))
            elif len(message.edits) > cur.edits_seen.get(message.message_id, 0):
                out.append((message, True))
        return out

    def mark_read(self, chat_id: int) -> None:
        cur = self.cursor(chat_id)
        messages = self.sent(chat_id)
        cur.seen = len(messages)
        cur.edits_seen = {m.message_id: len(m.edits) for m in messages}

    def unread_counts(self) -> dict[int, int]:
        chats = {m.chat_id for m in self.sent()}
        counts = {chat: len(self.unread(chat)) for chat in chats}
        return {chat: n for chat, n in counts.items() if n}

    def save_file(self, message: SentMessage) -> Path | None:
        if message.file is None:
            return None
        folder = self.files_dir / self.name_of(message.chat_id).replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        default = "file.bin"
        if message.method == "sendPhoto":
            default = "photo.png" if message.file.startswith(b"\x89PNG") else "photo.jpg"
        name = Path(message.filename or default).name
        path = folder / f"{message.message_id:04d}-{name}"
        if not path.exists():
            # Saved cards and registers carry codes and personal data: 0600 like every export.
            write_private(path, message.file)
        return path

    # -- waiting --------------------------------------------------------------------------------

    def _busy(self) -> bool:
        # A handler still running (a register, a chart or a code sheet being drawn in a thread sends
        # nothing and writes nothing for a while) is not idleness: wait for its file as for a message.
        guard = self.app.update_guard
        if guard is not None and guard.in_flight > 0:
            return True
        # A reply waiting for its chat's next second in the send limiter is not idleness.
        if self.limiter is not None and self.limiter.waiting:
            return True
        if self.max_limiter is not None and self.max_limiter.waiting:
            return True
        if self.mx is not None and any(
            r.status is None and r.operation_id not in _IDLE_METHODS for r in self.mx.requests
        ):
            return True
        return any(r.status is None and not r.dropped and r.method not in _IDLE_METHODS for r in self.tg.requests)

    def _requests(self) -> int:
        return len(self.tg.requests) + (len(self.mx.requests) if self.mx is not None else 0)

    def _pending(self) -> bool:
        return bool(self.tg.pending_updates() or (self.mx is not None and self.mx.pending_updates()))

    def _db_changes(self) -> int:
        return self.app.db.total_changes

    async def _outbox_busy(self) -> bool:
        """Due outbox rows not sent yet, or sends in flight (the sender paces each chat at about
        one message per second of real time, so several messages to one person take a while)."""
        sender = self.app.sender
        if sender is not None and sender.in_flight:
            return True
        due = await DeliveryRepo(self.app.db).next_due_at()
        return due is not None and from_db(due) <= self.clock.now()

    async def settle(self, *, quiet: float = 0.15, limit: float = 10.0, since: int | None = None) -> None:
        """Wait until the bot looks done: the update(s) were fetched, nothing is in flight and
        neither the fake server nor the database saw anything new for `quiet` seconds.

        A heuristic (the bot gives no "idle" signal), good enough for a sandbox; scripts' `expect`
        steps wait for their message on top of it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        if since is not None:
            # The fake server has no "fetched" event to wait on; polling it is cheap.
            while self._pending() and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        marker = (self._requests(), self._db_changes())
        quiet_since = loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(0.02)
            now_marker = (self._requests(), self._db_changes())
            if now_marker != marker or self._busy() or await self._outbox_busy():
                marker = now_marker
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= quiet:
                return

    async def act(self, user: FakeUser | PlayedUser, action: Any) -> int:
        """Run a user action (a coroutine of FakeUser) and wait for the bot to settle."""
        update_id: int = await action
        await self.settle(since=update_id)
        return update_id

    # -- time -----------------------------------------------------------------------------------

    @property
    def clock(self) -> ManualClock:
        assert isinstance(self.app.clock, ManualClock)
        return self.app.clock

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.app.school.school.timezone)

    def local_now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    def tick_times(self, start: datetime, end: datetime) -> list[datetime]:
        """The moments between `start` (exclusive) and `end` (inclusive) to run the sweeps at.

        The scheduler sweeps every minute; replaying that over days would be slow, so the sandbox
        ticks hourly while people may be messaged (outside quiet hours), which is when reminders
        are allowed to fire anyway, and once at each quiet-hours start. Over long jumps (more than
        two weeks) it ticks three times per day: at work start, midday and work end. Every night
        it also ticks inside the backup window, so time travel takes the nightly backup too."""
        hours = self.app.school.hours
        tz = self.tz
        local_start = start.astimezone(tz)
        local_end = end.astimezone(tz)
        long_jump = end - start > timedelta(days=14)
        if long_jump:
            slots = sorted({NIGHTLY_BACKUP_AT, hours.work_start, time(13, 0), hours.work_end})
        else:
            slots = [time(h, 0) for h in range(24) if _allowed_hour(h, hours.quiet_start, hours.quiet_end)]
            slots = sorted({*slots, hours.quiet_start, hours.work_start, NIGHTLY_BACKUP_AT})
        moments: list[datetime] = []
        day = local_start.date()
        while day <= local_end.date():
            for slot in slots:
                moment = datetime.combine(day, slot, tzinfo=tz)
                if local_start < moment < local_end:
                    moments.append(moment.astimezone(UTC))
            day += timedelta(days=1)
        moments.append(end.astimezone(UTC))
        return moments

    async def travel(self, target: datetime) -> int:
        """Move the clock to `target` in steps, sweeping at each; returns how many ticks ran."""
        now = self.clock.now()
        if target <= now:
            raise SandboxProblem("time_backwards", when=f"{now.astimezone(self.tz):%Y-%m-%d %H:%M}")
        moments = self.tick_times(now, target)
        for moment in moments:
            self.clock.set(moment)
            before = (self._db_changes(), self._requests())
            await self.app.tick()
            # Let the woken sender pick up what the sweep enqueued before the clock moves on, so
            # messages go out at the time they were due. Ticks that changed nothing need no wait.
            await asyncio.sleep(0)
            if (self._db_changes(), self._requests()) != before:
                await self.settle(quiet=0.1)
        await self.settle()
        return len(moments)


# Half an hour into the ops sweep's nightly backup window (school time).
