"""Who holds a lease: one id per worker (an outbox sender, a scheduler's ticks), unique across
processes and hosts, never reused after a restart.

An owner id is ``<host>#<pid>#<random>``. ``<host>`` names the process's pid namespace on this
boot of this machine (the host name, the kernel's boot id and the pid namespace's inode), because
that is exactly where a process id means something: two workers whose ``<host>`` is equal see the
same processes, so one can tell from the pid whether the other still runs (``os.kill(pid, 0)``);
two containers with the same host name, or a machine after a reboot, are different hosts. The
random part tells two owners of one process apart (a process may run several senders, one per
bot) and a process from an earlier one that had the same pid (pid 1 in a restarted container).

Whether an owner is alive: on the same host, by its pid, and for our own pid by whether this
process made it (``_OURS``); on another host it cannot be known, so its leases are taken over only
once they expire (the lease's time, see storage/delivery.py and storage/sweep_runs.py).
"""

from __future__ import annotations

import os
import secrets
import socket
from functools import cache
from pathlib import Path

# Owner ids made by this process that are still in use (registered by their holder, dropped when it
# stops): an owner of our own pid that is not here belongs to an earlier process with our pid.
_OURS: set[str] = set()


@cache
def host_id() -> str:
    """This pid namespace on this boot of this machine (computed once per process)."""
    parts = [socket.gethostname() or "host"]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:8])
    except OSError:
        parts.append("-")
    try:
        # "pid:[4026531836]": the namespace's inode; containers on one machine differ here.
        parts.append(os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]"))
    except OSError:
        parts.append("-")
    # '#' separates the owner id's fields, so it never appears inside one.
    return "/".join(parts).replace("#", "_")


def new_owner() -> str:
    """A fresh owner id for a worker of this process (see the module docstring)."""
    return f"{host_id()}#{os.getpid()}#{secrets.token_hex(6)}"


def hold(owner: str) -> None:
    """`owner` is in use by this process (until `drop`)."""
    _OURS.add(owner)


def drop(owner: str) -> None:
    _OURS.discard(owner)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def known_dead(owner: str) -> bool:
    """Whether `owner` is certainly gone: a process of this host that no longer runs, or an owner of
    this very process that is no longer in use (an earlier process with our pid, or a sender that
    stopped without handing its leases back). Owners of other hosts are never known dead: their
    leases expire instead. An id that does not parse is not ours to judge either."""
    fields = owner.split("#")
    if len(fields) != 3 or fields[0] != host_id() or not fields[1].isdigit():
        return False
    pid = int(fields[1])
    if pid == os.getpid():
        return owner not in _OURS
    return not _pid_alive(pid)
