"""Onboarding: /start, sharing one's contact, deep-link tokens, the main menu, /language, /help."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter
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

from bot.channels import Channel, DataClass
from bot.config import SchoolConfig
from bot.domain.people import Person
from bot.i18n import LANGUAGES, Catalog, Translator
from bot.max import channel_of
from bot.russian import Named
from bot.services.onboarding import (
    LinkOutcome,
    LinkResult,
    OnboardingService,
    TelegramUser,
)
from bot.tg.callbacks import AdminClaim, ClaimAction, LangChoice, MessengerChoice
from bot.tg.filters import HasContent, IsLinked, MenuButton
from bot.tg.menu import main_keyboard, visible_entries
from bot.tg.policy import declare, personal, public, varies
from handlers.common import set_commands


def _tg_user(user: User, bot: Bot) -> TelegramUser:
    return TelegramUser(id=user.id, full_name=user.full_name, username=user.username, channel=channel_of(bot))


def _contact_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("start.share_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def _welcome(message: Message, bot: Bot, person: Person, t: Translator, *, catalog: Catalog) -> None:
    t = catalog.bind(person.lang or t.lang)
    roles = ", ".join(t(f"roles.{r}") for r in sorted(person.roles))
    welcome = t("start.welcome", name=Named(person.full_name, escape=True), roles=roles)
    await message.answer(
        f"{welcome} {t(f'start.commands_where.{channel_of(bot).value}')}", reply_markup=main_keyboard(person, t)
    )
    await set_commands(bot, message.chat.id, person, t)


async def _ask_contact(message: Message, t: Translator, *, school: SchoolConfig) -> None:
    text = t("start.ask_contact", school=html.escape(school.school.name))
    await message.answer(text, reply_markup=_contact_keyboard(t))


async def _unknown(message: Message, t: Translator, *, school: SchoolConfig) -> None:
    contact = html.escape(school.school.it_officer_contact)
    await message.answer(t("start.unknown", contact=contact), reply_markup=ReplyKeyboardRemove())


async def _admin_choice(message: Message, result: LinkResult, t: Translator) -> None:
    """Who are you? Two messages, so that the claim works wherever it is asked: the question and the
    ways that need no names (find me by my phone, not in the list) are public, and arrive even where
    the channel may carry no personal data (Telegram under the municipal rules); the roster's IT
    officers by name are personal, and are replaced there by the pointer. Button texts are not HTML,
    names go in as they are."""
    def button(text: str, action: ClaimAction, person_id: int = 0) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(text=text, callback_data=AdminClaim(action=action, person_id=person_id).pack())]

    declare(DataClass.PUBLIC)
    ways = [
        button(t("start.admin_by_phone"), ClaimAction.CONTACT), button(t("start.admin_not_listed"), ClaimAction.NEW),
    ]
    await message.answer(t("start.admin_who"), reply_markup=InlineKeyboardMarkup(inline_keyboard=ways))
    if result.candidates:
        declare(DataClass.PERSONAL)
        rows = [button(p.full_name, ClaimAction.PICK, p.id) for p in result.candidates]
        await message.answer(t("start.admin_pick"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


# An administrator not linked yet is asked who they are (see _admin_choice); everyone else is greeted.
claims = varies(
    DataClass.PERSONAL, DataClass.PUBLIC,
    by="an administrator not linked yet: the question without names is public, the roster's IT officers personal",
)


@claims
async def start_with_token(
    message: Message, command: CommandObject, bot: Bot, t: Translator, state: FSMContext, *, catalog: Catalog,
    onboarding: OnboardingService, school: SchoolConfig,
) -> None:
    assert message.from_user is not None
    await state.clear()
    result = await onboarding.link_by_token(_tg_user(message.from_user, bot), command.args or "")
    if result.outcome is LinkOutcome.CHOOSE_ADMIN:
        await _admin_choice(message, result, t)
    elif result.outcome is LinkOutcome.LINKED and result.person is not None:
        await _welcome(message, bot, result.person, t, catalog=catalog)
    else:
        await message.answer(t("start.bad_token", contact=html.escape(school.school.it_officer_contact)))


class Newcomer(Filter):
    """Someone the bot does not know yet and who is not an administrator (ADMIN_IDS): /start can only
    ask for their phone number, which names nobody."""

    async def __call__(
        self, message: Message, bot: Bot, onboarding: OnboardingService, person: Person | None = None,
    ) -> bool:
        return person is None and message.from_user is not None and not onboarding.is_admin_id(
            _tg_user(message.from_user, bot)
        )


@public
async def start_newcomer(message: Message, t: Translator, state: FSMContext, *, school: SchoolConfig) -> None:
    await state.clear()
    # Unknown users see the default command list, set once at startup (no API call per /start).
    await _ask_contact(message, t, school=school)


@claims
async def start(
    message: Message, bot: Bot, person: Person | None, t: Translator, state: FSMContext, *, catalog: Catalog,
    onboarding: OnboardingService, school: SchoolConfig,
) -> None:
    assert message.from_user is not None
    await state.clear()
    if person is None:
        result = await onboarding.bootstrap_admin(_tg_user(message.from_user, bot))
        if result is not None and result.outcome is LinkOutcome.CHOOSE_ADMIN:
            await _admin_choice(message, result, t)
            return
        person = result.person if result is not None else None
    if person is not None:
        await _welcome(message, bot, person, t, catalog=catalog)
        return
    # Unknown users see the default command list, set once at startup (no API call per /start).
    await _ask_contact(message, t, school=school)


@public
async def admin_claim_by_contact(query: CallbackQuery, t: Translator, *, school: SchoolConfig) -> None:
    """"Find me by my phone number": the contact request, as for anyone unknown."""
    await query.answer()
    if isinstance(query.message, Message):
        await _ask_contact(query.message, t, school=school)


@personal
async def admin_claimed(
    query: CallbackQuery, callback_data: AdminClaim, bot: Bot, t: Translator, *, catalog: Catalog,
    onboarding: OnboardingService, school: SchoolConfig,
) -> None:
    msg = query.message if isinstance(query.message, Message) else None
    person_id = callback_data.person_id if callback_data.action is ClaimAction.PICK else None
    result = await onboarding.claim_admin(_tg_user(query.from_user, bot), person_id)
    if result.person is None:
        # Not an administrator, or a roster row someone else has claimed meanwhile.
        await query.answer(t("fallback.button_unavailable"), show_alert=True)
        return
    await query.answer()
    if msg is not None:
        await _welcome(msg, bot, result.person, t, catalog=catalog)


@personal
async def contact_shared(
    message: Message, bot: Bot, t: Translator, *, catalog: Catalog, onboarding: OnboardingService, school: SchoolConfig,
) -> None:
    assert message.from_user is not None and message.contact is not None
    result = await onboarding.link_by_contact(
        _tg_user(message.from_user, bot), message.contact.user_id, message.contact.phone_number
    )
    if result.outcome is LinkOutcome.NOT_OWN_CONTACT:
        await message.answer(t("start.not_own_contact"), reply_markup=_contact_keyboard(t))
    elif result.outcome in (LinkOutcome.LINKED, LinkOutcome.ALREADY_LINKED) and result.person is not None:
        await _welcome(message, bot, result.person, t, catalog=catalog)
    else:
        await _unknown(message, t, school=school)


@public
async def menu(message: Message, person: Person, t: Translator) -> None:
    await message.answer(t("start.menu"), reply_markup=main_keyboard(person, t))


@public
async def help_(message: Message, person: Person | None, t: Translator, *, school: SchoolConfig) -> None:
    contact = school.school.it_officer_contact
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


@public
async def language(message: Message, t: Translator) -> None:
    buttons = [
        InlineKeyboardButton(text=t(f"start.lang_{code}"), callback_data=LangChoice(code=code).pack())
        for code in LANGUAGES
    ]
    await message.answer(t("start.choose_language"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]))


@public
async def language_chosen(
    query: CallbackQuery, callback_data: LangChoice, bot: Bot, person: Person | None, *, onboarding: OnboardingService,
    catalog: Catalog,
) -> None:
    if callback_data.code not in LANGUAGES:
        await query.answer()
        return
    t = catalog.bind(callback_data.code)
    if person is not None:
        person = await onboarding.set_language(person.id, callback_data.code)
    await query.answer(t("start.language_set"))
    if query.message is not None:
        chat_id = query.message.chat.id
        if person is not None:
            await bot.send_message(chat_id, t("start.language_set"), reply_markup=main_keyboard(person, t))
        await set_commands(bot, chat_id, person, t)


@public
async def messenger(message: Message, person: Person, t: Translator, *, onboarding: OnboardingService) -> None:
    """/messenger: which messenger the bot's messages go to, among those the person is linked on."""
    reach = await onboarding.reach(person.id)
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


@public
async def messenger_chosen(
    query: CallbackQuery, callback_data: MessengerChoice, person: Person | None, t: Translator, *,
    onboarding: OnboardingService,
) -> None:
    channel = next((c for c in Channel if c.value == callback_data.channel), None)
    if person is None or channel is None:
        await query.answer(t("fallback.button_unavailable"), show_alert=True)
        return
    if not await onboarding.choose_messenger(person.id, channel):
        # Not linked there (a forged or stale button): nothing changes.
        await query.answer(t("start.messenger_not_linked"), show_alert=True)
        return
    await query.answer(t("start.messenger_set", channel=t(f"start.messenger_{channel.value}")))


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start_with_token, CommandStart(deep_link=True))
    # Split by what each can show: the newcomer's question names nobody; the greeting and the
    # administrator's choice of roster IT officers name people.
    router.message.register(start_newcomer, CommandStart(), Newcomer())
    router.message.register(start, CommandStart())
    router.message.register(contact_shared, HasContent("contact"))
    router.message.register(menu, Command("menu"), IsLinked())
    router.message.register(help_, Command("help"))
    router.message.register(language, Command("language"))
    router.message.register(language, MenuButton("language"))
    router.callback_query.register(language_chosen, LangChoice.filter())
    router.callback_query.register(admin_claim_by_contact, AdminClaim.filter(F.action == ClaimAction.CONTACT))
    router.callback_query.register(admin_claimed, AdminClaim.filter())  # pick a roster row, or "not in the list"
    router.message.register(messenger, Command("messenger"), IsLinked())
    router.callback_query.register(messenger_chosen, MessengerChoice.filter())
    return router
