"""A throwaway redis-server for the tests (issue #27): one per test session (per xdist worker), on a
free port of 127.0.0.1, its working folder in a temporary directory, nothing persisted (`--save ""`,
no append-only file), stopped when the session ends.

redis-server comes from the system's package manager (scripts/test.sh installs it in CI). Without the
binary the tests that need it skip, except in CI (`CI` set), where a missing server is a failure: a
suite that silently skips its Redis half would pass without testing it.

`redis_url` gives each test an empty database (FLUSHALL before the test), so tests never see each
other's keys. The server is a child of the test process: tests/conftest.py's orphan sweep leaves the
pids in SESSION_SERVER_PIDS alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import free_port

# Session-scoped servers (redis-server here) that the per-test orphan sweep must not kill.
SESSION_SERVER_PIDS: set[int] = set()

START_TIMEOUT = 10.0


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """redis-server on 127.0.0.1:`port` with its folder in `workdir`; `url` to connect."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # A free port can be taken between the check and the bind: a few tries.
        for _ in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                    "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                    "--logfile", str(self.workdir / "redis.log"),
                ],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            SESSION_SERVER_PIDS.add(self.process.pid)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.process.poll() is None:
                if _ping(self.port):
                    return
                time.sleep(0.02)  # a child process starting: no event to wait on
            self.stop()
        log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"redis-server did not start:\n{log}")

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            if not sock.recv(16).startswith(b"+OK"):
                raise RuntimeError("FLUSHALL failed")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        SESSION_SERVER_PIDS.discard(process.pid)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (scripts/test.sh installs it): the Redis tests cannot run")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis database, for this test alone."""
    redis_server.flush()
    return redis_server.url
