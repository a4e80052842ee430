"""Printable A4 code sheets per class, withheld codes, the activation funnel and the print CLI."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.domain.codes import FunnelCounts
from bot.domain.people import Person, class_sort_key
from bot.i18n import Translator
from bot.services.access_log import AccessKind, AccessLog
from bot.services.consent_gate import Clearance, ConsentGate, GateReason
from bot.services.exports import write_private
from bot.services.people_text import normalize_class
from bot.services.print_sheets import render_sheets
from bot.services.qr_card import CardData
from bot.services.repos import InvitationCodes, People

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.i18n import Catalog
    from bot.services.codes import CodesService
    from bot.unit_of_work import UnitOfWork


# --- print sheets -------------------------------------------------------------------------------------

# The order reasons are listed in, on sheets and in messages.
LEFT_OUT_ORDER: tuple[GateReason, ...] = ("pending", "declined", "withdrawn", "no_children", "unknown")


@dataclass(frozen=True)
class LeftOut:
    person: Person
    reason: GateReason


@dataclass(frozen=True)
class PrintSheet:
    pdf: bytes | None  # None: no card may be printed
    printed: int
    left_out: list[LeftOut]


def left_out_summary(t: Translator, left_out: list[LeftOut]) -> str:
    """E.g. "Не выдано: 3 кода — нет согласия (нет ответа: 2, отказ: 1)"."""
    counts = {reason: sum(1 for lo in left_out if lo.reason == reason) for reason in LEFT_OUT_ORDER}
    detail = ", ".join(t(f"codes.left_out_reason.{r}") + f": {n}" for r, n in counts.items() if n)
    return t.plural("codes.left_out", len(left_out), detail=detail)


def left_out_lines(t: Translator, left_out: list[LeftOut]) -> list[str]:
    """One plain-text line per person left out: "• name — reason" (escape for HTML)."""
    return [f"• {lo.person.full_name} — {t(f'codes.left_out_reason.{lo.reason}')}" for lo in left_out]


# --- funnel -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelRow:
    class_label: str | None
    role: str  # "staff" | "parent" | "student"
    imported: int
    delivered: int
    activated: int


async def funnel(code_repo: InvitationCodes) -> list[FunnelRow]:
    """Per class and role: active codes imported, delivered (a card reached someone), activated."""
    counts: list[FunnelCounts] = await code_repo.funnel()
    order = {"student": 0, "parent": 1, "staff": 2}
    rows = [FunnelRow(c.class_label, c.role, c.imported, c.delivered, c.activated) for c in counts]
    return sorted(rows, key=lambda r: (r.class_label is None, class_sort_key(r.class_label or ""), order[r.role]))


@dataclass(kw_only=True, eq=False)
class CodesPrint:
    """Printable code sheets for a class (only families the consent gate covers)."""

    access_log: AccessLog
    catalog: Catalog
    clock: Clock
    code_repo: InvitationCodes
    codes: CodesService
    consent_gate: ConsentGate
    db: UnitOfWork
    people: People


    async def print_cards(
        self, class_label: str, *, everyone: bool, lang: str = "ru", parents: bool = False
    ) -> PrintSheet:
        """An A4 PDF of the cards of a class's pupils (the class teacher's sheet), or with `parents`
        of their parents' own codes (a separate sheet, each card handed to that parent in person);
        without a Telegram link unless `everyone`. Only codes the consent gate lets out are printed;
        the others are listed with the reason, and the sheet's footer says how many and why."""
        t = self.catalog.bind(lang)
        await self.access_log.record(AccessKind.CODE_SHEET, f"{class_label}:{'parents' if parents else 'pupils'}")
        found = await self.code_repo.for_print(class_label, role="parent" if parents else "student",
                                                 only_unlinked=not everyone)
        gate = await self.consent_gate.code_clearances(
            self.db.conn, [(code.person_id, code.role) for code, _ in found], require_original=self.codes._wait()
        )
        cards: list[CardData] = []
        left_out: list[LeftOut] = []
        for code, owner_id in found:
            owner = await self.people.get(owner_id)
            if owner is None:
                continue
            clearance: Clearance = gate[(code.person_id, code.role)]
            if clearance.open:
                cards.append(self.codes.card_data(t, owner, code))
            else:
                left_out.append(LeftOut(owner, clearance.reason))
        left_out.sort(key=lambda lo: (LEFT_OUT_ORDER.index(lo.reason), lo.person.full_name))
        if not cards:
            return PrintSheet(None, 0, left_out)
        title = t("codes.sheet_title_parents" if parents else "codes.sheet_title", cls=class_label)
        note = left_out_summary(t, left_out) if left_out else None
        pdf = await asyncio.to_thread(render_sheets, cards, title=title, created_at=self.clock.now(), note=note)
        return PrintSheet(pdf, len(cards), left_out)

    # --- withheld codes (the status views and the report) ------------------------------------------------
    async def withheld_counts(self) -> dict[tuple[str | None, str], int]:
        """(class, role) -> how many active codes the consent gate keeps in now."""
        holders = await self.code_repo.holders()
        gate = await self.consent_gate.code_clearances(
            self.db.conn, [(owner, role) for owner, role, _ in holders], require_original=self.codes._wait()
        )
        counts: dict[tuple[str | None, str], int] = {}
        for owner, role, class_label in holders:
            if not gate[(owner, role)].open:
                counts[(class_label, role)] = counts.get((class_label, role), 0) + 1
        return counts

    async def cmd_print_cards(self, args: Any, t: Translator) -> int:
        import sys
        from pathlib import Path

        class_label = normalize_class(args.class_label)
        if class_label is None:
            print(t("cli.not_a_class", value=args.class_label), file=sys.stderr)
            return 2
        sheet = await self.print_cards(class_label, everyone=args.everyone, lang=t.lang, parents=args.parents)
        if sheet.left_out:
            print("\n".join([left_out_summary(t, sheet.left_out), *left_out_lines(t, sheet.left_out)]))
        if sheet.pdf is None:
            print(t("codes.cli_none"), file=sys.stderr)
            return 1
        suffix = "-parents" if args.parents else ""
        out = Path(args.out or f"codes-{class_label}{suffix}.pdf")
        await asyncio.to_thread(write_private, out, sheet.pdf)
        print(t("codes.cli_written", path=out, n=sheet.printed))
        return 0
