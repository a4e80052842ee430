"""FAQ browsing: categories filtered by the caller's roles, paginated entries, "back" everywhere.

Every button names a category or an entry; both are re-checked against the caller's audiences on
each press, so a stale button (FAQ reloaded) or a forged one gets an answer and the category list,
never an error or silence. The IT officer reloads the FAQ from /admin ("faq_reload").
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.channels import DataClass
from bot.domain.access import ADMIN_ROLES
from bot.domain.people import Person
from bot.i18n import Translator
from bot.services.faq import FaqEntry, FaqError, faq_error_text
from bot.services.tickets import TicketsService, audiences_of
from bot.tg.callbacks import AdminAction, AskQuery, FaqNav, FaqView, TicketCb
from bot.tg.filters import HasRole, MenuButton
from bot.tg.policy import declare, public, varies
from handlers.common import keyboard

log = logging.getLogger(__name__)

PAGE_SIZE = 6
QUERIES_KEY = "help_queries"
KEEP_QUERIES = 5
MAX_QUERY = 500
BUTTON_CHARS = 60


async def remember_query(state: FSMContext, text: str) -> str:
    """Keep the last few searched texts (for "back" to the results and for "none of these");
    returns the short key buttons carry instead of the text."""
    data = await state.get_data()
    saved: dict[str, Any] = dict(data.get(QUERIES_KEY) or {})
    key = secrets.token_hex(4)
    saved[key] = text[:MAX_QUERY]
    while len(saved) > KEEP_QUERIES:
        saved.pop(next(iter(saved)))
    await state.update_data({QUERIES_KEY: saved})
    return key


async def recall_query(state: FSMContext, key: str) -> str | None:
    data = await state.get_data()
    value = (data.get(QUERIES_KEY) or {}).get(key)
    return str(value) if value else None


def button_text(question: str) -> str:
    plain = html.unescape(question)
    return plain if len(plain) <= BUTTON_CHARS else plain[: BUTTON_CHARS - 1].rstrip() + "…"




# An FAQ screen is public, unless it shows an entry made from a question that no IT officer has yet
# checked for personal data (made before that check existed; bot/services/tickets.py): then the
# screen carries personal data, kept off channels that may not carry it.
by_entries = varies(
    DataClass.PUBLIC, DataClass.PERSONAL, by="personal when it shows an entry made from a question not yet checked",
)


def _declare_shown(entries: list[FaqEntry]) -> None:
    if any(e.personal for e in entries):
        declare(DataClass.PERSONAL)


def _back(t: Translator, target: FaqNav) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("help.back"), callback_data=target.pack())


async def categories_screen(
    person: Person | None, t: Translator, *, tickets: TicketsService,
) -> tuple[str, InlineKeyboardMarkup]:
    faq = await tickets.faq_for(t.lang)
    cats = faq.categories(audiences_of(person))
    rows = [
        [InlineKeyboardButton(text=c.title, callback_data=FaqNav(v=FaqView.CATEGORY, cat=c.id).pack())] for c in cats
    ]
    if person is not None:  # only linked people can ask
        rows.append([InlineKeyboardButton(text=t("help.faq.ask"), callback_data=TicketCb(action="ask").pack())])
    return t("help.faq.title"), keyboard(rows)


async def category_screen(
    person: Person | None, t: Translator, cat: str, page: int, *, tickets: TicketsService,
) -> tuple[str, InlineKeyboardMarkup] | None:
    faq = await tickets.faq_for(t.lang)
    category = faq.category(cat)
    entries = faq.entries(cat, audiences_of(person))
    if category is None or not entries:
        return None
    pages = (len(entries) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    shown = entries[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    _declare_shown(shown)
    rows = [
        [
            InlineKeyboardButton(
                text=button_text(e.question), callback_data=FaqNav(v=FaqView.ENTRY, cat=cat, page=page, e=e.id).pack()
            )
        ]
        for e in shown
    ]
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=t("help.prev"), callback_data=FaqNav(v=FaqView.CATEGORY, cat=cat, page=page - 1).pack()
            )
        )
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(
                text=t("help.next"), callback_data=FaqNav(v=FaqView.CATEGORY, cat=cat, page=page + 1).pack()
            )
        )
    if nav:
        rows.append(nav)
    rows.append([_back(t, FaqNav(v=FaqView.CATEGORIES))])
    text = t("help.faq.category", title=html.escape(category.title))
    if pages > 1:
        text += "\n" + t("help.faq.page", page=page + 1, pages=pages)
    return text, keyboard(rows)


async def entry_screen(
    person: Person | None, t: Translator, entry_id: str, cat: str, page: int, *, tickets: TicketsService,
) -> tuple[str, InlineKeyboardMarkup] | None:
    faq = await tickets.faq_for(t.lang)
    entry = faq.get(entry_id)
    if entry is None or not entry.visible_to(audiences_of(person)):
        return None
    if cat.startswith("~"):
        back = FaqNav(v=FaqView.SEARCH, cat=cat[1:])
    else:
        back = FaqNav(v=FaqView.CATEGORY, cat=cat, page=page) if cat else FaqNav(v=FaqView.CATEGORIES)
    _declare_shown([entry])
    rows = [[_back(t, back)]]
    if person is not None:
        rows.insert(0, [InlineKeyboardButton(text=t("help.faq.ask"), callback_data=TicketCb(action="ask").pack())])
    return f"<b>{entry.question}</b>\n\n{entry.answer}", keyboard(rows)


async def results_screen(
    person: Person | None, t: Translator, query: str, key: str, *, tickets: TicketsService,
) -> tuple[str, InlineKeyboardMarkup]:
    """The top three answers to a free-text question, plus "none of these — ask"."""
    faq = await tickets.faq_for(t.lang)
    found = faq.search(query, audiences_of(person), limit=3)
    _declare_shown(found)
    rows = [
        [InlineKeyboardButton(
            text=button_text(e.question), callback_data=FaqNav(v=FaqView.ENTRY, cat=f"~{key}", e=e.id).pack()
        )]
        for e in found
    ]
    if person is not None:
        ask_label = t("help.search.none_of_these") if found else t("help.search.ask")
        rows.append([InlineKeyboardButton(text=ask_label, callback_data=AskQuery(key=key).pack())])
    return (t("help.search.found") if found else t("help.search.nothing")), keyboard(rows)


@public
async def faq_command(message: Message, person: Person | None, t: Translator, *, tickets: TicketsService) -> None:
    text, markup = await categories_screen(person, t, tickets=tickets)
    await message.answer(text, reply_markup=markup)


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as exc:
            # Pressing the button of the screen already shown: nothing to change.
            if "not modified" not in str(exc):
                raise
    elif query.message is not None and query.bot is not None:
        # Too old to edit: show the screen as a new message.
        await query.bot.send_message(query.message.chat.id, text, reply_markup=markup)


async def _show_or_stale(
    query: CallbackQuery, person: Person | None, t: Translator, screen: tuple[str, InlineKeyboardMarkup] | None,
    tickets: TicketsService,
) -> None:
    if screen is None:
        # Stale (the FAQ changed) or forged (not for this caller): say so, show what there is.
        await query.answer(t("help.faq.stale"), show_alert=True)
        screen = await categories_screen(person, t, tickets=tickets)
    else:
        await query.answer()
    await _show(query, *screen)


@by_entries
async def faq_search_back(
    query: CallbackQuery, callback_data: FaqNav, person: Person | None, t: Translator, state: FSMContext, *,
    tickets: TicketsService,
) -> None:
    searched = await recall_query(state, callback_data.cat)
    screen = None if searched is None else await results_screen(
        person, t, searched, callback_data.cat, tickets=tickets
    )
    await _show_or_stale(query, person, t, screen, tickets)


@by_entries
async def faq_category(
    query: CallbackQuery, callback_data: FaqNav, person: Person | None, t: Translator, *, tickets: TicketsService,
) -> None:
    screen = await category_screen(person, t, callback_data.cat, callback_data.page, tickets=tickets)
    await _show_or_stale(query, person, t, screen, tickets)


@by_entries
async def faq_entry(
    query: CallbackQuery, callback_data: FaqNav, person: Person | None, t: Translator, *, tickets: TicketsService,
) -> None:
    screen = await entry_screen(person, t, callback_data.e, callback_data.cat, callback_data.page, tickets=tickets)
    await _show_or_stale(query, person, t, screen, tickets)


@public
async def faq_categories(
    query: CallbackQuery, person: Person | None, t: Translator, *, tickets: TicketsService,
) -> None:
    await _show_or_stale(query, person, t, await categories_screen(person, t, tickets=tickets), tickets)


@public
async def faq_reload(query: CallbackQuery, t: Translator, *, tickets: TicketsService) -> None:
    try:
        await tickets.reload_faq()
    except FaqError as exc:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("help.faq.reload_failed", error=html.escape(faq_error_text(exc, t))))
        return
    count = len(await tickets.faq_for(t.lang))
    await query.answer(t("help.faq.reloaded", n=count), show_alert=True)


def build_router() -> Router:
    router = Router(name="faq")
    router.message.register(faq_command, Command("faq"))
    router.message.register(faq_command, MenuButton("faq"))
    router.callback_query.register(faq_search_back, FaqNav.filter(F.v == FaqView.SEARCH))
    router.callback_query.register(faq_category, FaqNav.filter(F.v == FaqView.CATEGORY))
    router.callback_query.register(faq_entry, FaqNav.filter(F.v == FaqView.ENTRY))
    router.callback_query.register(faq_categories, FaqNav.filter())  # "c", or a view no longer known
    router.callback_query.register(faq_reload, AdminAction.filter(F.action == "faq_reload"), HasRole(*ADMIN_ROLES))
    return router
