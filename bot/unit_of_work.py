"""The storage backend as services see it: a unit of work and the handles it gives out, as
Protocols with no SQL in them (issue #27, step 1).

Services never hold a database driver's objects. They hold a `UnitOfWork` (today
storage.db.Database on aiosqlite), take a `Transaction` from it for every write, and pass that
object on, explicitly, to every repository method and listener that must see the transaction's
uncommitted rows (a consent recorded and the codes it releases, in one transaction). Reads outside
a write take the unit's `conn`. Only storage/ looks inside these handles (storage.db.raw): a
repository of another backend (PostgreSQL) would open its own.

The handles are opaque on purpose: they carry no `execute`, so no SQL can be written above
storage/. `Transaction` adds no member to `Connection` today, since one aiosqlite connection is
both the reader and the writer; the two names say which one a function needs, and a backend with a
pool (a read connection distinct from the transaction's) will tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class Connection(Protocol):
    """A handle to read through (and, inside a transaction, to write through); opaque above
    storage/. `in_transaction` is the one thing a caller may ask of it."""

    @property
    def in_transaction(self) -> bool: ...


class Transaction(Connection, Protocol):
    """A write transaction in progress: whatever is passed this object sees its uncommitted rows
    and writes into it, so it commits or rolls back with everything else the transaction did."""


class UnitOfWork(Protocol):
    """Where services read and open write transactions. `transaction()` commits when its block
    ends and rolls everything back when it raises; `after_commit` runs a callback once the
    transaction in progress commits (never if it rolls back)."""

    @property
    def conn(self) -> Connection: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...
