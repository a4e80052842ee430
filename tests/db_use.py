"""Which test modules never reach a database, and the check that keeps that list true (#27 item 6).

scripts/test.sh runs the suite twice: on SQLite, and on PostgreSQL + Redis (SCHOOLBOT_TEST_BACKEND=
postgres). A test that opens no database and starts no bot process runs the same code both times:
the backend is not in its path, so its second run could only repeat the first. `DB_FREE_MODULES`
names such modules; the second pass leaves them out (deselected, and said in the header), which
keeps both passes inside CI's time.

A list like that rots the day someone adds a database to one of its modules, so it is checked, on
every run of the first pass: while a test of a listed module runs (its fixtures' set-up and
tear-down included, so a module-scoped fixture is caught in the first test that asks for it), the
ways to a database are watched, and a test that takes one fails with the module's name:

- `sqlite3.connect`: aiosqlite, storage/snapshot.py and a test's own peek at a file all go through it;
- `psycopg.Connection.connect` / `psycopg.AsyncConnection.connect`: every PostgreSQL connection, pools
  included;
- a child process running Python (`schoolbot run`, the CLI): whatever it opens is out of sight, so
  starting one counts as opening a database.

`OWN_SERVERS_MODULES` names the other kind the second pass may leave out: modules that start their own
PostgreSQL and Redis and name them to everything they run (the ten-school, three-worker end-to-end
test), so they test PostgreSQL and Redis on both passes alike. Their check on the first pass: no SQLite
connection, and no Python child process without a DATABASE_URL of the test's own.

`SCHOOLBOT_RECORD_DB_USE=FILE` watches every module instead and appends each module's name and
verdict ("db" or "free") to FILE, one line per test process: a module is free when no line says "db".
That is how the list was made, and how to find a module to add to it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import psycopg
import pytest

# Made with SCHOOLBOT_RECORD_DB_USE on the full suite; a name here that reaches a database fails its
# test on the SQLite pass, and a name that is no module fails the collection.
DB_FREE_MODULES: frozenset[str] = frozenset({
    "test_catalog_grammar", "test_deadlines", "test_declared_paths", "test_fakeapi_limits", "test_fakeapi_messages",
    "test_fakeapi_strict", "test_faq_search", "test_i18n", "test_layering", "test_max_channels",
    "test_max_resilience", "test_max_schema", "test_max_session", "test_max_tls", "test_plan", "test_portable_sql",
    "test_print_sheets", "test_qr_card", "test_redis_rate", "test_settings",
})
# Start their own PostgreSQL and Redis for everything they run (checked as the module's text says).
OWN_SERVERS_MODULES: frozenset[str] = frozenset({"test_district_workers"})
LEFT_OUT = DB_FREE_MODULES | OWN_SERVERS_MODULES

RECORD_ENV = "SCHOOLBOT_RECORD_DB_USE"


class _Watch:
    """The test being watched (None between tests and for unlisted modules) and what it reached.
    One per process, read from any thread: aiosqlite connects in a thread of its own."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.module: str | None = None
        self.own_servers = False
        self.reached: list[str] = []

    def touch(self, what: str, *, its_own: bool = False) -> None:
        """`its_own`: a PostgreSQL connection, or a child told DATABASE_URL: allowed in OWN_SERVERS_MODULES."""
        with self.lock:
            if self.module is not None and not (its_own and self.own_servers) and len(self.reached) < 5:
                self.reached.append(what)


WATCH = _Watch()


def _is_python(argv: Any) -> bool:
    if isinstance(argv, (str, bytes, os.PathLike)):
        first = os.fsdecode(argv).split()[0] if isinstance(argv, (str, bytes)) else os.fsdecode(argv)
    else:
        args = list(argv)
        first = os.fsdecode(args[0]) if args else ""
    name = Path(first).name
    return first == sys.executable or name.startswith("python") or name == "schoolbot"


def _install() -> None:
    connect = sqlite3.connect

    def watched_sqlite_connect(*args: Any, **kwargs: Any) -> Any:
        WATCH.touch(f"sqlite3.connect({args[0] if args else kwargs.get('database')!r})")
        return connect(*args, **kwargs)

    sqlite3.connect = watched_sqlite_connect

    sync_connect = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]
    async_connect = psycopg.AsyncConnection.connect.__func__  # type: ignore[attr-defined]

    def watched_sync(cls: Any, *args: Any, **kwargs: Any) -> Any:
        WATCH.touch("psycopg.connect", its_own=True)
        return sync_connect(cls, *args, **kwargs)

    async def watched_async(cls: Any, *args: Any, **kwargs: Any) -> Any:
        WATCH.touch("psycopg.AsyncConnection.connect", its_own=True)
        return await async_connect(cls, *args, **kwargs)

    psycopg.Connection.connect = classmethod(watched_sync)  # type: ignore[assignment,method-assign]
    psycopg.AsyncConnection.connect = classmethod(watched_async)  # type: ignore[assignment,method-assign]

    popen_init = subprocess.Popen.__init__

    def watched_popen(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        if _is_python(args):
            env = kwargs.get("env")
            WATCH.touch(f"a Python child process {args!r}"[:200], its_own=bool(env and env.get("DATABASE_URL")))
        popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = watched_popen  # type: ignore[method-assign]


class DbUsePlugin:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.record = os.environ.get(RECORD_ENV)
        self.verdicts: dict[str, bool] = {}
        self.deselected = 0
        # The second pass skips the listed modules; there is nothing to check on it.
        self.checking = backend != "postgres"
        if self.checking:
            _install()

    def _watched(self, item: pytest.Item) -> str | None:
        stem = item.path.stem
        return stem if self.record or stem in LEFT_OUT else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        folder = Path(__file__).parent
        stale = sorted(name for name in LEFT_OUT if not (folder / f"{name}.py").exists())
        if stale:
            raise pytest.UsageError(f"tests/db_use.py DB_FREE_MODULES names no test module: {', '.join(stale)}")
        if self.backend != "postgres":
            return
        kept = [item for item in items if item.path.stem not in LEFT_OUT]
        dropped = [item for item in items if item.path.stem in LEFT_OUT]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
            self.deselected = len(dropped)

    def pytest_report_header(self) -> str | None:
        if self.backend == "postgres":
            return (f"PostgreSQL + Redis pass: {len(DB_FREE_MODULES)} modules that reach no database and "
                    f"{len(OWN_SERVERS_MODULES)} that start their own PostgreSQL and Redis are left out "
                    "(tests/db_use.py, checked on the SQLite pass)")
        return None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        if not self.checking:
            return (yield)
        module = self._watched(item)
        with WATCH.lock:
            WATCH.module, WATCH.reached = module, []
            WATCH.own_servers = module in OWN_SERVERS_MODULES and not self.record
        try:
            return (yield)
        finally:
            with WATCH.lock:
                WATCH.module = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report: pytest.TestReport = yield
        if not self.checking or call.when != "teardown":
            return report
        module = self._watched(item)
        with WATCH.lock:
            reached = list(WATCH.reached)
        if module is None:
            return report
        if self.record:
            self.verdicts[module] = self.verdicts.get(module, False) or bool(reached)
            return report
        if reached and report.passed:
            report.outcome = "failed"
            listed = "OWN_SERVERS_MODULES" if module in OWN_SERVERS_MODULES else "DB_FREE_MODULES"
            report.longrepr = (
                f"{item.path.name} is in {listed} (tests/db_use.py), so the PostgreSQL pass leaves it out, but "
                f"this test reached a database the pass would change: {'; '.join(reached)}. Take it off the list."
            )
        return report

    def pytest_sessionfinish(self) -> None:
        if self.record and self.verdicts:
            with open(self.record, "a", encoding="utf-8") as out:
                for module, used in sorted(self.verdicts.items()):
                    out.write(f"{module} {'db' if used else 'free'}\n")
