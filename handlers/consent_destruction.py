"""The IT officer's destruction tasks (a withdrawn consent, 152-FZ art. 21 part 5): the buttons on
the task and its reminders confirm the destruction or fetch the act (акт об уничтожении)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery

from bot.channels import Channel
from bot.domain.access import ADMIN_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.consent_withdrawal import ConsentWithdrawal
from bot.services.outbox import Outbox
from bot.tg.callbacks import DestroyAction, DestroyCb
from bot.tg.filters import HasRole
from bot.tg.policy import personal_file
from handlers.common import message_of

# Every callback of this module is for the IT officer only (tests/test_access.py relies on it).
STAFF_ONLY = True


@personal_file
async def confirm_destroyed(
    query: CallbackQuery, callback_data: DestroyCb, person: Person, t: Translator,
    channel: Channel = Channel.TELEGRAM, *, consent_withdrawal: ConsentWithdrawal, outbox: Outbox,
) -> None:
    outcome = await consent_withdrawal.confirm(callback_data.task, by=person, channel=channel.value)
    outbox.wake()
    await query.answer(t(f"consent.destroy.{outcome}", task=callback_data.task), show_alert=outcome != "confirmed")
    if outcome == "confirmed":
        await _send_act(query, callback_data.task, t, consent_withdrawal=consent_withdrawal)


@personal_file
async def destruction_act(
    query: CallbackQuery, callback_data: DestroyCb, t: Translator, *, consent_withdrawal: ConsentWithdrawal,
) -> None:
    await query.answer(t("consent.preparing"))
    await _send_act(query, callback_data.task, t, consent_withdrawal=consent_withdrawal)


async def _send_act(
    query: CallbackQuery, task_id: int, t: Translator, *, consent_withdrawal: ConsentWithdrawal,
) -> None:
    msg = message_of(query)
    if msg is None:
        return
    # The act names the child and the parents: a file with personal data (declared above; where the
    # channel may not carry it, the session's guard sends the pointer instead).
    made = await consent_withdrawal.act_pdf(task_id, t)
    if made is None:
        return
    data, name = made
    await msg.answer_document(BufferedInputFile(data, filename=name), caption=t("consent.act.caption", n=task_id))


def build_router() -> Router:
    router = Router(name="consent_destruction")
    admins = HasRole(*ADMIN_ROLES)
    router.callback_query.register(confirm_destroyed, DestroyCb.filter(F.action == DestroyAction.DONE), admins)
    router.callback_query.register(destruction_act, DestroyCb.filter(F.action == DestroyAction.ACT), admins)
    return router
