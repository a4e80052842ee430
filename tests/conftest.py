from __future__ import annotations

import itertools
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
from aiogram import Bot

from bot import core as bot_core
from bot.fakeapi import FakeTelegram
from bot.fakemax import FakeMax
from tests.db_use import DbUsePlugin
from tests.harness import Harness, handler_harness
from tests.redis_server import SESSION_SERVER_PIDS, RedisServer, redis_server, redis_url  # noqa: F401 - fixtures (#27)
from tests.servers import FreshDatabases, PgServer, backend_under_test, prepare_template, start_pg_server

# SCHOOLBOT_TEST_BACKEND=postgres (scripts/test.sh runs the suite both ways): every database a test
# opens is a fresh PostgreSQL database (#27), through the settings (DATABASE_URL) and through the
# test modules' own `Database(...)`. A test about the SQLite file itself is marked `sqlite_only`.
BACKEND = backend_under_test()
_PREFIXES = itertools.count(1)

# Tests that start the bot or the CLI as child processes: each child imports aiogram and the rest
# (seconds of CPU), and several of them wait on those children with time limits. Under
# `pytest -n 2 --dist loadgroup` (scripts/test.sh) they all run on one worker, one at a time,
# while the other worker takes the in-process tests, so two heavy children never race each other.
PROCESS_MODULES = frozenset({
    "test_broadcast", "test_cli", "test_cli_quiet", "test_code_gate", "test_codes", "test_codes_cli",
    "test_consent_flows", "test_consent_form", "test_db_lock", "test_faults", "test_faults_process",
    "test_graceful_stop", "test_outbox_workers_process", "test_print_ready", "test_print_sheets",
    "test_school_year", "test_startup_errors",
    "test_sandbox", "test_sandbox_scripts", "test_sandbox_tidy", "test_redis_workers", "test_district_workers",
    "test_packaging",
})


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(DbUsePlugin(BACKEND), "schoolbot-db-use")
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about the SQLite file itself (backup, restore, locks); skipped on PostgreSQL"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in PROCESS_MODULES:
            item.add_marker(pytest.mark.xdist_group("processes"))
        marker = item.get_closest_marker("sqlite_only")
        if BACKEND == "postgres" and marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "about the SQLite file")
            item.add_marker(pytest.mark.skip(reason=f"sqlite only: {reason}"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL for this session (this xdist worker), with the migrated template."""
    server = start_pg_server()
    if server is None:
        if BACKEND == "postgres":
            pytest.fail("SCHOOLBOT_TEST_BACKEND=postgres but PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed")
    try:
        prepare_template(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_databases(pg_server: PgServer) -> Iterator[FreshDatabases]:
    """Fresh PostgreSQL databases for one test, dropped after it."""
    databases = FreshDatabases(pg_server)
    try:
        yield databases
    finally:
        databases.drop()


@pytest.fixture(autouse=True)
def _storage_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if BACKEND != "postgres":
        yield
        return
    databases: FreshDatabases = request.getfixturevalue("pg_databases")
    monkeypatch.setenv("DATABASE_URL", databases.url())
    # The second pass is the district's set-up, PostgreSQL and Redis (#27 "Done when"): every bot a
    # test builds from settings keeps its conversations and its send budget in Redis, under a prefix
    # of its own (a test's keys never meet another's, and the server is not flushed under a test).
    server: RedisServer = request.getfixturevalue("redis_server")
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("REDIS_PREFIX", f"t{os.getpid()}n{next(_PREFIXES)}")
    monkeypatch.setattr(bot_core, "make_database", databases.for_settings(bot_core.make_database))
    if request.module is not None and hasattr(request.module, "Database"):
        monkeypatch.setattr(request.module, "Database", databases.database)
    yield


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with handler_harness(tmp_path, admin_ids=[1]) as h:
        yield h


@pytest.fixture
async def tg(request: pytest.FixtureRequest) -> AsyncIterator[FakeTelegram]:
    # Modules marked `bare_fake` test the fake itself: a bare Bot without the bot's send limiter
    # (the rate limits are tested on their own), and the fake must not fail inside.
    bare = request.node.get_closest_marker("bare_fake") is not None
    async with FakeTelegram(rate_limited=not bare) as server:
        yield server
    if bare:
        assert server.internal_errors == []


@pytest.fixture
async def mx() -> AsyncIterator[FakeMax]:
    """A fake MAX that must not break its own schema or fail inside (a module may define its own)."""
    async with FakeMax() as server:
        yield server
    assert server.response_violations == []
    assert server.internal_errors == []


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    bot = tg.make_bot()
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs a CLI command in this process calls setup_logging, which sets the root logger
    to ERROR or WARNING (basicConfig(force=True)); restored afterwards, so a later test on the same
    worker still sees the WARNING lines it reads through caplog."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


@pytest.fixture(autouse=True)
def _no_orphan_processes() -> Iterator[None]:
    """A test that starts the bot as a process and then fails before stopping it must not leave it
    polling for the rest of the run (orphans load the machine and skew every later timing)."""
    yield
    for child in psutil.Process().children(recursive=True):
        if child.pid in SESSION_SERVER_PIDS:  # a server kept for the whole session (tests/redis_server.py)
            continue
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
