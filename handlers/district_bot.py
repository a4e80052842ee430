"""The district bot's school picker (issue #27, item 3): one bot for many schools, where a person known
in several schools picks the one they are talking to.

The school of every update is chosen before any handler runs (bot/multibot.py, `SchoolRouting`): the
person's remembered choice, or the one school that knows their account, or the school a deep link
names. These handlers only answer what is left: a person known in several schools who has not
chosen yet («Выберите школу» with a button per school), the choice itself, and «🏫 Сменить школу»
(or /school) to change it. They are registered in the district's one router tree, first, and act in
the district bot only (``district_schools`` is in the update's data there alone), with the district
role's router (handlers/district.py, /district) between the picker and the catch-all of a person
who has not chosen.

The titles shown are the schools' own public names: every answer here is public."""

from __future__ import annotations

from html import escape
from typing import Protocol

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject

from bot.channels import Channel
from bot.i18n import LANGUAGES, Catalog, Translator
from bot.tg.callbacks import SchoolPick
from bot.tg.policy import public
from handlers import district
from handlers.common import button, keyboard, message_of


class DistrictSchools(Protocol):
    """The district's side of the picker (bot/multibot.py implements it)."""

    async def schools_of(self, channel: Channel, user_id: int) -> list[tuple[str, str]]:
        """(key, title) of every school that knows this messenger account, in the district's order."""
        ...

    async def choose(self, channel: Channel, user_id: int, key: str) -> str | None:
        """Remember ``key`` as the account's school, if that school knows the account; its title, or
        None (a school that does not know the person is never chosen by a button)."""
        ...


class InDistrictBot(Filter):
    """The update came to the district bot (its routing put ``district`` in the update's data)."""

    async def __call__(self, event: TelegramObject, district_schools: DistrictSchools | None = None) -> bool:
        return district_schools is not None


class SchoolPending(Filter):
    """The person is known in several schools and has not picked one: no school's handler may answer."""

    async def __call__(self, event: TelegramObject, school_pending: bool = False) -> bool:
        return school_pending


class ChangeSchool(Filter):
    """The «🏫 Сменить школу» button of the district bot's menu, in any language."""

    async def __call__(self, message: Message, catalog: Catalog) -> bool:
        return bool(message.text) and message.text in {catalog.text(lang, "district_bot.change") for lang in LANGUAGES}


def picker(schools: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return keyboard([[button(title, SchoolPick(key=key))] for key, title in schools])


async def _offer(message: Message, t: Translator, channel: Channel, district: DistrictSchools) -> None:
    user = message.from_user
    schools = [] if user is None else await district.schools_of(channel, user.id)
    if not schools:
        await message.answer(t("district_bot.unknown"))
    elif len(schools) == 1:
        await message.answer(t("district_bot.only_one", title=escape(schools[0][1])))
    else:
        await message.answer(t("district_bot.pick"), reply_markup=picker(schools))


@public
async def choose_first(message: Message, t: Translator, channel: Channel, *, district_schools: DistrictSchools
                       ) -> None:
    await _offer(message, t, channel, district_schools)


@public
async def choose_first_pressed(
    query: CallbackQuery, t: Translator, channel: Channel, *, district_schools: DistrictSchools
) -> None:
    await query.answer()
    message = message_of(query)
    if message is not None and query.from_user is not None:
        schools = await district_schools.schools_of(channel, query.from_user.id)
        await message.answer(t("district_bot.pick") if schools else t("district_bot.unknown"),
                             reply_markup=picker(schools) if len(schools) > 1 else None)


@public
async def change_school(message: Message, t: Translator, channel: Channel, *, district_schools: DistrictSchools
                        ) -> None:
    await _offer(message, t, channel, district_schools)


@public
async def school_picked(
    query: CallbackQuery, callback_data: SchoolPick, t: Translator, channel: Channel, *,
    district_schools: DistrictSchools,
) -> None:
    title = await district_schools.choose(channel, query.from_user.id, callback_data.key)
    if title is None:
        await query.answer(t("district_bot.not_yours"), show_alert=True)
        return
    await query.answer()
    message = message_of(query)
    if message is not None:
        await message.answer(t("district_bot.picked", title=escape(title)))


def build_router() -> Router:
    router = Router(name="district_bot")
    router.message.filter(InDistrictBot())
    router.callback_query.filter(InDistrictBot())
    router.callback_query.register(school_picked, SchoolPick.filter())
    router.message.register(change_school, Command("school"))
    router.message.register(change_school, ChangeSchool())
    # The district role (/district) answers an operator whether or not a school is chosen.
    router.include_router(district.build_router())
    pending = Router(name="district_bot_pending")
    pending.message.register(choose_first, SchoolPending())
    pending.callback_query.register(choose_first_pressed, SchoolPending())
    router.include_router(pending)
    return router
