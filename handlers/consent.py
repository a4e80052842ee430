"""/consent: parents decide per child (read, agree, decline, withdraw with confirmation, receipts);
class teachers and the IT officer see their classes, record paper forms and send one reminder."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.access import ADMIN_ROLES, CLASS_TEACHER_ROLES, CONSENT_ROLES, STAFF_CONSENT_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services import consent as svc
from bot.services.consent_export import export, signing_form
from bot.services.core import Core
from bot.tg.callbacks import AdminAction, ConsentCb, StaffCb
from bot.tg.filters import HasContent, HasRole, MenuButton
from storage.consent import Decision
from storage.db import CURRENT_UPDATE


class PaperForm(StatesGroup):
    waiting_date = State()


def _btn(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


# --- parents ------------------------------------------------------------------------------------


async def _parent_view(app: Core, parent: Person, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    version = await svc.current(app)
    states = await svc.family(app, parent, version)
    if not states:
        return t("consent.no_children", contact=html.escape(app.school.school.it_officer_contact)), None
    lines = [t("consent.title", version=version.number), ""]
    for s in states:
        lines.append(
            t("consent.child_line", icon=t(f"consent.icon.{s.state}"), child=html.escape(s.child.full_name),
              cls=html.escape(s.child.class_label or "—"), state=t(f"consent.state.{s.state}"))
        )
    # Before the buttons, plainly: what a press records, and that it is not a signature.
    lines += ["", t("consent.ack", parent=Named(parent.full_name))]
    if app.school.consent.paper_original_required:
        lines += ["", t("consent.paper_note", note=html.escape(app.school.consent.paper_original_note))]
    seen = await svc.opened(app, parent, version)
    rows: list[list[InlineKeyboardButton]] = []
    me = Named(parent.full_name)
    v = version.number
    for s in states:
        name = Named(s.child.full_name)
        def button(action: str, child_id: int = s.child.id, child: Named = name) -> InlineKeyboardButton:
            label = t(f"consent.btn.{action}", child=child, parent=me)
            return _btn(label, ConsentCb(action=action, child=child_id, version=v))

        rows.append([button("read")])
        if app.school.consent.paper_original_required:
            rows.append([button("form")])
        if s.state == "given":
            rows.append([button("withdraw")])
        else:
            # The agree button appears once the parent has opened this child's document.
            row = [button("give")] if s.child.id in seen else []
            if s.state != "declined":
                row.append(button("decline"))
            if row:
                rows.append(row)
    undecided = [s for s in states if s.state != "given"]
    if len(states) > 1 and len(undecided) > 1 and all(s.child.id in seen for s in undecided):
        rows.append([_btn(t("consent.btn.give_all", parent=me), ConsentCb(action="give", child=0, version=v))])
        rows.append([_btn(t("consent.btn.decline_all", parent=me), ConsentCb(action="decline", child=0, version=v))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def consent_command(message: Message, app: Core, person: Person, t: Translator, state: FSMContext) -> None:
    await state.set_state(None)
    shown = False
    if person.has_role("parent"):
        text, markup = await _parent_view(app, person, t)
        await message.answer(text, reply_markup=markup)
        shown = True
    if person.has_role(*STAFF_CONSENT_ROLES):
        text, markup = await _staff_view(app, person, t)
        await message.answer(text, reply_markup=markup)
        shown = True
    if not shown:
        await message.answer(t("consent.not_for_you"))


async def class_consents(message: Message, app: Core, person: Person, t: Translator, state: FSMContext) -> None:
    """The class teacher's menu button: their class's consents straight away."""
    await state.set_state(None)
    text, markup = await _staff_view(app, person, t)
    await message.answer(text, reply_markup=markup)


async def parent_action(
    query: CallbackQuery, callback_data: ConsentCb, app: Core, person: Person, t: Translator
) -> None:
    msg = query.message if isinstance(query.message, Message) else None
    action = callback_data.action
    if action == "menu":
        await query.answer()
        text, markup = await _parent_view(app, person, t)
        if msg is not None:
            await msg.answer(text, reply_markup=markup)
        return
    version = await svc.current(app)
    if callback_data.version != version.number:
        await query.answer(t("consent.stale"), show_alert=True)
        return
    children = {c.id: c for c in await app.people.children(person.id)}
    # "read" and "withdraw" name one child; only a decision may stand for "all my children" (0).
    per_child = action in ("read", "withdraw")
    if (callback_data.child != 0 or per_child) and callback_data.child not in children:
        # The server is the judge: a child id the caller does not represent is refused.
        await query.answer(t("consent.forbidden"), show_alert=True)
        return
    if action == "read":
        await query.answer()
        await _send_document(app, msg, person, children[callback_data.child], t)
        return
    if action == "form":
        if callback_data.child not in children:
            await query.answer(t("consent.forbidden"), show_alert=True)
            return
        # Rendering a PDF takes a moment: say so at once.
        await query.answer(t("consent.preparing"))
        if msg is not None:
            child = children[callback_data.child]
            data, name = await signing_form(app, person, child, t)
            caption = t("consent.form_caption", child=Named(child.full_name, escape=True))
            await msg.answer_document(BufferedInputFile(data, filename=name), caption=caption)
            text, markup = await _parent_view(app, person, t)
            await msg.answer(text, reply_markup=markup)
        return
    if action == "withdraw":
        await query.answer()
        if msg is not None:
            child = children[callback_data.child]
            markup = InlineKeyboardMarkup(inline_keyboard=[[
                _btn(t("consent.btn.withdraw_yes"), ConsentCb(action="wyes", child=child.id, version=version.number)),
                _btn(t("consent.btn.withdraw_no"), ConsentCb(action="wno", child=child.id, version=version.number)),
            ]])
            text = t("consent.withdraw_confirm", child=Named(child.full_name, escape=True))
            await msg.edit_text(text, reply_markup=markup)
        return
    if action == "wno":
        await query.answer(t("consent.withdraw_cancelled"))
        await _refresh(app, msg, person, t)
        return
    decisions: dict[str, Decision] = {"give": "given", "decline": "declined", "wyes": "withdrawn"}
    decision = decisions.get(action)
    if decision is None:
        await query.answer()
        return
    if callback_data.child == 0:
        if decision == "withdrawn":
            await query.answer()
            return
        states = await svc.family(app, person, version)
        # "For all": every child not already in that state; a given consent is never undone by
        # "decline all" (withdrawal is per child, with its own confirmation).
        child_ids = [s.child.id for s in states if s.state not in (decision, "given")]
    else:
        child_ids = [callback_data.child]
    if decision == "given":
        # The agree button appears only once the document was opened; a press without it is refused.
        seen = await svc.opened(app, person, version)
        if any(cid not in seen for cid in child_ids):
            await query.answer(t("consent.not_read"), show_alert=True)
            return
    assert query.from_user is not None
    results = await svc.decide(
        app, parent=person, child_ids=child_ids, decision=decision, version=callback_data.version,
        tg_user_id=query.from_user.id, update_id=_current_update_id(), callback_id=query.id,
    )
    app.wake_sender()
    recorded = [r for r in results if r.outcome is svc.Outcome.RECORDED]
    if not recorded:
        outcome = results[0].outcome if results else svc.Outcome.UNCHANGED
        await query.answer(t(f"consent.{outcome.value}"), show_alert=outcome is not svc.Outcome.UNCHANGED)
        return
    await query.answer()
    for r in recorded:
        assert r.row is not None
        if msg is not None:
            await msg.answer(svc.receipt_text(app, t, r.row, children[r.child_id]))
    await _refresh(app, msg, person, t)


def _current_update_id() -> int | None:

    mark = CURRENT_UPDATE.get()
    return mark.update_id if mark is not None else None


async def _refresh(app: Core, msg: Message | None, person: Person, t: Translator) -> None:
    if msg is None:
        return
    text, markup = await _parent_view(app, person, t)
    await msg.edit_text(text, reply_markup=markup)


async def _send_document(app: Core, msg: Message | None, parent: Person, child: Person, t: Translator) -> None:
    if msg is None:
        return
    # The text sent is the very text whose hash a decision will record.
    _, text = await svc.open_document(app, parent, child, t.lang)
    parts = [html.escape(part) for part in svc.split_message(text)]
    for i, part in enumerate(parts, 1):
        suffix = f"\n\n{t('consent.doc_part', i=i, n=len(parts))}" if len(parts) > 1 else ""
        await msg.answer(part + suffix)
    text, markup = await _parent_view(app, parent, t)
    await msg.answer(text, reply_markup=markup)


# --- staff --------------------------------------------------------------------------------------


async def _staff_view(app: Core, staff: Person, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    classes = svc.staff_classes(staff, await app.people.classes())
    if not classes:
        return t("consent.staff.no_classes"), None
    if len(classes) == 1 and not staff.is_admin:
        return await _class_view(app, staff, classes[0], t)
    version, rows = await svc.register(app)
    counts = svc.counts_by_class(rows)
    lines = [t("consent.staff.classes", version=version.number), ""]
    buttons = []
    for cls in classes:
        c = counts.get(cls, {"pending": 0, "given": 0, "declined": 0, "withdrawn": 0})
        line = t("consent.staff.class_line", cls=cls, given=c["given"], pending=c["pending"],
                 declined=c["declined"] + c["withdrawn"])
        lines.append(line)
        buttons.append([_btn(line, StaffCb(action="class", cls=cls))])
    buttons.append(_export_row(t, ""))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def _class_view(app: Core, staff: Person, cls: str, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    version, rows = await svc.register(app, cls)
    overview = await svc.class_overview(app, cls)
    originals = await svc.originals(app, version, [r.child_id for r in rows])
    lines = [t("consent.staff.class_title", cls=html.escape(cls), version=version.number), ""]
    for r in rows:
        details = ""
        if r.when is not None:
            when = r.when.astimezone(app.school.tz).strftime("%d.%m.%Y %H:%M")
            if r.channel == "paper":
                paper = r.paper_date.strftime("%d.%m.%Y") if r.paper_date else ""
                details = t("consent.staff.details_paper", paper_date=paper,
                            by=Named(r.recorded_by, escape=True), when=when, version=r.version)
            else:
                details = t("consent.staff.details_telegram", by=html.escape(r.by), when=when, version=r.version)
        elif r.state == "pending":
            # The class teacher chases families, so a pending child shows who to call.
            parents = ", ".join(html.escape(p.full_name) for p in await app.people.parents(r.child_id))
            details = t("consent.staff.details_parents", parents=parents) if parents else ""
        if r.child_id in originals:
            details += t("consent.staff.original_mark", date=originals[r.child_id].strftime("%d.%m.%Y"))
        lines.append(t("consent.staff.child_line", icon=t(f"consent.icon.{r.state}"), child=html.escape(r.child),
                       state=t(f"consent.state.{r.state}"), details=details))
    lines += ["", t("consent.staff.pending_families", n=len(overview.pending), d=len(overview.declined))]
    if overview.reminder_sent is not None:
        lines.append(t("consent.staff.reminder_sent_at",
                       when=overview.reminder_sent.astimezone(app.school.tz).strftime("%d.%m.%Y %H:%M")))
    buttons = [[_btn(t("consent.btn.paper"), StaffCb(action="paper", cls=cls))]]
    if app.school.consent.paper_original_required or app.school.consent.codes_wait_for_original:
        buttons.append([_btn(t("consent.btn.original"), StaffCb(action="orig", cls=cls))])
    if overview.pending and overview.reminder_sent is None:
        buttons.append([_btn(t("consent.btn.remind"), StaffCb(action="remind", cls=cls))])
    buttons.append(_export_row(t, cls))
    if staff.is_admin:
        buttons.append([_btn(t("consent.btn.back"), StaffCb(action="classes"))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


def _export_row(t: Translator, cls: str) -> list[InlineKeyboardButton]:
    return [
        _btn(t(f"consent.btn.export_{fmt}"), StaffCb(action="export", cls=cls, decision=fmt)) for fmt in ("xlsx", "pdf")
    ]


async def _send_export(query: CallbackQuery, app: Core, t: Translator, cls: str, fmt: str) -> None:
    # Building the file takes a moment: say so at once.
    await query.answer(t("consent.preparing"))
    if not isinstance(query.message, Message) or fmt not in ("xlsx", "pdf"):
        return
    data, name, _ = await export(app, "pdf" if fmt == "pdf" else "xlsx", t, cls or None)
    await query.message.answer_document(BufferedInputFile(data, filename=name), caption=t("consent.export.title"))


async def staff_action(
    query: CallbackQuery, callback_data: StaffCb, app: Core, person: Person, t: Translator, state: FSMContext
) -> None:
    msg = query.message if isinstance(query.message, Message) else None
    action, cls = callback_data.action, callback_data.cls
    if action == "classes":
        await query.answer()
        text, markup = await _staff_view(app, person, t)
        if msg is not None:
            await msg.edit_text(text, reply_markup=markup)
        return
    if action == "export" and not cls:
        # The whole school's register is the IT officer's.
        if not person.is_admin:
            await query.answer(t("consent.staff.forbidden"), show_alert=True)
            return
        await _send_export(query, app, t, "", callback_data.decision)
        return
    # Every class named in callback data is re-checked against the caller's classes.
    if cls not in svc.staff_classes(person, await app.people.classes()):
        await query.answer(t("consent.staff.forbidden"), show_alert=True)
        return
    if action == "class":
        await query.answer()
        text, markup = await _class_view(app, person, cls, t)
        if msg is not None:
            await msg.edit_text(text, reply_markup=markup)
    elif action == "export":
        await _send_export(query, app, t, cls, callback_data.decision)
    elif action == "paper":
        await query.answer()
        pupils = await app.people.with_role("student", cls)
        rows = [[_btn(p.full_name, StaffCb(action="child", cls=cls, child=p.id))] for p in pupils]
        if msg is not None:
            await msg.answer(t("consent.staff.pick_child", cls=html.escape(cls)),
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
    elif action == "orig":
        await query.answer()
        version = await svc.current(app)
        pupils = await app.people.with_role("student", cls)
        have = await svc.originals(app, version, [p.id for p in pupils])
        rows = [[_btn(p.full_name, StaffCb(action="origc", cls=cls, child=p.id))] for p in pupils if p.id not in have]
        if msg is not None:
            if rows:
                await msg.answer(t("consent.staff.pick_original", cls=html.escape(cls)),
                                 reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
            else:
                await msg.answer(t("consent.staff.no_originals_left", cls=html.escape(cls)))
    elif action == "origc":
        child = await app.people.get(callback_data.child)
        if child is None or child.class_label != cls:
            await query.answer(t("consent.staff.forbidden"), show_alert=True)
            return
        outcome = await svc.record_original(app, staff=person, child_id=child.id)
        if outcome is svc.Outcome.FORBIDDEN:
            await query.answer(t("consent.staff.forbidden"), show_alert=True)
            return
        if outcome is svc.Outcome.UNCHANGED:
            await query.answer(t("consent.staff.original_already"), show_alert=True)
            return
        await query.answer()
        app.wake_sender()
        today = app.clock.now().astimezone(app.school.tz).strftime("%d.%m.%Y")
        if msg is not None:
            await msg.edit_text(
                t("consent.staff.original_recorded", child=Named(child.full_name, escape=True), date=today)
            )
            text, markup = await _class_view(app, person, cls, t)
            await msg.answer(text, reply_markup=markup)
    elif action in ("child", "dec"):
        child = await app.people.get(callback_data.child)
        if child is None or child.class_label != cls or not svc.may_record_for(person, child):
            await query.answer(t("consent.staff.forbidden"), show_alert=True)
            return
        await query.answer()
        if msg is None:
            return
        if action == "child":
            rows = [[
                _btn(t(f"consent.btn.paper_{d}"), StaffCb(action="dec", cls=cls, child=child.id, decision=d))
                for d in ("given", "declined", "withdrawn")
            ]]
            await msg.edit_text(
                t("consent.staff.pick_decision", child=html.escape(child.full_name), cls=html.escape(cls)),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
            )
        elif callback_data.decision in ("given", "declined", "withdrawn"):
            await state.set_state(PaperForm.waiting_date)
            await state.update_data(paper_child=child.id, paper_decision=callback_data.decision)
            await msg.edit_text(t("consent.staff.ask_date"))
    elif action == "remind":
        sent = await svc.remind_class(app, person, cls)
        if sent is None:
            await query.answer(t("consent.staff.remind_already"), show_alert=True)
            return
        await query.answer(t.plural("consent.staff.remind_sent", sent), show_alert=True)
        app.wake_sender()
        text, markup = await _class_view(app, person, cls, t)
        if msg is not None:
            await msg.edit_text(text, reply_markup=markup)
    else:
        await query.answer()


async def paper_date(message: Message, app: Core, person: Person, t: Translator, state: FSMContext) -> None:
    data = await state.get_data()
    child_id, decision = data.get("paper_child"), data.get("paper_decision")
    if not isinstance(child_id, int) or decision not in ("given", "declined", "withdrawn"):
        await state.set_state(None)
        await message.answer(t("consent.staff.expired"))
        return
    today = app.clock.now().astimezone(app.school.tz).date()
    when = svc.parse_paper_date(message.text or "", today)
    if when is None:
        await message.answer(t("consent.staff.bad_date"))
        return
    result = await svc.record_paper(app, staff=person, child_id=child_id, decision=decision, paper_date=when)
    await state.set_state(None)
    await state.update_data(paper_child=None, paper_decision=None)
    if result.outcome is svc.Outcome.FORBIDDEN:
        await message.answer(t("consent.staff.forbidden"))
        return
    if result.outcome is not svc.Outcome.RECORDED or result.row is None:
        await message.answer(t(f"consent.{result.outcome.value}"))
        return
    child = await app.people.get(child_id)
    assert child is not None
    app.wake_sender()
    await message.answer(t(
        "consent.staff.paper_recorded", child=html.escape(child.full_name), cls=html.escape(child.class_label or "—"),
        decision=t(f"consent.decision.{decision}"), paper_date=when.strftime("%d.%m.%Y"), receipt=result.row.receipt_id,
    ))


async def admin_entry(query: CallbackQuery, app: Core, person: Person, t: Translator) -> None:
    await query.answer()
    text, markup = await _staff_view(app, person, t)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


def build_router() -> Router:
    router = Router(name="consent")
    router.message.filter(HasRole(*CONSENT_ROLES))
    router.callback_query.filter(HasRole(*CONSENT_ROLES))
    router.message.register(consent_command, Command("consent"))
    router.message.register(consent_command, MenuButton("consent"))
    router.message.register(class_consents, Command("class_consent"), HasRole(*CLASS_TEACHER_ROLES))
    router.message.register(class_consents, MenuButton("class_consent"), HasRole(*CLASS_TEACHER_ROLES))
    router.callback_query.register(parent_action, ConsentCb.filter(), HasRole("parent"))
    router.callback_query.register(staff_action, StaffCb.filter(), HasRole(*STAFF_CONSENT_ROLES))
    router.callback_query.register(admin_entry, AdminAction.filter(F.action == "consent"), HasRole(*ADMIN_ROLES))
    router.message.register(
        paper_date, StateFilter(PaperForm.waiting_date), HasContent("text"), HasRole(*STAFF_CONSENT_ROLES)
    )
    return router
