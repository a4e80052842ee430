"""Two consent decisions recorded at the same moment by two workers (#27): on PostgreSQL two write
transactions run side by side, and each must chain its ledger row onto the row the other committed,
never both onto the same head (the database's chain trigger refuses the second one then). Runs on a
throwaway PostgreSQL in both passes of the suite; skipped where PostgreSQL is not installed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.services import ledger
from storage.consent import ConsentRepo, NewDecision
from storage.pg import PgDatabase
from tests.servers import FreshDatabases

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
STAMP = "2026-09-01T09:00:00.000000Z"


def _decision(receipt: str, child_id: int) -> NewDecision:
    return NewDecision(
        receipt_id=receipt, parent_id=1, child_id=child_id, decision="given", version=1, sha256="h",
        channel="telegram", created_at=NOW, user_id=7_000_000_001, tg_update_id=5_000_000_000,
        tg_callback_id=f"cb-{receipt}",
    )


async def test_two_decisions_committed_side_by_side_chain_one_after_the_other(pg_databases: FreshDatabases) -> None:
    db = PgDatabase(pg_databases.url("ledger"))
    await db.open()
    try:
        async with db.transaction() as tx:
            for key in ("parent", "child-1", "child-2"):
                await tx.execute(
                    "INSERT INTO persons(roster_key, full_name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (key, key, STAMP, STAMP),
                )
            await tx.execute(
                "INSERT INTO consent_versions(number, sha256, text, published_at) VALUES (1, 'h', 'text', ?)",
                (STAMP,),
            )

        async def second() -> bool:
            async with db.transaction() as tx:
                return await ConsentRepo.insert_decision(tx, _decision("R-2", 3))

        async with db.transaction() as tx:
            assert await ConsentRepo.insert_decision(tx, _decision("R-1", 2))
            # The second worker starts its append while the first has not committed; it is let run
            # until the database holds it waiting on a lock (on the head, before it reads it).
            task = asyncio.create_task(second())
            while not await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                assert not task.done(), task.result()
        assert await task
        verdict = await ledger.check(db, ConsentRepo())
        assert verdict.ok and verdict.rows == 2 and verdict.last_receipt == "R-2", verdict
    finally:
        await db.close()
