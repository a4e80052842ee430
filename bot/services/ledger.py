"""The consent ledger as evidence: checking its hash chain (`schoolbot verify-ledger`, and once at
every start of the bot).

At start a broken chain is logged as an error and the IT officers are alerted through the outbox,
and the bot keeps running. Refusing to start was weighed and rejected: the damage is already in the
file and a refusal would not undo it; it would silence the very alert that tells the IT officer
(the outbox needs the running bot), and stop consent recording and code delivery for every family
over a problem that restarting does not fix. New decisions keep chaining onto the recorded head,
so the break stays visible and `verify-ledger` keeps naming the first receipt that does not check
out until the ledger is restored (see `schoolbot restore --carry-over`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from bot.domain import chain
from bot.domain.access import ADMIN_ROLE
from bot.domain.messages import Payload
from bot.i18n import Translator
from bot.services.repos import ConsentLedger, People
from bot.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.i18n import Catalog
    from bot.services.outbox import Outbox
    from bot.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def check(db: UnitOfWork, ledger: ConsentLedger) -> chain.Verdict:
    """Read the ledger and its head in one transaction (one snapshot), hash off the event loop."""
    async with db.transaction() as conn:
        rows = await ledger.chain_rows(conn)
        head = await ledger.chain_head(conn)
    return await asyncio.to_thread(chain.verify, rows, head)


def describe(verdict: chain.Verdict, t: Translator) -> str:
    fault = verdict.fault
    if fault is None:
        if verdict.rows == 0:
            return t("ledger.ok_empty")
        return t.plural("ledger.ok", verdict.rows, last=verdict.last_receipt or "")
    what = t(
        f"ledger.fault.{fault.kind}",
        expected=fault.expected_rows, actual=fault.actual_rows, lost=fault.lost_receipt or "?",
    )
    if fault.kind in ("tail_removed", "rewritten"):
        return t("ledger.broken_tail", what=what, receipt=fault.receipt_id or "—")
    if fault.kind == "head_missing":
        return t("ledger.broken_head", what=what)
    return t("ledger.broken", what=what, receipt=fault.receipt_id or "—", row=fault.row_id or "—")


@dataclass(kw_only=True, eq=False)
class LedgerService:
    """The consent ledger's hash chain, checked at start and by `schoolbot verify-ledger`."""

    catalog: Catalog
    clock: Clock
    consent_ledger: ConsentLedger
    db: UnitOfWork
    outbox: Outbox
    people: People


    async def check_at_start(self) -> chain.Verdict:
        verdict = await check(self.db, self.consent_ledger)
        if verdict.ok:
            log.info("consent ledger: %d rows, hash chain intact", verdict.rows)
            return verdict
        fault = verdict.fault
        assert fault is not None
        log.error(
            "CONSENT LEDGER BROKEN: %s at receipt %s (row %s); run `schoolbot verify-ledger`. "
            "The bot keeps running; the IT officers are alerted.",
            fault.kind, fault.receipt_id, fault.row_id,
        )
        officers = [p for p in await self.people.with_role(ADMIN_ROLE) if p.reachable]
        now = self.clock.now()
        async with self.db.transaction() as conn:
            for person in officers:
                t = self.catalog.translator_for(person)
                await self.outbox.notify(
                    conn, person,
                    # One alert per distinct break and officer: a restart does not repeat it.
                    key=f"ledger-broken:{fault.kind}:{fault.receipt_id}:{fault.expected_rows}:{person.id}",
                    kind="text",
                    payload=Payload(text=t("ledger.start_alert", problem=escape(describe(verdict, t)))),
                    now=now,
                    priority=1,
                )
        if not officers:
            log.error("no IT officer is reachable in any messenger: nobody could be alerted about the consent ledger")
        return verdict

    # --- CLI ------------------------------------------------------------------------------------------
    async def cmd_verify_ledger(self, args: argparse.Namespace, t: Translator) -> int:
        verdict = await check(self.db, self.consent_ledger)
        print(describe(verdict, t))
        return 0 if verdict.ok else 1
