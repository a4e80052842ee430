"""«Ознакомлен(а)»: the button under a broadcast or a plan document. Only a person it was sent to may
confirm (checked on the server); the first confirmation stands and records the text's hash."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.channels import Channel, DataClass
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.acks import AcksService, text_class
from bot.services.outbox import Outbox
from bot.tg.callbacks import AckCb
from bot.tg.filters import IsLinked
from bot.tg.policy import declare, varies
from handlers.common import message_of


@varies(DataClass.PERSONAL, DataClass.PUBLIC, by="the campaign's title: public when its author marked it")
async def confirm(query: CallbackQuery, callback_data: AckCb, person: Person, t: Translator,
                  channel: Channel = Channel.TELEGRAM, *, acks: AcksService, outbox: Outbox) -> None:
    status, campaign, note = await acks.confirm(person, callback_data.cid, channel.value, note_lang=t.lang)
    if status in ("missing", "not_target") or campaign is None:
        declare(DataClass.PUBLIC)
        await query.answer(t(f"acks.{status}"), show_alert=True)
        return
    declare(text_class(campaign.public_title))  # the note names the campaign's title
    await query.answer(t(f"acks.confirmed_{status}"))
    message = message_of(query)
    if message is not None and status == "ok":
        # The button goes; a line says what was confirmed and when (the record keeps its hash). The
        # line was queued with the confirmation: given here, or by the outbox if this worker cannot.
        if note is not None:
            sent = await message.answer(note.payload.text or "")
            await outbox.answered(note, message_id=sent.message_id, channel=channel, user_id=query.from_user.id)
        await message.edit_reply_markup(reply_markup=None)


def build_router() -> Router:
    router = Router(name="acks")
    router.callback_query.register(confirm, AckCb.filter(), IsLinked())
    return router
