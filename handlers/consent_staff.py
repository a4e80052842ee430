"""/consent for staff: class teachers and the IT officer see their classes and export the register.
Holds the staff's consent screens (`ConsentScreens`), the export helpers, the class check every staff
button repeats, and the handlers for the class list, one class and the export; recording paper forms,
signed originals and reminders is handlers/consent_paper.py. One handler per button."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import DataClass
from bot.config import SchoolConfig
from bot.domain.access import STAFF_CONSENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services.access_log import AccessKind, AccessLog
from bot.services.consent_export import ConsentExport
from bot.services.consent_nudges import ConsentNudges
from bot.services.consent_paper import ConsentPaper, staff_classes
from bot.services.consent_registers import ConsentRegisters, counts_by_class
from bot.tg.callbacks import StaffAction, StaffCb
from bot.tg.filters import HasRole
from bot.tg.policy import child_data, declare, personal_file, varies
from handlers.common import button, message_of
from storage.people import PersonRepo


class ConsentScreens:
    """The staff's consent screens (the school's classes, one class), built once with what they read;
    handlers ask for them as ``consent_screens``."""

    def __init__(
        self, *, access_log: AccessLog, consent_nudges: ConsentNudges, consent_paper: ConsentPaper,
        consent_registers: ConsentRegisters, people: PersonRepo, school: SchoolConfig,
    ) -> None:
        self.access_log = access_log
        self.consent_nudges = consent_nudges
        self.consent_paper = consent_paper
        self.consent_registers = consent_registers
        self.people = people
        self.school = school

    async def staff_view(self, staff: Person, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
        classes = staff_classes(staff, await self.people.classes())
        if not classes:
            return t("consent.staff.no_classes"), None
        if len(classes) == 1 and not staff.is_admin:
            return await self.class_view(staff, classes[0], t)
        version, rows = await self.consent_registers.register()
        counts = counts_by_class(rows)
        lines = [t("consent.staff.classes", version=version.number), ""]
        buttons = []
        for cls in classes:
            c = counts.get(cls, {"pending": 0, "given": 0, "declined": 0, "withdrawn": 0})
            line = t("consent.staff.class_line", cls=cls, given=c["given"], pending=c["pending"],
                     declined=c["declined"] + c["withdrawn"])
            lines.append(line)
            buttons.append([button(line, StaffCb(action="class", cls=cls))])
        buttons.append(_export_row(t, ""))
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


    async def staff_view_class(self, staff: Person) -> DataClass:
        """The data class of what ``staff_view`` shows this person: one class's children by name
        (a child's personal data), or only counts per class (public)."""
        classes = staff_classes(staff, await self.people.classes())
        return DataClass.CHILD_PERSONAL if len(classes) == 1 and not staff.is_admin else DataClass.PUBLIC


    async def class_view(self, staff: Person, cls: str, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
        await self.access_log.record(AccessKind.REGISTER, cls)
        version, rows = await self.consent_registers.register(cls)
        overview = await self.consent_nudges.class_overview(cls)
        signed = await self.consent_paper.originals(version, [r.child_id for r in rows])
        lines = [t("consent.staff.class_title", cls=html.escape(cls), version=version.number), ""]
        for r in rows:
            details = ""
            if r.when is not None:
                when = r.when.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M")
                if r.channel == "paper":
                    paper = r.paper_date.strftime("%d.%m.%Y") if r.paper_date else ""
                    details = t("consent.staff.details_paper", paper_date=paper,
                                by=Named(r.recorded_by, escape=True), when=when, version=r.version)
                else:
                    details = t("consent.staff.details_messenger", by=html.escape(r.by), when=when,
                                channel=t(f"consent.channel.{r.channel}"), version=r.version)
            elif r.state == "pending":
                # The class teacher chases families, so a pending child shows who to call.
                family = await self.people.parents(r.child_id)
                parents = ", ".join(html.escape(p.full_name) for p in family)
                details = t.plural("consent.staff.details_parents", len(family), parents=parents) if family else ""
            if r.child_id in signed:
                details += t("consent.staff.original_mark", date=signed[r.child_id].strftime("%d.%m.%Y"))
            if r.conflict:
                details += t("consent.staff.conflict_mark")
            lines.append(t("consent.staff.child_line", icon=t(f"consent.icon.{r.state}"), child=html.escape(r.child),
                           state=t(f"consent.state.{r.state}"), details=details))
        lines += ["", t("consent.staff.pending_families", n=len(overview.pending), d=len(overview.declined))]
        if overview.reminder_sent is not None:
            lines.append(t("consent.staff.reminder_sent_at",
                           when=overview.reminder_sent.astimezone(self.school.tz).strftime("%d.%m.%Y %H:%M")))
        buttons = [[button(t("consent.btn.paper"), StaffCb(action="paper", cls=cls))]]
        if self.school.consent.paper_original_required or self.school.consent.codes_wait_for_original:
            buttons.append([button(t("consent.btn.original"), StaffCb(action="orig", cls=cls))])
        if overview.pending and overview.reminder_sent is None:
            buttons.append([button(t("consent.btn.remind"), StaffCb(action="remind", cls=cls))])
        buttons.append(_export_row(t, cls))
        if staff.is_admin:
            buttons.append([button(t("consent.btn.back"), StaffCb(action="classes"))])
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


def _export_row(t: Translator, cls: str) -> list[InlineKeyboardButton]:
    return [
        button(t(f"consent.btn.export_{fmt}"), StaffCb(action="export", cls=cls, decision=fmt))
        for fmt in ("xlsx", "pdf")
    ]


async def _send_export(
    query: CallbackQuery, t: Translator, cls: str, fmt: str, *, consent_export: ConsentExport,
) -> None:
    # Building the file takes a moment: say so at once.
    await query.answer(t("consent.preparing"))
    if not isinstance(query.message, Message) or fmt not in ("xlsx", "pdf"):
        return
    data, name, _ = await consent_export.export("pdf" if fmt == "pdf" else "xlsx", t, cls or None)
    await query.message.answer_document(BufferedInputFile(data, filename=name), caption=t("consent.export.title"))




@child_data
async def own_class(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *, people: PersonRepo,
) -> bool:
    """Every class named in callback data is re-checked against the caller's classes."""
    if callback_data.cls not in staff_classes(person, await people.classes()):
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return False
    return True


@varies(DataClass.CHILD_PERSONAL, DataClass.PUBLIC, by="a class teacher of one class: their pupils; else counts")
async def show_classes(query: CallbackQuery, person: Person, t: Translator, *, consent_screens: ConsentScreens) -> None:
    # «К списку классов» is a class teacher's own class by name when they have one class (staff_view).
    declare(await consent_screens.staff_view_class(person))
    await query.answer()
    text, markup = await consent_screens.staff_view(person, t)
    msg = message_of(query)
    if msg is not None:
        await msg.edit_text(text, reply_markup=markup)


@personal_file
async def export_register(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *,
    consent_export: ConsentExport, people: PersonRepo,
) -> None:
    if not callback_data.cls:
        # The whole school's register is the IT officer's.
        if not person.is_admin:
            await query.answer(t("consent.staff.forbidden"), show_alert=True)
            return
    elif not await own_class(query, callback_data, person, t, people=people):
        return
    await _send_export(query, t, callback_data.cls, callback_data.decision, consent_export=consent_export)


@child_data
async def show_class(
    query: CallbackQuery, callback_data: StaffCb, person: Person, t: Translator, *,
    consent_screens: ConsentScreens, people: PersonRepo,
) -> None:
    if not await own_class(query, callback_data, person, t, people=people):
        return
    await query.answer()
    text, markup = await consent_screens.class_view(person, callback_data.cls, t)
    msg = message_of(query)
    if msg is not None:
        await msg.edit_text(text, reply_markup=markup)


def build_router() -> Router:
    """One handler per staff button for the class list, one class and the export (the paper, original
    and reminder buttons are handlers/consent_paper.py's router, placed right after this one)."""
    router = Router(name="consent_staff")
    router.callback_query.filter(HasRole(*STAFF_CONSENT_ROLES))
    on = router.callback_query.register
    on(show_classes, StaffCb.filter(F.action == StaffAction.CLASSES))
    on(export_register, StaffCb.filter(F.action == StaffAction.EXPORT))
    on(show_class, StaffCb.filter(F.action == StaffAction.CLASS))
    return router
