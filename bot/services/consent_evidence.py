"""Evidence an inspector can read (#24 item 6): `schoolbot consent evidence` for a child, a parent or
a receipt: a PDF with every ledger row of the selection (who, from which account, when, on which
version, the text's hash, the row's place in the hash chain) and, retrieved by its hash, the exact
text each decision was made on, re-hashed in front of the reader; a translation the parent read,
and a paper decision's scanned form, are named beside it. `schoolbot consent scan` attaches a scan.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain import chain
from bot.domain.ledger import LedgerRow
from bot.i18n import Translator
from bot.services.access_log import AccessKind, AccessLog
from bot.services.consent_pdf import Para, render
from bot.services.consent_registers import account_of
from bot.services.exports import write_private
from bot.services.repos import ConsentForms, ConsentLedger, People

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import SchoolConfig
    from bot.unit_of_work import UnitOfWork


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Selection:
    """Exactly one of a child, a parent (their own decisions and their children's) or a receipt."""

    child_id: int | None = None
    parent_id: int | None = None
    receipt: str | None = None

    @property
    def label(self) -> str:
        if self.receipt is not None:
            return f"receipt-{self.receipt}"
        return f"child-{self.child_id}" if self.child_id is not None else f"parent-{self.parent_id}"


@dataclass(kw_only=True, eq=False)
class ConsentEvidence:
    """The consent ledger as an inspector reads it, one family or one receipt at a time."""

    access_log: AccessLog
    clock: Clock
    consent_forms: ConsentForms
    consent_ledger: ConsentLedger
    db: UnitOfWork
    people: People
    school: SchoolConfig

    async def rows(self, sel: Selection) -> list[LedgerRow]:
        everything = await self.consent_ledger.ledger_rows(self.db.conn)
        if sel.receipt is not None:
            return [r for r in everything if r.receipt_id == sel.receipt]
        if sel.child_id is not None:
            return [r for r in everything if r.child_id == sel.child_id]
        children = {c.id for c in await self.people.children(sel.parent_id or 0)}
        return [r for r in everything if r.parent_id == sel.parent_id or r.child_id in children]

    async def chain_status(self) -> tuple[dict[str, bool], chain.Verdict]:
        """receipt -> whether the row checks out in the chain (its own hash, and every row before it),
        and the chain's verdict as a whole."""
        rows = await self.consent_ledger.chain_rows(self.db.conn)
        verdict = chain.verify(rows, await self.consent_ledger.chain_head(self.db.conn))
        broken_from = verdict.fault.row_id if verdict.fault is not None and verdict.fault.row_id else None
        ok: dict[str, bool] = {}
        for row in rows:
            own = row.prev_hash is not None and row.row_hash == chain.row_hash(row.prev_hash, row.values)
            ok[row.receipt_id] = own and (broken_from is None or row.id < broken_from)
        return ok, verdict

    async def paragraphs(self, sel: Selection, t: Translator) -> list[Para] | None:
        """The evidence as paragraphs (what the PDF prints); None when the selection names nothing."""
        rows = await self.rows(sel)
        if not rows:
            return None
        tz = self.school.tz
        ok, verdict = await self.chain_status()
        ids = {r.child_id for r in rows} | {r.parent_id for r in rows if r.parent_id} | {
            r.recorded_by for r in rows if r.recorded_by}
        names = {p.id: p.full_name for p in await self.people.get_many(i for i in ids if i is not None)}
        scans = await self.consent_forms.scans(self.db.conn, [r.receipt_id for r in rows])
        now = self.clock.now().astimezone(tz)
        out = [
            Para(t("consent.evidence.title"), "title"),
            Para(t("consent.evidence.subtitle", school=self.school.school.name, when=f"{now:%d.%m.%Y %H:%M}",
                   tz=self.school.school.timezone)),
            Para(t("consent.evidence.chain_ok", rows=verdict.rows) if verdict.ok else t(
                "consent.evidence.chain_broken", kind=verdict.fault.kind if verdict.fault else "",
                receipt=(verdict.fault.receipt_id if verdict.fault else None) or "—")),
            Para(t("consent.evidence.rows_heading", n=len(rows)), "heading"),
        ]
        for r in rows:
            local = r.created_at.astimezone(tz).strftime("%d.%m.%Y %H:%M:%S")
            utc = r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            lines = [
                t("consent.evidence.row_head", receipt=r.receipt_id, decision=t(f"consent.decision.{r.decision}")),
                t("consent.evidence.row_child", child=names.get(r.child_id, "—"), id=r.child_id),
                t("consent.evidence.row_parent", parent=names.get(r.parent_id, "—"), id=r.parent_id)
                if r.parent_id else t("consent.evidence.row_no_signer"),
                t("consent.evidence.row_channel", channel=t(f"consent.channel.{r.channel}"),
                  account=account_of(r) or "—", update=r.tg_update_id or "—", press=r.tg_callback_id or "—"),
                t("consent.evidence.row_time", local=local, tz=self.school.school.timezone, utc=utc),
                t("consent.evidence.row_version", version=r.version),
            ]
            if r.channel == "paper":
                lines.append(t("consent.evidence.row_paper", date=r.paper_date.strftime("%d.%m.%Y") if r.paper_date
                               else "—", by=names.get(r.recorded_by or 0, "—"), id=r.recorded_by or "—"))
                scan = scans.get(r.receipt_id)
                lines.append(t("consent.evidence.row_scan", sha=scan[0] or "—", ref=scan[1] or "—") if scan
                             else t("consent.evidence.row_no_scan"))
            lines.append(t("consent.evidence.row_chain_ok") if ok.get(r.receipt_id) else t(
                "consent.evidence.row_chain_bad"))
            out.append(Para("\n".join(lines)))
            out.append(Para(t("consent.evidence.row_hash", sha=r.sha256), "mono"))
        # Each text once, retrieved by its hash and hashed again here: the reader sees they agree.
        out.append(Para(t("consent.evidence.texts_heading"), "heading"))
        for sha in dict.fromkeys(r.sha256 for r in rows):
            text = await self.consent_forms.text_by_hash(self.db.conn, sha)
            if text is None:
                out.append(Para(t("consent.evidence.text_missing", sha=sha), "mono"))
                continue
            receipts = ", ".join(r.receipt_id for r in rows if r.sha256 == sha)
            match = sha256_text(text) == sha
            out.append(Para(t("consent.evidence.text_head", receipts=receipts, sha=sha,
                              check=t("consent.evidence.hash_match" if match else "consent.evidence.hash_mismatch"))))
            out.append(Para(text, "mono"))
            for lang, shown in await self.consent_forms.translations(self.db.conn, sha):
                translated = await self.consent_forms.text_by_hash(self.db.conn, shown)
                out.append(Para(t("consent.evidence.translation_head", lang=lang, sha=shown)))
                out.append(Para(translated or "—", "mono"))
        return out

    async def pdf(self, sel: Selection, t: Translator) -> tuple[bytes, str] | None:
        """The evidence PDF (its export logged in the access log), or None when nothing matches."""
        paras = await self.paragraphs(sel, t)
        if paras is None:
            return None
        await self.access_log.record(AccessKind.EVIDENCE, sel.label)
        data = await asyncio.to_thread(render, paras, title=t("consent.evidence.title"))
        return data, f"consent-evidence-{sel.label}.pdf"

    async def attach_scan(self, receipt: str, *, scan: bytes | None, ref: str | None, by: int | None) -> str:
        """'attached', 'already', 'unknown' (no such receipt) or 'not_paper'."""
        async with self.db.transaction() as conn:
            row = await self.consent_ledger.by_receipt(conn, receipt)
            if row is None:
                return "unknown"
            if row.channel != "paper":
                return "not_paper"
            done = await self.consent_forms.attach_scan(
                conn, receipt_id=receipt, scan_sha256=hashlib.sha256(scan).hexdigest() if scan is not None else None,
                scan_ref=ref, by=by, now=self.clock.now(),
            )
        return "attached" if done else "already"

    # --- the command line ------------------------------------------------------------------------------

    async def cmd_evidence(self, args: argparse.Namespace, t: Translator) -> int:
        sel = Selection(child_id=args.child, parent_id=args.parent, receipt=args.receipt)
        made = await self.pdf(sel, t)
        if made is None:
            print(t("consent.evidence.cli_nothing"), file=sys.stderr)
            return 1
        data, name = made
        path = Path(args.out or name)
        await asyncio.to_thread(write_private, path, data)
        print(t("consent.evidence.cli_written", path=path))
        return 0

    async def cmd_scan(self, args: argparse.Namespace, t: Translator) -> int:
        scan: bytes | None = None
        if args.file:
            try:
                scan = await asyncio.to_thread(Path(args.file).read_bytes)
            except OSError as exc:
                print(t("cli.cannot_read", path=args.file, reason=t.os_error(exc)), file=sys.stderr)
                return 2
        if scan is None and not args.ref:
            print(t("consent.evidence.cli_scan_needs"), file=sys.stderr)
            return 2
        outcome = await self.attach_scan(args.receipt, scan=scan, ref=args.ref, by=None)
        print(t(f"consent.evidence.cli_scan_{outcome}", receipt=args.receipt),
              file=sys.stderr if outcome in ("unknown", "not_paper") else None)
        return 0 if outcome in ("attached", "already") else 1


