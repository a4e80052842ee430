"""The district role on the district's bot (#27): a district operator sees the coverage table across
the district's schools, the same as `schoolbot district status` prints.

Declared `public`: the table is counts per school (plan progress, consent and activation coverage)
and the schools' titles; no code, no child's, parent's or staff name reaches it (the figures are
read as ids and flags in storage/district.py and counted in bot/services/district.py). Whether the
caller is an operator is asked of the district's registry by messenger account, on the server.
Its dependency is `district_coverage` (bot/district/runtime.py `District.dispatcher_data`): `district`
is the multi-bot root's picker (handlers/district_bot.py) on the same dispatcher.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.channels import Channel
from bot.i18n import Translator
from bot.services.district import DistrictService, render_coverage
from bot.tg.policy import public


@public
async def show_coverage(
    message: Message, t: Translator, channel: Channel, *, district_coverage: DistrictService
) -> None:
    user = message.from_user
    if user is None or not await district_coverage.is_operator(channel, user.id):
        await message.answer(t("district.not_operator"))
        return
    await message.answer(render_coverage(await district_coverage.coverage(), t, html=True))


def build_router() -> Router:
    router = Router(name="district")
    router.message.register(show_coverage, Command("district"))
    return router
