"""Onboarding: /start, sharing one's contact, deep-link tokens, the main menu, /language, /help."""

from __future__ import annotations

import html

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, CommandStart
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

from bot.channels import Channel
from bot.domain.people import Person
from bot.i18n import LANGUAGES, Translator
from bot.max import channel_of
from bot.russian import Named
from bot.services.core import Core
from bot.services.onboarding import (
    LinkOutcome,
    LinkResult,
    TelegramUser,
    bootstrap_admin,
    claim_admin,
    link_by_contact,
    link_by_token,
)
from bot.tg.callbacks import AdminClaim, ClaimAction, LangChoice, MessengerChoice
from bot.tg.filters import HasContent, IsLinked, MenuButton
from bot.tg.menu import main_keyboard, visible_entries
from handlers.common import set_commands
from storage.messengers import MessengerRepo
from storage.people import PersonRepo


def _tg_user(user: User, bot: Bot) -> TelegramUser:
    return TelegramUser(id=user.id, full_name=user.full_name, username=user.username, channel=channel_of(bot))


def _contact_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("start.share_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def _welcome(message: Message, bot: Bot, app: Core, person: Person, t: Translator) -> None:
    t = app.catalog.bind(person.lang or t.lang)
    roles = ", ".join(t(f"roles.{r}") for r in sorted(person.roles))
    await message.answer(
        t("start.welcome", name=Named(person.full_name, escape=True), roles=roles),
        reply_markup=main_keyboard(person, t),
    )
    await set_commands(bot, message.chat.id, person, t)


async def _ask_contact(message: Message, app: Core, t: Translator) -> None:
    text = t("start.ask_contact", school=html.escape(app.school.school.name))
    await message.answer(text, reply_markup=_contact_keyboard(t))


async def _unknown(message: Message, app: Core, t: Translator) -> None:
    contact = html.escape(app.school.school.it_officer_contact)
    await message.answer(t("start.unknown", contact=contact), reply_markup=ReplyKeyboardRemove())


async def _admin_choice(message: Message, result: LinkResult, t: Translator) -> None:
    """Which roster IT officer are you? Button texts are not HTML, names go in as they are."""
    def button(text: str, action: ClaimAction, person_id: int = 0) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(text=text, callback_data=AdminClaim(action=action, person_id=person_id).pack())]

    rows = [button(p.full_name, ClaimAction.PICK, p.id) for p in result.candidates]
    rows.append(button(t("start.admin_by_phone"), ClaimAction.CONTACT))
    rows.append(button(t("start.admin_not_listed"), ClaimAction.NEW))
    await message.answer(t("start.admin_who"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def start_with_token(
    message: Message, command: CommandObject, bot: Bot, app: Core, t: Translator, state: FSMContext
) -> None:
    assert message.from_user is not None
    await state.clear()
    result = await link_by_token(app, _tg_user(message.from_user, bot), command.args or "")
    if result.outcome is LinkOutcome.CHOOSE_ADMIN:
        await _admin_choice(message, result, t)
    elif result.outcome is LinkOutcome.LINKED and result.person is not None:
        await _welcome(message, bot, app, result.person, t)
    else:
        await message.answer(t("start.bad_token", contact=html.escape(app.school.school.it_officer_contact)))


async def start(message: Message, bot: Bot, app: Core, person: Person | None, t: Translator, state: FSMContext) -> None:
    assert message.from_user is not None
    await state.clear()
    if person is None:
        result = await bootstrap_admin(app, _tg_user(message.from_user, bot))
        if result is not None and result.outcome is LinkOutcome.CHOOSE_ADMIN:
            await _admin_choice(message, result, t)
            return
        person = result.person if result is not None else None
    if person is not None:
        await _welcome(message, bot, app, person, t)
        return
    # Unknown users see the default command list, set once at startup (no API call per /start).
    await _ask_contact(message, app, t)


async def admin_claimed(query: CallbackQuery, callback_data: AdminClaim, bot: Bot, app: Core, t: Translator) -> None:
    msg = query.message if isinstance(query.message, Message) else None
    if callback_data.action is ClaimAction.CONTACT:
        await query.answer()
        if msg is not None:
            await _ask_contact(msg, app, t)
        return
    person_id = callback_data.person_id if callback_data.action is ClaimAction.PICK else None
    result = await claim_admin(app, _tg_user(query.from_user, bot), person_id)
    if result.person is None:
        # Not an administrator, or a roster row someone else has claimed meanwhile.
        await query.answer(t("fallback.button_unavailable"), show_alert=True)
        return
    await query.answer()
    if msg is not None:
        await _welcome(msg, bot, app, result.person, t)


async def contact_shared(message: Message, bot: Bot, app: Core, t: Translator) -> None:
    assert message.from_user is not None and message.contact is not None
    result = await link_by_contact(
        app, _tg_user(message.from_user, bot), message.contact.user_id, message.contact.phone_number
    )
    if result.outcome is LinkOutcome.NOT_OWN_CONTACT:
        await message.answer(t("start.not_own_contact"), reply_markup=_contact_keyboard(t))
    elif result.outcome in (LinkOutcome.LINKED, LinkOutcome.ALREADY_LINKED) and result.person is not None:
        await _welcome(message, bot, app, result.person, t)
    else:
        await _unknown(message, app, t)


async def menu(message: Message, person: Person, t: Translator) -> None:
    await message.answer(t("start.menu"), reply_markup=main_keyboard(person, t))


async def help_(message: Message, app: Core, person: Person | None, t: Translator) -> None:
    contact = app.school.school.it_officer_contact
    if person is None:
        await message.answer(t("start.help_unknown", contact=html.escape(contact)))
        return
    # What this person's roles can do: the same entries as their menu and command list.
    lines = [t("start.help_linked", contact=html.escape(contact)), "", t("start.help_roles")]
    lines += [
        t("start.help_line", label=t(f"menu.{e.id}"), what=t(f"commands.{e.id}"), command=e.id)
        for e in visible_entries(person)
    ]
    lines += ["", t("start.help_footer", contact=html.escape(contact))]
    await message.answer("\n".join(lines))


async def language(message: Message, t: Translator) -> None:
    buttons = [
        InlineKeyboardButton(text=t(f"start.lang_{code}"), callback_data=LangChoice(code=code).pack())
        for code in LANGUAGES
    ]
    await message.answer(t("start.choose_language"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]))


async def language_chosen(
    query: CallbackQuery, callback_data: LangChoice, bot: Bot, app: Core, person: Person | None
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


async def messenger(message: Message, app: Core, person: Person, t: Translator) -> None:
    """/messenger: which messenger the bot's messages go to, among those the person is linked on."""
    reach = await MessengerRepo(app.db).reach(person.id)
    if reach is None:
        return
    rows = [
        [
            InlineKeyboardButton(
                text=("✅ " if channel is reach.preferred else "") + t(f"start.messenger_{channel.value}"),
                callback_data=MessengerChoice(channel=channel.value).pack(),
            )
        ]
        for channel in Channel
        if reach.user_id(channel) is not None
    ]
    current = t(f"start.messenger_{reach.preferred.value}")
    await message.answer(
        t("start.messenger_title", current=current), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
    )


async def messenger_chosen(
    query: CallbackQuery, callback_data: MessengerChoice, app: Core, person: Person | None, t: Translator
) -> None:
    channel = next((c for c in Channel if c.value == callback_data.channel), None)
    if person is None or channel is None:
        await query.answer(t("fallback.button_unavailable"), show_alert=True)
        return
    async with app.db.transaction() as conn:
        chosen = await MessengerRepo.set_preferred(conn, person.id, channel, app.clock.now())
    if not chosen:
        # Not linked there (a forged or stale button): nothing changes.
        await query.answer(t("start.messenger_not_linked"), show_alert=True)
        return
    await query.answer(t("start.messenger_set", channel=t(f"start.messenger_{channel.value}")))


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
    router.callback_query.register(admin_claimed, AdminClaim.filter())
    router.message.register(messenger, Command("messenger"), IsLinked())
    router.callback_query.register(messenger_chosen, MessengerChoice.filter())
    return router
