"""Feeds real Updates through the real Dispatcher (handler-level tests) and runs the whole bot
against the fake Bot API server (end-to-end tests)."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update

from bot import core
from bot.app import App, build_bots, build_dispatcher, create_app, serve, stop_serving
from bot.clock import ManualClock
from bot.config import EXAMPLE_SCHOOL_CONFIG, Settings
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from scheduler.base import ManualScheduler
from tests.mocked_bot import BOT_USERNAME, MockedBot

# Monday 2026-11-30 10:00 Moscow: inside working hours.
DEFAULT_START = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def private_school_config(tmp_path: Path) -> Path:
    """The shipped example school, stating that it is not a state or municipal body
    (``operator = "private"``), so Telegram may carry everything. Most tests are about what the bot
    does, not where the law lets it say so: they use this school. The channel policy's own tests use
    the example as shipped (a municipal school, Telegram: public notices only)."""
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
    municipal = 'operator = "municipal"\n'
    assert municipal in text and 'telegram = ["public"]\n' in text, "the example's [channels] section changed"
    text = text.replace(municipal, 'operator = "private"\n').replace('telegram = ["public"]\n', "")
    path = tmp_path / "school-private.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": "123456:TEST-TOKEN",
        "database_path": tmp_path / "schoolbot.sqlite3",
        "backup_dir": tmp_path / "backups",
        "school_config": private_school_config(tmp_path),
        "admin_ids": [],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Harness:
    """The real Dispatcher with a recording mock Bot; one method per kind of user action."""

    def __init__(self, app: App, bot: MockedBot, dp: Dispatcher) -> None:
        self.app = app
        self.bot = bot
        self.dp = dp
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    @property
    def clock(self) -> ManualClock:
        assert isinstance(self.app.clock, ManualClock)
        return self.app.clock

    def _user(self, user_id: int, first_name: str = "Test", language_code: str = "ru") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    def _message(self, user_id: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": self._user(user_id),
            **content,
        }

    async def feed(self, update: dict[str, Any]) -> list[TelegramMethod[Any]]:
        """Feed one update; returns the Bot API calls it caused, in order."""
        before = len(self.bot.calls)
        update.setdefault("update_id", next(self._update_ids))
        await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))
        return self.bot.calls[before:]

    async def text(self, user_id: int, text: str, **extra: Any) -> list[TelegramMethod[Any]]:
        content: dict[str, Any] = {"text": text, **extra}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self.feed({"message": self._message(user_id, **content)})

    async def admin_start(self, user_id: int = 1) -> list[TelegramMethod[Any]]:
        """/start by an ADMIN_IDS user who is a separate IT officer, not one of the roster's: when
        the bot asks which roster IT officer they are, they answer "not in the list"."""
        calls = await self.text(user_id, "/start")
        for call in calls:
            markup = getattr(call, "reply_markup", None)
            for row in getattr(markup, "inline_keyboard", None) or []:
                for button in row:
                    if str(button.callback_data).startswith("adc:new"):
                        return calls + await self.press(user_id, str(button.callback_data))
        return calls

    async def contact(self, user_id: int, phone: str, contact_user_id: int | None) -> list[TelegramMethod[Any]]:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": "Test"}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return await self.feed({"message": self._message(user_id, contact=contact)})

    async def document(
        self, user_id: int, data: bytes, filename: str, mime_type: str = "text/csv"
    ) -> list[TelegramMethod[Any]]:
        file_id = f"file-{next(self._message_ids)}"
        self.bot.session.files[f"documents/{file_id}"] = data
        self.bot.session.files[file_id] = data
        doc = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": filename, "mime_type": mime_type,
               "file_size": len(data)}
        return await self.feed({"message": self._message(user_id, document=doc)})

    async def press(
        self, user_id: int, callback_data: str, *, message_id: int = 1, message_text: str = "…"
    ) -> list[TelegramMethod[Any]]:
        message = self._message(user_id, text=message_text)
        message["message_id"] = message_id
        message["from"] = {"id": 42, "is_bot": True, "first_name": "SchoolBot", "username": BOT_USERNAME}
        query = {
            "id": str(next(self._update_ids) * 7919),
            "from": self._user(user_id),
            "chat_instance": "ci",
            "data": callback_data,
            "message": message,
        }
        return await self.feed({"callback_query": query})


def pooled_app(settings: Settings, *, separate_reader: bool = True, **kwargs: Any) -> App:
    """create_app, with reads (by default) on a second connection that sees only what is committed,
    as a pooled backend's reads would (storage.db.Database(separate_reader=True); PostgreSQL's do): every flow
    the harness drives shows that whatever must see a transaction's rows is handed the transaction."""
    if not separate_reader:
        return create_app(settings, **kwargs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core, "make_database", functools.partial(core.make_database, separate_reader=True))
        return create_app(settings, **kwargs)


@asynccontextmanager
async def handler_harness(
    tmp_path: Path, *, start: datetime = DEFAULT_START, separate_reader: bool = True, **settings: Any
) -> AsyncIterator[Harness]:
    app = pooled_app(
        make_settings(tmp_path, **settings), separate_reader=separate_reader,
        clock=ManualClock(start), scheduler=ManualScheduler(),
    )  # fmt: skip
    await app.open()
    bot = MockedBot()
    dp = build_dispatcher(app)
    try:
        yield Harness(app, bot, dp)
    finally:
        await app.close()


WEBHOOK_SECRET = "test-webhook-secret-0123456789"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the webhook tests restart the bot on the same one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(ready: Callable[[], bool], task: asyncio.Task[None]) -> None:
    for _ in range(1000):
        if ready() or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()


@asynccontextmanager
async def running_bot(
    tg: FakeTelegram,
    tmp_path: Path,
    *,
    clock: ManualClock | None = None,
    mx: FakeMax | None = None,
    telegram: bool = True,
    webhook_port: int | None = None,
    separate_reader: bool = True,
    **settings: Any,
) -> AsyncIterator[App]:
    """The bot exactly as `schoolbot run` builds it (create_app, build_bots, serve), polling `tg` and,
    with `mx`, the fake MAX server as well (MAX_TOKEN and MAX_API_URL pointed at it). Without
    `telegram` it is a MAX-only school (no BOT_TOKEN). With `webhook_port` the updates arrive by
    webhook (WEBHOOK_URL on 127.0.0.1:`webhook_port`, the fakes allowed to post to plain HTTP).
    Yields once the bot receives updates: its first poll was made, or its webhooks are registered."""
    if mx is not None:
        settings = {"max_token": mx.token, "max_api_url": mx.base_url, **settings}
    if telegram:
        settings = {"bot_token": tg.token, "bot_api_url": tg.base_url, **settings}
    else:
        settings = {"bot_token": None, **settings}
    if webhook_port is not None:
        tg.webhooks.allow_http = True
        if mx is not None:
            mx.allow_http_webhooks = True
        settings = {
            "webhook_url": f"http://127.0.0.1:{webhook_port}/hook", "webhook_port": webhook_port,
            "webhook_secret": WEBHOOK_SECRET, **settings,
        }  # fmt: skip
    cfg = make_settings(tmp_path, **settings)
    app = pooled_app(cfg, separate_reader=separate_reader, clock=clock or ManualClock(DEFAULT_START),
                     scheduler=ManualScheduler())
    bot, max_bot = build_bots(cfg)
    tg_mark, mx_mark = len(tg.requests), len(mx.requests) if mx is not None else 0
    # Polling: the first getUpdates of each wire (MAX without a saved marker keeps only the newest
    # update, as MAX does). Webhook: the registration check, made once the server listens.
    tg_op, mx_op = ("getWebhookInfo", "getSubscriptions") if webhook_port is not None else ("getUpdates", "getUpdates")

    def ready() -> bool:
        tg_ok = not telegram or any(r.method == tg_op for r in tg.requests[tg_mark:])
        mx_ok = mx is None or any(r.operation_id == mx_op for r in mx.requests[mx_mark:])
        return app.sender is not None and tg_ok and mx_ok

    task = asyncio.create_task(serve(app, bot, handle_signals=False, max_bot=max_bot))
    try:
        await _until(ready, task)
        yield app
    finally:
        if not task.done():
            await _until(lambda: app.dispatcher is not None, task)
            await stop_serving(app)
        await asyncio.wait_for(task, timeout=15)


def csv_bytes(rows: Sequence[Sequence[str]], *, encoding: str = "cp1251", delimiter: str = ";") -> bytes:
    """As Excel writes it: quoted where a cell holds the separator, CRLF line ends."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


# A small school: an IT officer, a director, a class teacher of 5А, a subject teacher, two pupils
# of 5А, one of 6Б, a parent of two children and a parent of one.
ROSTER_ROWS: list[list[str]] = [
    ["ФИО", "Роль", "Класс", "Телефон", "Дети"],
    ["Петров Пётр Петрович", "ответственный по информатизации", "", "+7 (900) 000-00-01", ""],
    ["Сидорова Анна Ивановна", "директор", "", "8 900 000 00 02", ""],
    ["Кузнецова Ольга Николаевна", "классный руководитель, учитель", "5А", "89000000003", ""],
    ["Морозов Игорь Сергеевич", "учитель", "", "+79000000004", ""],
    ["Иванов Миша Андреевич", "ученик", "5А", "", ""],
    ["Иванова Маша Андреевна", "ученица", "6Б", "", ""],
    ["Смирнов Коля Олегович", "обучающийся", "5A", "", ""],
    ["Иванова Елена Викторовна", "родитель", "", "+7 900 000-00-05", "Иванов Миша Андреевич; Иванова Маша Андреевна"],
    ["Смирнов Олег Павлович", "родитель", "", "+7 900 000-00-06", "Смирнов Коля Олегович (5А)"],
]

# Telegram ids the tests use for the people above (phone's last digit -> id).
IT_OFFICER, DIRECTOR, CLASS_TEACHER, TEACHER, PARENT_TWO, PARENT_ONE = 1001, 1002, 1003, 1004, 1005, 1006


def roster_csv(encoding: str = "cp1251", delimiter: str = ";") -> bytes:
    return csv_bytes(ROSTER_ROWS, encoding=encoding, delimiter=delimiter)
