"""Retention (#24 item 3): who is due for destruction, what the database holds of them, the
destruction itself and its append-only record.

One list of steps (`_steps`) says, for one person, what is counted and what is removed, so the
dry run counts exactly what the real run removes. Steps run in order: outbox rows are found
through the person's code deliveries before the codes (and their deliveries) go; conversation
state is found through the messenger ids before those are cleared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# These values are the domain's (bot/domain/retention.py), re-exported for storage's callers.
from bot.domain.retention import BACKUP as BACKUP
from bot.domain.retention import KINDS as KINDS
from bot.domain.retention import LEFT as LEFT
from bot.domain.retention import WITHDRAWAL as WITHDRAWAL
from bot.domain.retention import Candidate as Candidate
from bot.domain.retention import DestructionRecord as DestructionRecord
from bot.unit_of_work import Transaction, UnitOfWork
from storage import dialect
from storage.db import database_of, fetchone_in, raw
from storage.sql import Row, SqlConn
from storage.timefmt import from_db, to_db


@dataclass(frozen=True)
class _Step:
    kind: str
    count: str  # SELECT count(*)-like SQL whose every parameter is the person id
    actions: tuple[str, ...]  # statements whose every parameter is the person id
    left_only: bool = False
    needs: str | None = None  # a table another capability adds; the step is skipped without it


# A private chat's FSM key is "<bot>:<chat>:<user>:..." with the chat equal to the user.
_FSM = "key LIKE '%:' || u.uid || ':' || u.uid || ':%'"
# Outbox rows addressed to the person, and the cards of their codes delivered to someone else (a
# parent receives the child's card): both carry the person's name or code in their payload.
_OUTBOX = (
    "(person_id = ? OR dedupe_key IN (SELECT d.outbox_key FROM code_deliveries d JOIN codes c ON c.id = d.code_id"
    " WHERE c.person_id = ? AND d.outbox_key IS NOT NULL))"
)

_STEPS: tuple[_Step, ...] = (
    _Step("messages", f"SELECT count(*) FROM outbox WHERE {_OUTBOX} AND payload != '{{}}'", (
        # Nothing left to send: a pending or dead row is cancelled, every payload emptied, the chat
        # forgotten; the row itself stays for the send counts.
        f"UPDATE outbox SET payload = '{{}}', account_id = NULL, last_error = NULL,"
        f" status = CASE WHEN status IN ('pending', 'dead') THEN 'cancelled' ELSE status END"
        f" WHERE {_OUTBOX} AND (payload != '{{}}' OR status IN ('pending', 'dead'))",
    )),
    _Step("codes", "SELECT count(*) FROM codes WHERE person_id = ?", (
        "DELETE FROM code_requests WHERE requester_id = ? OR target_id = ?",
        "DELETE FROM code_deliveries WHERE recipient_id = ?",
        "UPDATE codes SET replaced_by = NULL WHERE replaced_by IN (SELECT id FROM codes WHERE person_id = ?)",
        "DELETE FROM codes WHERE person_id = ?",
    )),
    _Step("tickets", "SELECT count(*) FROM tickets WHERE asker_id = ?", (
        # An FAQ entry the IT officer wrote from a question stays (it is the school's text), unlinked.
        "UPDATE faq_extra SET ticket_id = NULL WHERE ticket_id IN (SELECT id FROM tickets WHERE asker_id = ?)",
        "DELETE FROM tickets WHERE asker_id = ?",
    )),
    _Step("links", "SELECT count(*) FROM link_tokens WHERE person_id = ?", (
        "DELETE FROM link_tokens WHERE person_id = ?",
    )),
    _Step("phone", "SELECT count(*) FROM persons WHERE id = ? AND phone IS NOT NULL", (
        "UPDATE persons SET phone = NULL WHERE id = ?",
    )),
    # Survey answers stay for the results, no longer linked to the person (#26's table).
    _Step("surveys", "SELECT count(*) FROM survey_answers WHERE person_id = ?", (
        "UPDATE survey_answers SET person_id = NULL WHERE person_id = ?",
        "DELETE FROM survey_reminders WHERE person_id = ?",
    ), needs="survey_answers"),
    _Step("family", "SELECT count(*) FROM guardians WHERE parent_id = ? OR child_id = ?", (
        "DELETE FROM guardians WHERE parent_id = ? OR child_id = ?",
    ), left_only=True),
    _Step("name", "SELECT count(*) FROM persons WHERE id = ? AND purged_at IS NULL", (), left_only=True),
)


# A withdrawal row `{w}` that still stands: the same representative has not given consent again
# since (bot.domain.consent's family rule: another parent's "given" does not lift a withdrawal).
_STANDING = (
    "{w}.decision = 'withdrawn' AND NOT EXISTS (SELECT 1 FROM consent_ledger g WHERE g.child_id = {w}.child_id"
    " AND coalesce(g.parent_id, -1) = coalesce({w}.parent_id, -1) AND g.id > {w}.id AND g.decision = 'given')"
)


def _record(row: Row) -> DestructionRecord:
    return DestructionRecord(
        id=row["id"], at=from_db(row["at"]), reason=row["reason"], person_id=row["person_id"],
        withdrawal_row=row["withdrawal_row"], what=json.loads(row["what"]), actor=row["actor"],
        channel=row["channel"],
    )


# Where a person's messenger accounts live: columns of persons (001, 015), or rows of `accounts`
# (#23, migration 017). The purge reads the schema and handles both, so it runs before and after.
_PERSON_ACCOUNT_COLUMNS = (
    "tg_user_id", "tg_username", "linked_at", "unreachable_at", "unreachable_reason", "max_user_id", "max_username",
    "max_linked_at", "max_unreachable_at", "preferred_channel", "lang",
)


async def _steps(conn: SqlConn, reason: str) -> list[_Step]:
    tables = await dialect.tables(conn)
    person_columns = set(await dialect.columns(conn, "persons"))
    ids = [f"SELECT {c} AS uid FROM persons WHERE id = ? AND {c} IS NOT NULL"
           for c in ("tg_user_id", "max_user_id") if c in person_columns]
    account_steps: list[_Step] = []
    if "accounts" in tables:
        ids.append("SELECT user_id AS uid FROM accounts WHERE person_id = ?")
        # The account row stays, unlinked and without its name: a ledger row or a spent token may
        # name it (what proves who pressed); nothing joins it back to the person any more.
        account_columns = set(await dialect.columns(conn, "accounts"))
        cleared = [f"{c} = NULL" for c in ("username", "linked_at", "unreachable_at", "unreachable_reason",
                                            "via_own_at", "via_district_at")
                   if c in account_columns]
        account_steps.append(_Step("accounts", "SELECT count(*) FROM accounts WHERE person_id = ?", (
            f"UPDATE accounts SET {', '.join(['person_id = NULL', *cleared])} WHERE person_id = ?",
        )))
    linked = [c for c in ("tg_user_id", "max_user_id") if c in person_columns]
    clear = [f"{c} = NULL" for c in _PERSON_ACCOUNT_COLUMNS if c in person_columns]
    if clear:
        count = " + ".join(f"(CASE WHEN {c} IS NULL THEN 0 ELSE 1 END)" for c in linked) or "0"
        account_steps.append(_Step("accounts", f"SELECT {count} FROM persons WHERE id = ?", (
            f"UPDATE persons SET {', '.join(clear)} WHERE id = ?",
        )))
    ids_sql = " UNION ".join(ids) or "SELECT NULL AS uid WHERE 1 = 0"
    conversation = _Step("conversation", f"SELECT count(*) FROM fsm, ({ids_sql}) u WHERE {_FSM}", (
        f"DELETE FROM fsm WHERE EXISTS (SELECT 1 FROM ({ids_sql}) u WHERE {_FSM})",
    ))
    steps = [s for s in _STEPS if (reason == LEFT or not s.left_only) and (s.needs is None or s.needs in tables)]
    # Conversation state is found through the messenger ids, so before the accounts go.
    return [steps[0], conversation, *steps[1:], *account_steps]


def _each(sql: str, value: object) -> tuple[object, ...]:
    """`value` for every mark of `sql` (the steps name the person several times; `?1` is SQLite's)."""
    return (value,) * sql.count("?")


class RetentionRepo:
    def __init__(self, db: UnitOfWork) -> None:
        self.db = database_of(db)

    async def left_before(self, cutoff: datetime) -> list[Candidate]:
        """Inactive people not yet purged whose leaving is at or before `cutoff`."""
        rows = await self.db.fetchall(
            "SELECT id, inactive_since FROM persons WHERE active = 0 AND purged_at IS NULL"
            " AND inactive_since IS NOT NULL AND inactive_since <= ? ORDER BY id",
            (to_db(cutoff),),
        )
        return [Candidate(int(r["id"]), LEFT, from_db(r["inactive_since"])) for r in rows]

    async def withdrawals_before(self, cutoff: datetime) -> list[Candidate]:
        """Withdrawals at or before `cutoff` that still stand (no "given" for the child since), not
        yet carried out: the child's, and the withdrawing parent's own once none of their children
        is left under consent (the consent covers the parent's data in the bot too). A parent who is
        also staff keeps their data: the school processes staff data on another ground."""
        stamp = to_db(cutoff)
        child_rows = await self.db.fetchall(
            "SELECT w.id, w.child_id AS person_id, w.created_at FROM consent_ledger w"
            " JOIN persons p ON p.id = w.child_id"
            f" WHERE {_STANDING.format(w='w')} AND w.created_at <= ? AND p.purged_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM destruction_records d WHERE d.withdrawal_row = w.id"
            "                 AND d.person_id = w.child_id)"
            " ORDER BY w.id",
            (stamp,),
        )
        parent_rows = await self.db.fetchall(
            "SELECT w.id, w.parent_id AS person_id, w.created_at FROM consent_ledger w"
            " JOIN persons p ON p.id = w.parent_id"
            f" WHERE {_STANDING.format(w='w')} AND w.created_at <= ? AND p.purged_at IS NULL"
            " AND w.id = (SELECT max(x.id) FROM consent_ledger x WHERE x.parent_id = w.parent_id"
            "             AND x.decision = 'withdrawn')"
            " AND NOT EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = w.parent_id AND r.role != 'parent')"
            " AND NOT EXISTS (SELECT 1 FROM guardians c WHERE c.parent_id = w.parent_id AND NOT EXISTS ("
            f"     SELECT 1 FROM consent_ledger s WHERE s.child_id = c.child_id AND {_STANDING.format(w='s')}"
            "      AND s.created_at <= ?))"
            " AND NOT EXISTS (SELECT 1 FROM destruction_records d WHERE d.withdrawal_row = w.id"
            "                 AND d.person_id = w.parent_id)"
            " ORDER BY w.id",
            (stamp, stamp),
        )
        return [Candidate(int(r["person_id"]), WITHDRAWAL, from_db(r["created_at"]), int(r["id"]))
                for r in [*child_rows, *parent_rows]]

    @staticmethod
    async def purge(
        conn: Transaction, candidate: Candidate, *, pseudonym: str, now: datetime, actor: int | None,
        channel: str,
    ) -> dict[str, int]:
        """Remove the candidate's data, write the destruction record; returns the counts by kind."""
        conn = raw(conn)
        counts: dict[str, int] = {}
        pid = candidate.person_id
        for step in await _steps(conn, candidate.reason):
            row = await fetchone_in(conn, step.count, _each(step.count, pid))
            counts[step.kind] = counts.get(step.kind, 0) + (int(row[0] or 0) if row else 0)
            for sql in step.actions:
                await conn.execute(sql, _each(sql, pid))
        if candidate.reason == LEFT:
            # The row stays as a tombstone (ledger rows, proofs and archive checks name it by id).
            await conn.execute(
                "UPDATE persons SET full_name = ?, roster_key = ?, class_label = NULL, purged_at = ?, updated_at = ?"
                " WHERE id = ?",
                (pseudonym, f"purged:{pid}", to_db(now), to_db(now), pid),
            )
        else:
            await conn.execute("UPDATE persons SET updated_at = ? WHERE id = ?", (to_db(now), pid))
        await RetentionRepo.record(
            conn, now=now, reason=candidate.reason, person_id=pid, withdrawal_row=candidate.withdrawal_row,
            what=counts, actor=actor, channel=channel,
        )
        return counts

    @staticmethod
    async def record(
        conn: Transaction, *, now: datetime, reason: str, person_id: int | None, withdrawal_row: int | None,
        what: Mapping[str, object], actor: int | None, channel: str,
    ) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO destruction_records(at, reason, person_id, withdrawal_row, what, actor, channel)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (to_db(now), reason, person_id, withdrawal_row, json.dumps(what, ensure_ascii=False, sort_keys=True),
             actor, channel),
        )

    async def records(self, person_id: int | None = None) -> list[DestructionRecord]:
        if person_id is None:
            rows = await self.db.fetchall("SELECT * FROM destruction_records ORDER BY id")
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM destruction_records WHERE person_id = ? ORDER BY id", (person_id,)
            )
        return [_record(r) for r in rows]

    async def ran_on(self, local_day: str) -> bool:
        return await self.db.fetchone("SELECT 1 FROM retention_runs WHERE local_day = ?", (local_day,)) is not None

    @staticmethod
    async def mark_run(conn: Transaction, local_day: str, now: datetime) -> None:
        conn = raw(conn)
        await conn.execute(
            "INSERT INTO retention_runs(local_day, at) VALUES (?, ?) ON CONFLICT DO NOTHING", (local_day, to_db(now))
        )

