"""Real servers for tests: a throwaway PostgreSQL (#27 item 6).

`PgServer` runs the system's PostgreSQL binaries (Debian's `postgresql` package; scripts/test.sh
installs it) on a data folder in a temporary directory: initdb, then `postgres` listening only on a
unix socket in that folder (no TCP port is taken; the port number names the socket), with fsync
off (a test's data never needs to survive a crash of the machine); pg_ctl starts it detached. One server per session
(per xdist worker), stopped at the end; `tests/conftest.py` starts it when
SCHOOLBOT_TEST_BACKEND=postgres or when a test asks for `pg_server`.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the `postgres`
system user (created by the package), which owns the temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from storage.db import Database
from storage.district import schema_name, school_store_path
from storage.pg import PgDatabase, translate

PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"


def pg_bin_dir() -> Path | None:
    """The folder with initdb and postgres, or None when PostgreSQL is not installed."""
    for folder in PG_BIN_DIRS:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(os.path.realpath(found)).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    bin_dir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="schoolbot-pg-")))
    port: int = field(default_factory=_free_port)
    _started: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL for `dbname` over the unix socket."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", SUPERUSER, "--", *argv]

    def start(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            self._as_owner([
                str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync",
            ]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        # pg_ctl detaches the server (it is not a child of this process), so the suite's guard
        # against orphaned children (tests/conftest.py) leaves it alone; -w waits until it accepts.
        options = " ".join([
            "-c listen_addresses=''", f"-c unix_socket_directories={self.socket_dir}", f"-p {self.port}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c max_connections=200", "-c shared_buffers=32MB",
        ])  # fmt: skip
        result = subprocess.run(
            self._as_owner([
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                "-o", options, "-w", "-t", "60", "start",
            ]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
        self._started = True
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr.decode(errors="replace")
            raise RuntimeError(f"PostgreSQL did not start: {tail}")
        self._wait_ready(time.monotonic() + 30)

    def _wait_ready(self, deadline: float) -> None:
        while True:
            try:
                with psycopg.connect(self.dsn(), autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self._started:
            self._started = False
            subprocess.run(
                self._as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)


def start_pg_server() -> PgServer | None:
    """A running throwaway server, or None when the binaries are missing."""
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        return None
    server = PgServer(bin_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


# --- a fresh database per test ------------------------------------------------------------------

TEMPLATE = "schoolbot_template"
BACKEND_ENV = "SCHOOLBOT_TEST_BACKEND"


def backend_under_test() -> str:
    """"sqlite" (the default) or "postgres": which backend every database a test opens lives on."""
    value = os.environ.get(BACKEND_ENV, "sqlite").strip().lower() or "sqlite"
    if value not in ("sqlite", "postgres"):
        raise RuntimeError(f"{BACKEND_ENV} must be sqlite or postgres, not {value!r}")
    return value


def prepare_template(server: PgServer) -> None:
    """Migrate once into a template database; each test's database is a file copy of it (about
    25 ms on the CI machine, against about 120 ms for running the migrations into a fresh schema)."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")

    async def migrate() -> None:
        db = PgDatabase(server.dsn(TEMPLATE), min_size=1, max_size=1)
        await db.open()
        await db.close()

    asyncio.run(migrate())


class FreshDatabases:
    """The databases one test opens: each a copy of the template, dropped when the test ends. One
    per name (a path or a URL key), so a test that reopens its database finds its rows again."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self._names: dict[str, str] = {}
        self._admin: Any = None

    def url(self, key: str = "settings") -> str:
        if key not in self._names:
            if self._admin is None:
                self._admin = psycopg.connect(self.server.dsn(), autocommit=True)
            name = f"t_{os.getpid()}_{next(_COUNTER)}"
            self._admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
            self._names[key] = name
        return self.server.dsn(self._names[key])

    def database(self, path: Path | str = ":memory:", *, separate_reader: bool = False) -> Any:
        """What `storage.db.Database(path)` gives a test on SQLite, on PostgreSQL: a PgDatabase on
        the database kept for `path` (":memory:" is always a new one, as on SQLite)."""
        if str(path) == ":memory:":
            key = f"memory-{next(_COUNTER)}"
        else:
            # The first file a test names is the one its settings name too (a test that reopens the
            # app's database by its path, as `schoolbot` would): the DATABASE_URL database. Another
            # file is another database.
            key = f"path:{path}"
            if key not in self._names and not any(k.startswith("path:") for k in self._names):
                self.url()
                self._names[key] = self._names["settings"]
        return PgDatabase(self.url(key), min_size=1, max_size=4)

    def for_settings(self, make: Any) -> Any:
        """`storage.backend.make_database` for the PostgreSQL pass: settings that name the test's
        DATABASE_URL get the database kept for their DATABASE_PATH, as `database` gives it, so two
        schools a test builds side by side (two files on SQLite) are two databases here too, and the
        first one is the DATABASE_URL database a child process or `query_test_database` reads."""

        def make_database(settings: Any, *, separate_reader: bool = False) -> Any:
            url = settings.database_url.get_secret_value() if settings.database_url is not None else None
            if url is None or url != self.url() or settings.database_schema != "school":
                return make(settings, separate_reader=separate_reader)
            return self.database(settings.database_path)

        return make_database

    def drop(self) -> None:
        if self._admin is None:
            return
        for name in self._names.values():
            with contextlib.suppress(Exception):
                self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._admin.close()
        self._admin = None
        self._names.clear()


_COUNTER = itertools.count(1)


def query_test_database(sqlite_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on the database a test's bot or command used, from outside it (a child
    process wrote it, or the app is closed): the SQLite file at `sqlite_path`, or on the PostgreSQL
    pass the test's DATABASE_URL database. `sql` is written as for SQLite (`?` placeholders)."""
    if backend_under_test() == "postgres":
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("SET search_path TO school")
            return [tuple(r) for r in conn.execute(translate(sql), params).fetchall()]
    with contextlib.closing(sqlite3.connect(sqlite_path)) as lite:
        return [tuple(r) for r in lite.execute(sql, params).fetchall()]


# --- a school's store in a district, on either backend ------------------------------------------


def school_store_rows(district_dir: Path, key: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on a district school's store, as `schoolbot district` made it: its SQLite
    file under the district's folder, or on the PostgreSQL pass its schema in the DATABASE_URL
    database. `sql` is written as for SQLite."""
    if backend_under_test() == "postgres":
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema_name(key)}"')
            return [tuple(r) for r in conn.execute(translate(sql), params).fetchall()]
    with contextlib.closing(sqlite3.connect(school_store_path(district_dir, key))) as lite:
        return [tuple(r) for r in lite.execute(sql, params).fetchall()]


def school_store_database(district_dir: Path, key: str) -> Any:
    """A district school's store to open in a test, on the backend under test (closed by the test)."""
    if backend_under_test() == "postgres":
        return PgDatabase(os.environ["DATABASE_URL"], schema=schema_name(key), min_size=1, max_size=1)
    return Database(school_store_path(district_dir, key))


def make_unopenable(db: Any, sqlite_path: Path) -> None:
    """Damage a store (not open) so that opening it fails, as a real damaged store does: on SQLite
    its file is not a database; on PostgreSQL its schema says a version newer than this program (a
    schema a newer schoolbot migrated, then rolled back to this one), which `open` refuses."""
    if isinstance(db, PgDatabase):
        assert db.url is not None
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f'UPDATE "{db.schema}".schema_version SET version = 999999')
        return
    sqlite_path.write_bytes(b"not a database at all" * 100)
