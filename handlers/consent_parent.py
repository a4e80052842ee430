"""/consent for parents: decide per child (read, agree, decline, withdraw with confirmation, receipts).
Holds a parent's consent screen (`ParentScreens`), the check every parent button repeats (current
version, own child) and one handler per parent button; handlers/consent.py registers them on its
router. The staff side is handlers/consent_staff.py and handlers/consent_paper.py."""

from __future__ import annotations

import html

from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import Channel
from bot.config import SchoolConfig
from bot.domain.messages import Payload
from bot.domain.people import Person
from bot.i18n import Translator
from bot.russian import Named
from bot.services import consent as svc
from bot.services.consent import ConsentService
from bot.services.consent_export import ConsentExport
from bot.services.consent_gate import ConsentGate
from bot.services.outbox import Outbox
from bot.tg.callbacks import ConsentAction, ConsentCb
from bot.tg.policy import child_data, personal_file
from handlers.common import button, message_of
from storage.consent import Decision, Version
from storage.db import CURRENT_UPDATE
from storage.people import PersonRepo


class ParentScreens:
    """A parent's consent screen (each child, the buttons a parent may press) and the document,
    built once with what they read; handlers ask for them as ``parent_screens``."""

    def __init__(self, *, consent: ConsentService, consent_gate: ConsentGate, school: SchoolConfig) -> None:
        self.consent = consent
        self.consent_gate = consent_gate
        self.school = school

    async def view(
        self, parent: Person, t: Translator, *, opening: int | None = None,
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The screen; ``opening``: a child whose document is being opened now (counted as opened:
        the screen that follows the document is composed before the opening commits)."""
        version = await self.consent.current()
        states = await self.consent_gate.family(parent, version)
        if not states:
            return t("consent.no_children", contact=html.escape(self.school.school.it_officer_contact)), None
        lines = [t("consent.title", version=version.number), ""]
        for s in states:
            lines.append(
                t("consent.child_line", icon=t(f"consent.icon.{s.state}"), child=html.escape(s.child.full_name),
                  cls=html.escape(s.child.class_label or "—"), state=t(f"consent.state.{s.state}"))
            )
            if s.conflict:
                # The family rule weighs every representative's word: say why consent does not apply.
                lines.append(t("consent.parent_conflict"))
        seen = await self.consent.opened(parent, version) | ({opening} if opening is not None else set())
        undecided = [s for s in states if s.own != "given"]
        # Before the buttons, plainly: what a press records, and that it is not a signature; the
        # "open it first" line only while a document that still waits for an answer is unread.
        if any(s.child.id not in seen for s in undecided):
            lines += ["", t("consent.read_first", parent=Named(parent.full_name))]
        if undecided:
            lines += ["", t("consent.ack", parent=Named(parent.full_name))]
        if self.school.consent.paper_original_required:
            lines += ["", t("consent.paper_note", note=html.escape(self.school.consent.paper_original_note))]
        rows: list[list[InlineKeyboardButton]] = []
        me = Named(parent.full_name)
        v = version.number
        for s in states:
            name = Named(s.child.full_name)
            def press(action: str, child_id: int = s.child.id, child: Named = name) -> InlineKeyboardButton:
                label = t(f"consent.btn.{action}", child=child, parent=me)
                return button(label, ConsentCb(action=action, child=child_id, version=v))

            rows.append([press("read")])
            if self.school.consent.paper_original_required:
                rows.append([press("form")])
            # Each representative decides for themself (the family rule weighs everyone's word):
            # the buttons follow this parent's own decision; consent the other parent gave may be
            # withdrawn by this one too.
            if s.own != "given":
                # The agree button appears once the parent has opened this child's document.
                row = [press("give")] if s.child.id in seen else []
                if s.own != "declined":
                    row.append(press("decline"))
                if row:
                    rows.append(row)
            if s.own == "given" or s.state == "given":
                rows.append([press("withdraw")])
        if len(states) > 1 and len(undecided) > 1 and all(s.child.id in seen for s in undecided):
            give_all = ConsentCb(action="give", child=0, version=v)
            decline_all = ConsentCb(action="decline", child=0, version=v)
            rows.append([button(t("consent.btn.give_all", parent=me), give_all)])
            rows.append([button(t("consent.btn.decline_all", parent=me), decline_all)])
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)

    async def refresh(self, msg: Message | None, person: Person, t: Translator) -> None:
        if msg is None:
            return
        text, markup = await self.view(person, t)
        await msg.edit_text(text, reply_markup=markup)

    async def send_document(
        self, msg: Message | None, parent: Person, child: Person, t: Translator,
        *, channel: Channel, user_id: int, outbox: Outbox,
    ) -> None:
        # The text sent is the very text whose hash a decision will record; sent whole, the messenger's
        # wire cuts it into messages its platform holds (bot/tg/wire_text.py). The opening is recorded
        # with the document and the screen that follows (its agree button) queued as the press's
        # answers: a parent recorded as having opened the text gets it, whatever happens to this
        # worker after the commit (storage/outbox.py, answers).
        text, markup = await self.view(parent, t, opening=child.id)
        screen = Payload(text=text, reply_markup=markup.model_dump(exclude_none=True) if markup else None)
        answers = await self.consent.show_document(parent, child, t.lang, then=screen)
        if msg is None:
            return  # the outbox gives them
        for answer in answers:
            markup_then = answer.payload.reply_markup
            sent = await msg.answer(
                answer.payload.text or "",
                reply_markup=InlineKeyboardMarkup.model_validate(markup_then) if markup_then else None,
            )
            await outbox.answered(answer, message_id=sent.message_id, channel=channel, user_id=user_id)


@child_data
async def open_menu(
    query: CallbackQuery, person: Person, t: Translator, *,
    parent_screens: ParentScreens,
) -> None:
    await query.answer()
    text, markup = await parent_screens.view(person, t)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


async def _checked(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, t: Translator, *, per_child: bool,
    consent: ConsentService, people: PersonRepo,
) -> tuple[Version, dict[int, Person]] | None:
    """The version the button was made for must be the current one, and a child it names must be
    the caller's (the server is the judge: a forged child id is refused). `per_child`: the action
    names one child; only a decision may stand for "all my children" (0)."""
    version = await consent.current()
    if callback_data.version != version.number:
        await query.answer(t("consent.stale"), show_alert=True)
        return None
    children = {c.id: c for c in await people.children(person.id)}
    if (callback_data.child != 0 or per_child) and callback_data.child not in children:
        await query.answer(t("consent.forbidden"), show_alert=True)
        return None
    return version, children




@child_data
async def read_document(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, t: Translator, channel: Channel = Channel.TELEGRAM,
    *, parent_screens: ParentScreens, consent: ConsentService, people: PersonRepo, outbox: Outbox,
) -> None:
    checked = await _checked(query, callback_data, person, t, per_child=True, consent=consent, people=people)
    if checked is None:
        return
    await query.answer()
    await parent_screens.send_document(
        message_of(query), person, checked[1][callback_data.child], t,
        channel=channel, user_id=query.from_user.id, outbox=outbox,
    )


@personal_file
async def signing_form_pdf(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, t: Translator,
    *, parent_screens: ParentScreens, consent: ConsentService, consent_export: ConsentExport,
    people: PersonRepo,
) -> None:
    checked = await _checked(query, callback_data, person, t, per_child=False, consent=consent, people=people)
    if checked is None:
        return
    children = checked[1]
    if callback_data.child not in children:
        await query.answer(t("consent.forbidden"), show_alert=True)
        return
    msg = message_of(query)
    # Rendering a PDF takes a moment: say so at once.
    await query.answer(t("consent.preparing"))
    if msg is not None:
        child = children[callback_data.child]
        data, name = await consent_export.signing_form(person, child, t)
        caption = t("consent.form_caption", child=Named(child.full_name, escape=True))
        await msg.answer_document(BufferedInputFile(data, filename=name), caption=caption)
        text, markup = await parent_screens.view(person, t)
        await msg.answer(text, reply_markup=markup)


@child_data
async def ask_withdraw(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, t: Translator,
    *, consent: ConsentService, people: PersonRepo,
) -> None:
    checked = await _checked(query, callback_data, person, t, per_child=True, consent=consent, people=people)
    if checked is None:
        return
    version, children = checked
    await query.answer()
    msg = message_of(query)
    if msg is not None:
        child = children[callback_data.child]
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            button(t("consent.btn.withdraw_yes"), ConsentCb(action="wyes", child=child.id, version=version.number)),
            button(t("consent.btn.withdraw_no"), ConsentCb(action="wno", child=child.id, version=version.number)),
        ]])
        text = t("consent.withdraw_confirm", child=Named(child.full_name, escape=True))
        await msg.edit_text(text, reply_markup=markup)


@child_data
async def keep_consent(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, t: Translator,
    *, parent_screens: ParentScreens, consent: ConsentService, people: PersonRepo,
) -> None:
    if await _checked(query, callback_data, person, t, per_child=False, consent=consent, people=people) is None:
        return
    await query.answer(t("consent.withdraw_cancelled"))
    await parent_screens.refresh(message_of(query), person, t)


DECISIONS: dict[ConsentAction, Decision] = {
    ConsentAction.GIVE: "given", ConsentAction.DECLINE: "declined", ConsentAction.WYES: "withdrawn",
}


@child_data
async def decide(
    query: CallbackQuery, callback_data: ConsentCb, person: Person, t: Translator, channel: Channel = Channel.TELEGRAM,
    *, parent_screens: ParentScreens, consent: ConsentService, consent_gate: ConsentGate,
    outbox: Outbox, people: PersonRepo,
) -> None:
    checked = await _checked(query, callback_data, person, t, per_child=False, consent=consent, people=people)
    if checked is None:
        return
    version, _children = checked
    decision = DECISIONS[callback_data.action]
    if callback_data.child == 0:
        if decision == "withdrawn":
            await query.answer()
            return
        states = await consent_gate.family(person, version)
        # "For all": every child not already in that state; a given consent is never undone by
        # "decline all" (withdrawal is per child, with its own confirmation).
        child_ids = [s.child.id for s in states if s.own not in (decision, "given")]
    else:
        child_ids = [callback_data.child]
    if decision == "given":
        # The agree button appears only once the document was opened; a press without it is refused.
        seen = await consent.opened(person, version)
        if any(cid not in seen for cid in child_ids):
            await query.answer(t("consent.not_read"), show_alert=True)
            return
    assert query.from_user is not None
    results = await consent.decide(
        parent=person, child_ids=child_ids, decision=decision, version=callback_data.version,
        # The press names its account: the messenger it came from and the user id there.
        channel=channel, user_id=query.from_user.id,
        update_id=_current_update_id(), callback_id=query.id, receipt_lang=t.lang,
    )
    outbox.wake()
    recorded = [r for r in results if r.outcome is svc.Outcome.RECORDED]
    if not recorded:
        outcome = results[0].outcome if results else svc.Outcome.UNCHANGED
        await query.answer(t(f"consent.{outcome.value}"), show_alert=outcome is not svc.Outcome.UNCHANGED)
        return
    await query.answer()
    msg = message_of(query)
    # Each receipt was queued with its decision: given here, in this chat, right after the commit;
    # one this handler does not give (no message to answer, a send that fails, a worker that dies
    # now) goes out through the outbox (storage/outbox.py, answers).
    for r in recorded:
        if msg is not None and r.receipt is not None:
            sent = await msg.answer(r.receipt.payload.text or "")
            await outbox.answered(r.receipt, message_id=sent.message_id, channel=channel, user_id=query.from_user.id)
    await parent_screens.refresh(msg, person, t)


def _current_update_id() -> int | None:

    mark = CURRENT_UPDATE.get()
    return mark.update_id if mark is not None else None
