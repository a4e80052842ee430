"""Messenger accounts as rows (#23, migrations 017-019): a database written at migration 016, with
people on Telegram, on MAX, on both and on neither, consent ledger rows of every channel, a spent
admin token and outbox rows, keeps every link, every refusal, every choice and every ledger row with
its hash chain after the upgrade; and what is written afterwards names accounts, not columns."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.channels import Channel
from bot.services import ledger
from storage import chain
from storage.accounts import AccountRepo
from storage.consent import ConsentRepo, NewDecision
from storage.db import Database, migrations
from storage.merge import merge_person
from storage.messengers import MessengerRepo
from storage.people import PersonRepo
from storage.tokens import TokenRepo, token_hash

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STAMP = "2026-11-01T10:00:00.000000Z"

# id, roster key, tg id, tg username, tg refused, max id, max username, max refused, chosen
PEOPLE = [
    (1, "tg", 501, "olga", None, None, None, None, None),
    (2, "max", None, None, None, 7002, "ivan_max", STAMP, None),
    (3, "both", 503, None, "403 blocked", 7003, None, None, "max"),
    (4, "none", None, None, None, None, None, None, None),
    # MAX only, refused before 017: the sender wrote the refusal in the Telegram columns then.
    (5, "max-refused", None, None, "404 chat not found", 7005, None, None, None),
]


def _old_database(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.create_function(chain.SQL_FUNCTION, len(chain.BASE_COLUMNS) + 1, chain.sql_row_hash, deterministic=True)
    for number, _name, sql in migrations():
        if number <= 16:
            raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    for pid, key, tg, tg_name, tg_refused, mx, mx_name, mx_refused, chosen in PEOPLE:
        raw.execute(
            "INSERT INTO persons(id, roster_key, full_name, tg_user_id, tg_username, linked_at, unreachable_at,"
            " unreachable_reason, max_user_id, max_username, max_linked_at, max_unreachable_at, preferred_channel,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, key, f"Person {key}", tg, tg_name, STAMP if tg else None, STAMP if tg_refused else None,
             tg_refused, mx, mx_name, STAMP if mx else None, mx_refused, chosen, STAMP, STAMP),
        )
    raw.execute("INSERT INTO person_roles(person_id, role) VALUES (1, 'parent'), (3, 'parent'), (4, 'student')")
    raw.execute("INSERT INTO consent_versions(number, sha256, text, published_at) VALUES (1, 'abc', 't', 'x')")
    # A Telegram press, a MAX press (migration 016) and a paper form, each chained as written then.
    prev = chain.GENESIS
    rows = [
        ("T1", 1, 4, "given", "telegram", 501, None, "cb1", None, None),
        ("M1", 3, 4, "withdrawn", "max", None, 7003, "cb2", None, None),
        ("P1", None, 4, "given", "paper", None, None, None, 1, "2026-11-02"),
    ]
    for i, (receipt, parent, child, decision, channel, tg, mx, cb, by, paper) in enumerate(rows):
        base = (receipt, parent, child, decision, 1, "abc", channel, tg, None, cb, by, paper,
                f"2026-11-0{i + 1}T10:00:00.000000Z")
        values = (*base, mx) if mx is not None else base
        digest = chain.row_hash(prev, values)
        raw.execute(
            f"INSERT INTO consent_ledger({', '.join(chain.BASE_COLUMNS)}, max_user_id, prev_hash, row_hash)"
            f" VALUES ({', '.join('?' * (len(chain.BASE_COLUMNS) + 3))})", (*base, mx, prev, digest),
        )
        prev = digest
    raw.execute(
        "INSERT INTO link_tokens(token_hash, purpose, person_id, created_at, expires_at, used_at, used_by_tg)"
        " VALUES (?, 'admin', NULL, ?, '2026-12-02T10:00:00.000000Z', '2026-12-01T09:00:00.000000Z', 501)",
        (token_hash("secret"), STAMP),
    )
    # A ticket notice sent on Telegram, one sent on MAX, one still waiting for a MAX-only person.
    for key, chat, person, status, channel, message_id in (
        ("ticket:1:new:1", 501, 1, "sent", "telegram", 11),
        ("ticket:2:new:2", -2, 2, "sent", "max", 12),
        ("nudge:5", -5, 5, "pending", None, None),
    ):
        raw.execute(
            "INSERT INTO outbox(dedupe_key, chat_id, person_id, kind, payload, status, next_attempt_at, created_at,"
            " channel, tg_message_id) VALUES (?, ?, ?, 'text', '{}', ?, ?, ?, ?, ?)",
            (key, chat, person, status, STAMP, STAMP, channel, message_id),
        )
    raw.commit()
    raw.close()


@pytest.mark.sqlite_only(reason="an SQLite file from before migration 017")
async def test_migration_keeps_every_link_and_the_ledger_chain(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_database(path)
    hashes_before = sqlite3.connect(path).execute("SELECT receipt_id, row_hash FROM consent_ledger ORDER BY id")
    before = hashes_before.fetchall()
    db = Database(path)
    await db.open()
    try:
        people = PersonRepo(db)
        accounts = {
            (r["person_id"], r["channel"], r["user_id"], r["username"], r["unreachable_at"] is not None)
            for r in await db.fetchall("SELECT * FROM accounts WHERE person_id IS NOT NULL")
        }
        assert accounts == {
            (1, "telegram", 501, "olga", False),
            (2, "max", 7002, "ivan_max", True),
            (3, "telegram", 503, None, True),
            (3, "max", 7003, None, False),
            (5, "max", 7005, None, True),  # the refusal belongs to the only account there is
        }
        # Every lookup goes through the rows; each id space stays its own.
        found = [await people.by_account(channel, uid) for channel, uid in (
            (Channel.TELEGRAM, 501), (Channel.MAX, 7002), (Channel.TELEGRAM, 503), (Channel.MAX, 7003),
        )]
        assert [p.id if p else None for p in found] == [1, 2, 3, 3]
        assert await people.by_account(Channel.MAX, 501) is None
        both = await people.get(3)
        assert both is not None and both.reachable and both.unreachable_reason == "403 blocked"
        assert [a.channel for a in both.accounts] == ["telegram", "max"]
        reach = await MessengerRepo(db).reach(3)
        assert reach is not None and reach.preferred is Channel.MAX and reach.reachable == [Channel.MAX]
        nobody = await people.get(4)
        assert nobody is not None and not nobody.linked
        assert [p.id for p in await people.unreachable()] == [3, 2, 5]  # by name
        # No per-messenger column is left to read: gone, or renamed and emptied.
        columns = {r[1] for r in await db.fetchall("PRAGMA table_info(persons)")}
        assert not columns & {"tg_user_id", "tg_username", "max_user_id", "max_unreachable_at", "unreachable_at"}
        assert await db.fetchval("SELECT count(*) FROM persons WHERE retired_tg_user_id IS NOT NULL") == 0
        outbox_columns = {r[1] for r in await db.fetchall("PRAGMA table_info(outbox)")}
        assert "chat_id" not in outbox_columns and "account_id" in outbox_columns

        # The spent admin token names the account that spent it.
        async with db.transaction() as conn:
            account = await AccountRepo.find(conn, Channel.TELEGRAM, 501)
            assert account is not None
            assert await TokenRepo.admin_grant_for(conn, account, datetime(2026, 12, 1, tzinfo=UTC))
        # Sent rows keep the account they went to: a reply to either notice finds its ticket.
        sent = {r["dedupe_key"]: (r["channel"], r["user_id"]) for r in await db.fetchall(
            "SELECT o.dedupe_key, a.channel, a.user_id FROM outbox o JOIN accounts a ON a.id = o.account_id"
        )}
        assert sent == {"ticket:1:new:1": ("telegram", 501), "ticket:2:new:2": ("max", 7002)}

        # Every ledger row, hash for hash, and the chain verifies; each row names its account.
        after = await db.fetchall("SELECT receipt_id, row_hash FROM consent_ledger ORDER BY id")
        assert [tuple(r) for r in after] == before
        verdict = await ledger.check(db, ConsentRepo())
        assert verdict.ok and verdict.rows == 3
        rows = await ConsentRepo.ledger_rows(db.conn)
        assert [(r.channel, r.user_id) for r in rows] == [("telegram", 501), ("max", 7003), ("paper", None)]
        # A press after the upgrade names its account in user_id and chains on.
        async with db.transaction() as conn:
            assert await ConsentRepo.insert_decision(conn, NewDecision(
                receipt_id="N1", parent_id=3, child_id=4, decision="given", version=1, sha256="abc",
                channel="max", created_at=NOW, user_id=7003, tg_callback_id="cb-new",
            ))
        verdict = await ledger.check(db, ConsentRepo())
        assert verdict.ok and verdict.rows == 4 and verdict.last_receipt == "N1"
        assert (await ConsentRepo.ledger_rows(db.conn))[-1].user_id == 7003

        # A merge moves accounts; an account on a messenger the kept person has is let go, not lost.
        async with db.transaction() as conn:
            await merge_person(conn, duplicate_id=2, into_id=1, now=NOW)
        kept = await people.get(1)
        assert kept is not None and [(a.channel, a.user_id) for a in kept.accounts] == [
            ("telegram", 501), ("max", 7002)
        ]
    finally:
        await db.close()
