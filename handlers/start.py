"""Onboarding: /start, sharing one's contact, deep-link tokens, the main menu, /language, /help."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    User,
)

from bot.app import App
from bot.filters import HasContent, IsLinked, MenuButton
from bot.i18n import LANGUAGES, Translator
from bot.menu import main_keyboard
from bot.services.onboarding import (
    LinkOutcome,
    TelegramUser,
    bootstrap_admin,
    link_by_contact,
    link_by_token,
)
from handlers.common import set_commands
from storage.people import Person, PersonRepo


class LangChoice(CallbackData, prefix="lang"):
    code: str


def _tg_user(user: User) -> TelegramUser:
    return TelegramUser(id=user.id, full_name=user.full_name, username=user.username)


def _contact_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("start.share_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def _welcome(message: Message, bot: Bot, app: App, person: Person, t: Translator) -> None:
    t = app.catalog.bind(person.lang or t.lang)
    roles = ", ".join(t(f"roles.{r}") for r in sorted(person.roles))
    await message.answer(
        t("start.welcome", name=person.full_name, roles=roles), reply_markup=main_keyboard(person, t)
    )
    await set_commands(bot, message.chat.id, person, t)


async def _unknown(message: Message, app: App, t: Translator) -> None:
    await message.answer(
        t("start.unknown", contact=app.school.school.it_officer_contact), reply_markup=ReplyKeyboardRemove()
    )


async def start_with_token(
    message: Message, command: CommandObject, bot: Bot, app: App, t: Translator, state: FSMContext
) -> None:
    assert message.from_user is not None
    await state.clear()
    result = await link_by_token(app, _tg_user(message.from_user), command.args or "")
    if result.outcome is LinkOutcome.LINKED and result.person is not None:
        await _welcome(message, bot, app, result.person, t)
    else:
        await message.answer(t("start.bad_token", contact=app.school.school.it_officer_contact))


async def start(message: Message, bot: Bot, app: App, person: Person | None, t: Translator, state: FSMContext) -> None:
    assert message.from_user is not None
    await state.clear()
    if person is None:
        person = await bootstrap_admin(app, _tg_user(message.from_user))
    if person is not None:
        await _welcome(message, bot, app, person, t)
        return
    # Unknown users see the default command list, set once at startup (no API call per /start).
    await message.answer(t("start.ask_contact", school=app.school.school.name), reply_markup=_contact_keyboard(t))


async def contact_shared(message: Message, bot: Bot, app: App, t: Translator) -> None:
    assert message.from_user is not None and message.contact is not None
    result = await link_by_contact(
        app, _tg_user(message.from_user), message.contact.user_id, message.contact.phone_number
    )
    if result.outcome is LinkOutcome.NOT_OWN_CONTACT:
        await message.answer(t("start.not_own_contact"), reply_markup=_contact_keyboard(t))
    elif result.outcome in (LinkOutcome.LINKED, LinkOutcome.ALREADY_LINKED) and result.person is not None:
        await _welcome(message, bot, app, result.person, t)
    else:
        await _unknown(message, app, t)


async def menu(message: Message, person: Person, t: Translator) -> None:
    await message.answer(t("start.menu"), reply_markup=main_keyboard(person, t))


async def help_(message: Message, app: App, person: Person | None, t: Translator) -> None:
    key = "start.help_linked" if person is not None else "start.help_unknown"
    await message.answer(t(key, contact=app.school.school.it_officer_contact))


async def language(message: Message, t: Translator) -> None:
    buttons = [
        InlineKeyboardButton(text=t(f"start.lang_{code}"), callback_data=LangChoice(code=code).pack())
        for code in LANGUAGES
    ]
    await message.answer(t("start.choose_language"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]))


async def language_chosen(
    query: CallbackQuery, callback_data: LangChoice, bot: Bot, app: App, person: Person | None
) -> None:
    if callback_data.code not in LANGUAGES:
        await query.answer()
        return
    t = app.catalog.bind(callback_data.code)
    if person is not None:
        async with app.db.transaction() as conn:
            await PersonRepo.set_lang(conn, person.id, callback_data.code, app.clock.now())
        person = await app.people.get(person.id)
    await query.answer(t("start.language_set"))
    if query.message is not None:
        chat_id = query.message.chat.id
        if person is not None:
            await bot.send_message(chat_id, t("start.language_set"), reply_markup=main_keyboard(person, t))
        await set_commands(bot, chat_id, person, t)


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start_with_token, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(contact_shared, HasContent("contact"))
    router.message.register(menu, Command("menu"), IsLinked())
    router.message.register(help_, Command("help"))
    router.message.register(language, Command("language"))
    router.message.register(language, MenuButton("language"))
    router.callback_query.register(language_chosen, LangChoice.filter())
    return router
