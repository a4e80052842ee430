"""The roster: people, their roles and parent-child links; their messenger accounts come along
(storage.accounts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.channels import Channel
from bot.domain.people import Account, Person, class_sort_key
from bot.domain.people import RosterRecord as RosterRecord  # the domain's value, re-exported
from bot.unit_of_work import Connection, Transaction, UnitOfWork
from storage.accounts import account_of, in_channel_order
from storage.db import database_of, fetchall_in, raw
from storage.dialect import Fetch, returning_id, rows_for_ids
from storage.merge import MergeReport, merge_person
from storage.sql import Row
from storage.timefmt import to_db

# A person with their roles and accounts in one query: each person's row comes once per (role,
# account) pair (a few at most) and is grouped here, in the order the query gives the people.
# String or JSON aggregation would give one row per person, but each engine spells it its own way.
_PERSON_SELECT = (
    "SELECT p.id, p.roster_key, p.full_name, p.class_label, p.phone, p.lang, p.active, r.role,"
    " a.id AS account_id, a.channel, a.user_id, a.username, a.unreachable_reason, a.unreachable_at, a.linked_at,"
    " a.via_own_at, a.via_district_at"
    " FROM persons p LEFT JOIN person_roles r ON r.person_id = p.id LEFT JOIN accounts a ON a.person_id = p.id"
)
# Roles alone, for the readers that need no accounts (storage.ops, storage.year).
_ROLES = "SELECT person_id, role FROM person_roles WHERE person_id IN ({ids})"


async def roles_of_people(fetch: Fetch, person_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """person id -> their roles (people without a role are absent)."""
    found: dict[int, set[str]] = {}
    for row in await rows_for_ids(fetch, _ROLES, person_ids):
        found.setdefault(int(row[0]), set()).add(str(row[1]))
    return {pid: frozenset(roles) for pid, roles in found.items()}


def _people(rows: Iterable[Row]) -> list[Person]:
    """Persons of `_PERSON_SELECT` rows, in the order each first appears."""
    first: dict[int, Row] = {}
    roles: dict[int, set[str]] = {}
    accounts: dict[int, dict[int, Account]] = {}
    for row in rows:
        pid = int(row["id"])
        first.setdefault(pid, row)
        if row["role"] is not None:
            roles.setdefault(pid, set()).add(str(row["role"]))
        if row["account_id"] is not None:
            accounts.setdefault(pid, {})[int(row["account_id"])] = account_of(row, "account_id")
    return [
        Person(
            id=row["id"],
            roster_key=row["roster_key"],
            full_name=row["full_name"],
            class_label=row["class_label"],
            phone=row["phone"],
            lang=row["lang"],
            active=bool(row["active"]),
            roles=frozenset(roles.get(pid, ())),
            accounts=in_channel_order(accounts.get(pid, {}).values()),
        )
        for pid, row in first.items()
    ]


class PersonRepo:
    def __init__(self, db: UnitOfWork, conn: Connection | None = None) -> None:
        self.db = database_of(db)
        self._conn = None if conn is None else raw(conn)

    @staticmethod
    async def merge(conn: Transaction, *, duplicate_id: int, into_id: int, now: datetime) -> MergeReport:
        """storage.merge's merge_person, reachable through the repository (the `People` port)."""
        return await merge_person(conn, duplicate_id=duplicate_id, into_id=into_id, now=now)

    def on(self, conn: Connection) -> PersonRepo:
        """The same reads on `conn`: a caller inside a write transaction passes it, so the reads see
        what the transaction wrote and has not committed (an account just linked, a consent just
        recorded). Without it the reads go to the database's own read handle, which only today's
        single SQLite connection happens to share with the writer."""
        return PersonRepo(self.db, conn)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._conn is None:
            return await self.db.fetchall(sql, params)
        return await fetchall_in(self._conn, sql, params)

    async def _many(self, where: str, params: Sequence[Any] = ()) -> list[Person]:
        return _people(await self._fetchall(f"{_PERSON_SELECT} WHERE {where}", params))

    async def get(self, person_id: int) -> Person | None:
        found = await self._many("p.id = ?", (person_id,))
        return found[0] if found else None

    async def get_many(self, ids: Iterable[int]) -> list[Person]:
        id_list = list(ids)
        if not id_list:
            return []
        marks = ",".join("?" * len(id_list))
        return await self._many(f"p.id IN ({marks}) ORDER BY p.full_name", id_list)

    async def by_account(self, channel: Channel, user_id: int) -> Person | None:
        """The active person linked to this messenger account (user ids are compared within their
        channel only: a Telegram id and a MAX id with the same number are different people)."""
        found = await self._many(
            "p.active = 1 AND p.id = (SELECT a.person_id FROM accounts a WHERE a.channel = ? AND a.user_id = ?)",
            (channel.value, user_id),
        )
        return found[0] if found else None

    async def by_phone(self, phone: str) -> list[Person]:
        return await self._many("p.phone = ? AND p.active = 1", (phone,))

    async def by_key(self, roster_key: str) -> Person | None:
        found = await self._many("p.roster_key = ?", (roster_key,))
        return found[0] if found else None

    async def active(self) -> list[Person]:
        return await self._many("p.active = 1 ORDER BY p.class_label NULLS FIRST, p.full_name")

    async def with_role(self, role: str, class_label: str | None = None) -> list[Person]:
        where = "p.active = 1 AND EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = ?)"
        params: list[Any] = [role]
        if class_label is not None:
            where += " AND p.class_label = ?"
            params.append(class_label)
        return await self._many(where + " ORDER BY p.class_label NULLS FIRST, p.full_name", params)

    async def children(self, parent_id: int) -> list[Person]:
        return await self._many(
            "p.active = 1 AND p.id IN (SELECT child_id FROM guardians WHERE parent_id = ?)"
            " ORDER BY p.class_label NULLS FIRST, p.full_name",
            (parent_id,),
        )

    async def parents(self, child_id: int) -> list[Person]:
        return await self._many(
            "p.active = 1 AND p.id IN (SELECT parent_id FROM guardians WHERE child_id = ?) ORDER BY p.full_name",
            (child_id,),
        )

    async def parents_of_class(self, class_label: str) -> list[Person]:
        return await self._many(
            "p.active = 1 AND p.id IN (SELECT g.parent_id FROM guardians g JOIN persons c ON c.id = g.child_id"
            " WHERE c.class_label = ? AND c.active = 1) ORDER BY p.full_name",
            (class_label,),
        )

    async def classes(self) -> list[str]:
        rows = await self._fetchall(
            "SELECT DISTINCT p.class_label FROM persons p JOIN person_roles r ON r.person_id = p.id"
            " WHERE r.role = 'student' AND p.active = 1 AND p.class_label IS NOT NULL"
        )
        return sorted((r[0] for r in rows), key=class_sort_key)

    async def children_classes(self) -> dict[int, frozenset[str]]:
        """Parent id -> the classes of their active children."""
        rows = await self._fetchall(
            "SELECT g.parent_id, c.class_label FROM guardians g JOIN persons c ON c.id = g.child_id"
            " WHERE c.active = 1 AND c.class_label IS NOT NULL"
        )
        classes: dict[int, set[str]] = {}
        for row in rows:
            classes.setdefault(int(row[0]), set()).add(str(row[1]))
        return {k: frozenset(v) for k, v in classes.items()}

    async def count_active(self) -> int:
        rows = await self._fetchall("SELECT count(*) FROM persons WHERE active = 1")
        return int(rows[0][0] or 0) if rows else 0

    async def unclaimed_it_officers(self, channel: Channel = Channel.TELEGRAM) -> list[Person]:
        """Roster IT officers with no account on ``channel`` yet: who an ADMIN_IDS user (or whoever
        spent an admin token there) may be."""
        return await self._many(
            "p.active = 1 AND p.roster_key NOT LIKE 'admin:%'"
            " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = p.id AND a.channel = ?)"
            " AND EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id AND r.role = 'it_officer')"
            " ORDER BY p.full_name",
            (channel.value,),
        )

    async def bootstrap_admins(self) -> list[Person]:
        """Active IT officer records made from a Telegram display name, not from the roster."""
        return await self._many("p.active = 1 AND p.roster_key LIKE 'admin:%' ORDER BY p.full_name")

    async def unreachable(self) -> list[Person]:
        """Active people one of whose messengers refused delivery."""
        return await self._many(
            "p.active = 1 AND EXISTS (SELECT 1 FROM accounts a WHERE a.person_id = p.id"
            " AND a.unreachable_at IS NOT NULL) ORDER BY p.full_name"
        )

    # --- writes: call inside Database.transaction() with its connection -------------------------

    @staticmethod
    async def set_lang(conn: Transaction, person_id: int, lang: str | None, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute("UPDATE persons SET lang = ?, updated_at = ? WHERE id = ?", (lang, to_db(now), person_id))

    @staticmethod
    async def create(
        conn: Transaction,
        *,
        roster_key: str,
        full_name: str,
        roles: Iterable[str],
        now: datetime,
        class_label: str | None = None,
        phone: str | None = None,
    ) -> int:
        conn = raw(conn)
        person_id = await returning_id(
            conn,
            "INSERT INTO persons(roster_key, full_name, class_label, phone, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (roster_key, full_name, class_label, phone, to_db(now), to_db(now)),
        )
        await conn.executemany(
            "INSERT INTO person_roles(person_id, role) VALUES (?, ?)", [(person_id, r) for r in sorted(set(roles))]
        )
        return person_id

    @staticmethod
    async def active_children_ids(conn: Connection, parent_ids: Iterable[int]) -> dict[int, list[int]]:
        """Each parent's active children (ids, in the order `children` lists them), read on `conn`:
        inside a write transaction it sees that transaction's rows (the consent gate's reads)."""
        conn = raw(conn)
        wanted = list(dict.fromkeys(parent_ids))
        out: dict[int, list[int]] = {pid: [] for pid in wanted}
        # In slices: the gate may ask for every parent of the school at once (the status views).
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            rows = await fetchall_in(
                conn,
                "SELECT g.parent_id, p.id FROM guardians g JOIN persons p ON p.id = g.child_id"
                f" WHERE p.active = 1 AND g.parent_id IN ({', '.join('?' * len(part))})"
                " ORDER BY p.class_label NULLS FIRST, p.full_name",
                part,
            )
            for row in rows:
                out[int(row[0])].append(int(row[1]))
        return out

    @staticmethod
    async def id_by_key(conn: Connection, roster_key: str) -> int | None:
        conn = raw(conn)
        rows = await fetchall_in(conn, "SELECT id FROM persons WHERE roster_key = ?", (roster_key,))
        return int(rows[0]["id"]) if rows else None

    @staticmethod
    async def reactivate(conn: Transaction, person_id: int, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute(
            "UPDATE persons SET active = 1, merged_into = NULL, updated_at = ? WHERE id = ?", (to_db(now), person_id)
        )

    @staticmethod
    async def add_role(conn: Transaction, person_id: int, role: str) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO person_roles(person_id, role) VALUES (?, ?) ON CONFLICT DO NOTHING", (person_id, role)
        )

    @staticmethod
    async def snapshot(conn: Connection) -> dict[str, RosterRecord]:
        """The roster as it is, keyed like an import, read inside the import's transaction."""
        conn = raw(conn)
        people = _people(await fetchall_in(conn, f"{_PERSON_SELECT} WHERE p.active = 1"))
        keys = {p.id: p.roster_key for p in people}
        links = await fetchall_in(conn, "SELECT parent_id, child_id FROM guardians")
        children: dict[int, set[str]] = {}
        for link in links:
            if link["child_id"] in keys:
                children.setdefault(link["parent_id"], set()).add(keys[link["child_id"]])
        result = {}
        for p in people:
            result[p.roster_key] = RosterRecord(
                roster_key=p.roster_key,
                full_name=p.full_name,
                class_label=p.class_label,
                phone=p.phone,
                roles=p.roles,
                children=frozenset(children.get(p.id, set())),
            )
        return result

    @staticmethod
    async def apply_roster(
        conn: Transaction, records: Sequence[RosterRecord], *, deactivate_missing: bool, now: datetime
    ) -> None:
        """Upsert every record by roster key; messenger accounts and ids survive."""
        conn = raw(conn)
        stamp = to_db(now)
        ids: dict[str, int] = {}
        for rec in records:
            await conn.execute(
                "INSERT INTO persons(roster_key, full_name, class_label, phone, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(roster_key) DO UPDATE SET full_name = excluded.full_name,"
                " class_label = excluded.class_label, phone = excluded.phone, active = 1,"
                " updated_at = excluded.updated_at",
                (rec.roster_key, rec.full_name, rec.class_label, rec.phone, stamp, stamp),
            )
            rows = await fetchall_in(conn, "SELECT id FROM persons WHERE roster_key = ?", (rec.roster_key,))
            person_id = int(rows[0]["id"])
            ids[rec.roster_key] = person_id
            await conn.execute("DELETE FROM person_roles WHERE person_id = ?", (person_id,))
            await conn.executemany(
                "INSERT INTO person_roles(person_id, role) VALUES (?, ?)",
                [(person_id, role) for role in sorted(rec.roles)],
            )
        for rec in records:
            parent_id = ids[rec.roster_key]
            await conn.execute("DELETE FROM guardians WHERE parent_id = ?", (parent_id,))
            await conn.executemany(
                "INSERT INTO guardians(parent_id, child_id) VALUES (?, ?)",
                [(parent_id, ids[child]) for child in sorted(rec.children)],
            )
        if deactivate_missing:
            keep = list(ids.values())
            marks = ",".join("?" * len(keep)) or "NULL"
            # IT officers bootstrapped outside the roster stay, so the bot never locks its admin out.
            await conn.execute(
                f"UPDATE persons SET active = 0, updated_at = ? WHERE active = 1 AND id NOT IN ({marks})"
                " AND roster_key NOT LIKE 'admin:%'",
                (stamp, *keep),
            )
