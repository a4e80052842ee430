"""One process owns a database at a time.

`schoolbot run`, `restore` and `import` take an exclusive `flock` on `<database>.lock` and hold it
for the life of the process (the kernel drops it when the process ends, however it ends, so a
stale lock file is harmless). A second holder fails at once with `DatabaseBusy`, which names the
process that holds the lock (its pid and command, written into the lock file by the holder).

The lock file is separate from the database so that restore can move the database file itself
aside while holding the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from storage.db import StorageError


class DatabaseBusy(StorageError):
    """Another process holds the database's lock."""

    def __init__(self, db_path: Path, holder_pid: int | None, holder_command: str) -> None:
        super().__init__(f"database {db_path} is in use by another schoolbot process ({holder_pid} {holder_command})")
        self.db_path = db_path
        self.holder_pid = holder_pid
        self.holder_command = holder_command


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


class DatabaseLock:
    """An exclusive, non-blocking lock on a database file for this process."""

    def __init__(self, db_path: Path | str, command: str) -> None:
        self.db_path = Path(db_path)
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DatabaseLock:
        if self._fd is not None or str(self.db_path) == ":memory:":
            return self
        path = lock_path(self.db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            os.close(fd)
            pid = int(holder[0]) if holder and holder[0].isdigit() else None
            raise DatabaseBusy(self.db_path, pid, " ".join(holder[1:2])) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.command}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> DatabaseLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
