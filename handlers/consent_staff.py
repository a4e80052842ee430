"""/consent for staff: class teachers and the IT officer see their classes, export the register,
record paper forms and signed originals, and send one reminder a class. One handler per button."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import Channel, ChannelRules, DataClass
from bot.clock import Clock
from bot.config import SchoolConfig
from bot.domain.access import STAFF_CONSENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services import consent as svc
from bot.services.consent import ConsentService
from bot.services.consent_export import ConsentExport
from bot.services.consent_nudges import ConsentNudges
from bot.services.consent_paper import (
    ConsentPaper,
    may_record_for,
    parse_paper_date,
    staff_classes,
)
from bot.services.consent_registers import ConsentRegisters, counts_by_class
from bot.services.outbox import Outbox
from bot.tg.callbacks import StaffAction, StaffCb
from bot.tg.filters import HasContent, HasRole
from bot.tg.policy import AnswerPolicy
from storage.people import PersonRepo


class PaperForm(StatesGroup):
    waiting_date = State()


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


class ConsentScreens:
    """The staff's consent screens (the school's classes, one class), built once with what they read;
    handlers ask for them as ``consent_screens``."""

    def __init__(
        self, *, consent_nudges: ConsentNudges, consent_paper: ConsentPaper, consent_registers: ConsentRegisters,
        people: PersonRepo, school: SchoolConfig,
    ) -> None:
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
                parents = ", ".join(html.escape(p.full_name) for p in await self.people.parents(r.child_id))
                details = t("consent.staff.details_parents", parents=parents) if parents else ""
            if r.child_id in signed:
                details += t("consent.staff.original_mark", date=signed[r.child_id].strftime("%d.%m.%Y"))
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
    query: CallbackQuery,
    t: Translator,
    cls: str,
    fmt: str,
    *,
    consent_export: ConsentExport,
) -> None:
    # Building the file takes a moment: say so at once.
    await query.answer(t("consent.preparing"))
    if not isinstance(query.message, Message) or fmt not in ("xlsx", "pdf"):
        return
    data, name, _ = await consent_export.export("pdf" if fmt == "pdf" else "xlsx", t, cls or None)
    await query.message.answer_document(BufferedInputFile(data, filename=name), caption=t("consent.export.title"))


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _own_class(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    *,
    people: PersonRepo,
) -> bool:
    """Every class named in callback data is re-checked against the caller's classes."""
    if callback_data.cls not in staff_classes(person, await people.classes()):
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return False
    return True


async def show_classes(
    query: CallbackQuery,
    person: Person,
    t: Translator,
    *,
    consent_screens: ConsentScreens,
) -> None:
    await query.answer()
    text, markup = await consent_screens.staff_view(person, t)
    msg = _message(query)
    if msg is not None:
        await msg.edit_text(text, reply_markup=markup)


async def export_register(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    channel: Channel = Channel.TELEGRAM,
    *,
    channels: ChannelRules,
    consent_export: ConsentExport,
    people: PersonRepo,
    policy: AnswerPolicy,
) -> None:
    if not callback_data.cls:
        # The whole school's register is the IT officer's.
        if not person.is_admin:
            await query.answer(t("consent.staff.forbidden"), show_alert=True)
            return
    elif not await _own_class(query, callback_data, person, t, people=people):
        return
    # The register is a file of children's and parents' names: the pointer where it may not go.
    if channels.forbids(channel, DataClass.PERSONAL_FILE):
        await query.answer()
        await policy.may_send(_message(query), t, channel, DataClass.PERSONAL_FILE)
        return
    await _send_export(query, t, callback_data.cls, callback_data.decision, consent_export=consent_export)


async def show_class(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    channel: Channel = Channel.TELEGRAM,
    *,
    consent_screens: ConsentScreens,
    people: PersonRepo,
    policy: AnswerPolicy,
) -> None:
    if not await _own_class(query, callback_data, person, t, people=people):
        return
    await query.answer()
    if not await policy.may_send(_message(query), t, channel, DataClass.CHILD_PERSONAL):
        return
    text, markup = await consent_screens.class_view(person, callback_data.cls, t)
    msg = _message(query)
    if msg is not None:
        await msg.edit_text(text, reply_markup=markup)


async def pick_paper_child(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    channel: Channel = Channel.TELEGRAM,
    *,
    people: PersonRepo,
    policy: AnswerPolicy,
) -> None:
    if not await _own_class(query, callback_data, person, t, people=people):
        return
    cls = callback_data.cls
    await query.answer()
    if not await policy.may_send(_message(query), t, channel, DataClass.CHILD_PERSONAL):
        return
    pupils = await people.with_role("student", cls)
    rows = [[button(p.full_name, StaffCb(action="child", cls=cls, child=p.id))] for p in pupils]
    msg = _message(query)
    if msg is not None:
        await msg.answer(t("consent.staff.pick_child", cls=html.escape(cls)),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def pick_original(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    channel: Channel = Channel.TELEGRAM,
    *,
    consent: ConsentService,
    consent_paper: ConsentPaper,
    people: PersonRepo,
    policy: AnswerPolicy,
) -> None:
    if not await _own_class(query, callback_data, person, t, people=people):
        return
    cls = callback_data.cls
    await query.answer()
    if not await policy.may_send(_message(query), t, channel, DataClass.CHILD_PERSONAL):
        return
    version = await consent.current()
    pupils = await people.with_role("student", cls)
    have = await consent_paper.originals(version, [p.id for p in pupils])
    rows = [[button(p.full_name, StaffCb(action="origc", cls=cls, child=p.id))] for p in pupils if p.id not in have]
    msg = _message(query)
    if msg is not None:
        if rows:
            await msg.answer(t("consent.staff.pick_original", cls=html.escape(cls)),
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
        else:
            await msg.answer(t("consent.staff.no_originals_left", cls=html.escape(cls)))


async def original_received(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    *,
    consent_screens: ConsentScreens,
    clock: Clock,
    consent_paper: ConsentPaper,
    outbox: Outbox,
    people: PersonRepo,
    school: SchoolConfig,
) -> None:
    if not await _own_class(query, callback_data, person, t, people=people):
        return
    cls = callback_data.cls
    child = await people.get(callback_data.child)
    if child is None or child.class_label != cls:
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return
    outcome = await consent_paper.record_original(staff=person, child_id=child.id)
    if outcome is svc.Outcome.FORBIDDEN:
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return
    if outcome is svc.Outcome.UNCHANGED:
        await query.answer(t("consent.staff.original_already"), show_alert=True)
        return
    await query.answer()
    outbox.wake()
    today = clock.now().astimezone(school.tz).strftime("%d.%m.%Y")
    msg = _message(query)
    if msg is not None:
        await msg.edit_text(
            t("consent.staff.original_recorded", child=Named(child.full_name, escape=True), date=today)
        )
        text, markup = await consent_screens.class_view(person, cls, t)
        await msg.answer(text, reply_markup=markup)


async def _paper_child(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    *,
    people: PersonRepo,
) -> tuple[Person, Message] | None:
    if not await _own_class(query, callback_data, person, t, people=people):
        return None
    child = await people.get(callback_data.child)
    if child is None or child.class_label != callback_data.cls or not may_record_for(person, child):
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return None
    await query.answer()
    msg = _message(query)
    return None if msg is None else (child, msg)


async def pick_paper_decision(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    channel: Channel = Channel.TELEGRAM,
    *,
    people: PersonRepo,
    policy: AnswerPolicy,
) -> None:
    found = await _paper_child(query, callback_data, person, t, people=people)
    if found is None:
        return
    child, msg = found
    if not await policy.may_send(_message(query), t, channel, DataClass.CHILD_PERSONAL):
        return
    cls = callback_data.cls
    rows = [[
        button(t(f"consent.btn.paper_{d}"), StaffCb(action="dec", cls=cls, child=child.id, decision=d))
        for d in ("given", "declined", "withdrawn")
    ]]
    await msg.edit_text(
        t("consent.staff.pick_decision", child=html.escape(child.full_name), cls=html.escape(cls)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


async def ask_paper_date(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    people: PersonRepo,
) -> None:
    found = await _paper_child(query, callback_data, person, t, people=people)
    if found is None:
        return
    child, msg = found
    if callback_data.decision in ("given", "declined", "withdrawn"):
        await state.set_state(PaperForm.waiting_date)
        await state.update_data(paper_child=child.id, paper_decision=callback_data.decision)
        await msg.edit_text(t("consent.staff.ask_date"))


async def remind(
    query: CallbackQuery,
    callback_data: StaffCb,
    person: Person,
    t: Translator,
    *,
    consent_screens: ConsentScreens,
    consent_nudges: ConsentNudges,
    outbox: Outbox,
    people: PersonRepo,
) -> None:
    if not await _own_class(query, callback_data, person, t, people=people):
        return
    sent = await consent_nudges.remind_class(person, callback_data.cls)
    if sent is None:
        await query.answer(t("consent.staff.remind_already"), show_alert=True)
        return
    await query.answer(t.plural("consent.staff.remind_sent", sent), show_alert=True)
    outbox.wake()
    text, markup = await consent_screens.class_view(person, callback_data.cls, t)
    msg = _message(query)
    if msg is not None:
        await msg.edit_text(text, reply_markup=markup)


async def paper_date(
    message: Message,
    person: Person,
    t: Translator,
    state: FSMContext,
    *,
    clock: Clock,
    consent_paper: ConsentPaper,
    outbox: Outbox,
    people: PersonRepo,
    school: SchoolConfig,
) -> None:
    data = await state.get_data()
    child_id, decision = data.get("paper_child"), data.get("paper_decision")
    if not isinstance(child_id, int) or decision not in ("given", "declined", "withdrawn"):
        await state.set_state(None)
        await message.answer(t("consent.staff.expired"))
        return
    today = clock.now().astimezone(school.tz).date()
    when = parse_paper_date(message.text or "", today)
    if when is None:
        await message.answer(t("consent.staff.bad_date"))
        return
    result = await consent_paper.record_paper(staff=person, child_id=child_id, decision=decision, paper_date=when)
    await state.set_state(None)
    await state.update_data(paper_child=None, paper_decision=None)
    if result.outcome is svc.Outcome.FORBIDDEN:
        await message.answer(t("consent.staff.forbidden"))
        return
    if result.outcome is not svc.Outcome.RECORDED or result.row is None:
        await message.answer(t(f"consent.{result.outcome.value}"))
        return
    child = await people.get(child_id)
    assert child is not None
    outbox.wake()
    await message.answer(t(
        "consent.staff.paper_recorded", child=html.escape(child.full_name), cls=html.escape(child.class_label or "—"),
        decision=t(f"consent.decision.{decision}"), paper_date=when.strftime("%d.%m.%Y"), receipt=result.row.receipt_id,
    ))


def build_router() -> Router:
    """One handler per staff button; the class it names is checked in each."""
    router = Router(name="consent_staff")
    router.callback_query.filter(HasRole(*STAFF_CONSENT_ROLES))
    on = router.callback_query.register
    on(show_classes, StaffCb.filter(F.action == StaffAction.CLASSES))
    on(export_register, StaffCb.filter(F.action == StaffAction.EXPORT))
    on(show_class, StaffCb.filter(F.action == StaffAction.CLASS))
    on(pick_paper_child, StaffCb.filter(F.action == StaffAction.PAPER))
    on(pick_original, StaffCb.filter(F.action == StaffAction.ORIG))
    on(original_received, StaffCb.filter(F.action == StaffAction.ORIGC))
    on(pick_paper_decision, StaffCb.filter(F.action == StaffAction.CHILD))
    on(ask_paper_date, StaffCb.filter(F.action == StaffAction.DEC))
    on(remind, StaffCb.filter(F.action == StaffAction.REMIND))
    router.message.register(
        paper_date, StateFilter(PaperForm.waiting_date), HasContent("text"), HasRole(*STAFF_CONSENT_ROLES)
    )
    return router
