"""Dispatcher middlewares: update de-duplication and the caller's roster person.

Neither writes to the database: resolving the person is one indexed read per update, and the
processed-update mark is written by the first write transaction of the handler itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, TelegramObject, Update, User

from bot.channels import Channel, DataClass
from bot.i18n import Catalog, pick_lang
from bot.max import channel_of
from bot.services.access_log import Accessor, acting_as
from bot.tg.menu import menu_entry_of
from bot.tg.policy import DeclaredClass, sending
from storage.db import CURRENT_UPDATE, DuplicateUpdate, UpdateMark
from storage.outbox import OutboxRepo
from storage.people import PersonRepo
from storage.sql import SqlDatabase

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

SCHOOL_VALUES = "school_values"
"""The update's data entry with the chosen school's values for handlers (see ``Dependencies``)."""


class UpdateGuard(BaseMiddleware):
    """Drops an update whose effects already happened (same update_id delivered again), on every
    wire and path: Telegram and MAX (whose ids bot.max.convert derives from the update itself, so a
    redelivery keeps its id), polled or posted to the webhook (a platform that missed the 200
    posts again, sometimes while the first delivery still runs).

    An update that wrote is known by its processed_updates row (restarts included); one that only
    answered is remembered in memory once handled, and one still running drops its twin at once.

    Dropping a redelivered update loses nothing it owes: the answer that reports its effect was
    queued with the effect (storage/outbox.py, answers) and is given by the handler or, failing that,
    by the outbox. When the handler ends, however it ends (returned, raised, cancelled), the answers it
    did not give are handed to the outbox's senders here: the one place, whatever the flow.

    Update ids are a bot's own (two bots both deliver an update 1): a store that receives from two bots
    (a school's own bot and the district's, bot/multibot.py) gives each an ``id_base``, the id space its
    ids are recorded in (``id_base + update_id``; 0, the one bot of a school, keeps ids as they are)."""

    def __init__(self, db: SqlDatabase, *, id_base: int = 0, catalog: Catalog | None = None) -> None:
        self.db = db
        self.id_base = id_base
        self.catalog = catalog
        self.in_flight = 0
        self._running: set[int] = set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = self.id_base + event.update_id
        if update_id in self._running:
            log.info("update %s delivered again while it is handled, skipped", update_id)
            return UNHANDLED
        if self.db.is_processed(update_id):
            log.info("update %s already processed, skipped", update_id)
            await self._handled_already(event, data)
            return UNHANDLED
        mark = UpdateMark(update_id)
        token = CURRENT_UPDATE.set(mark)
        self.in_flight += 1
        self._running.add(update_id)
        duplicate = False
        try:
            result = await handler(event, data)
        except DuplicateUpdate:
            duplicate = True
        finally:
            self._running.discard(update_id)
            self.in_flight -= 1
            CURRENT_UPDATE.reset(token)
            if mark.owed:
                await self._hand_over(update_id, mark.owed)
        if duplicate:
            log.info("update %s delivered twice, effects kept once", update_id)
            await self._handled_already(event, data)
            return UNHANDLED
        if not mark.recorded:
            self.db.remember_processed(update_id)
        return result


    async def _handled_already(self, event: Update, data: dict[str, Any]) -> None:
        """A press delivered again after it was handled is not met with silence: its spinner stops with
        a word that it was handled (what it owes comes from the outbox, see the class's docstring; a
        press whose first answer did go out gets this one refused by Telegram as its second, which
        bot/tg/callback_answers.py leaves as answered). A message has no spinner: nothing is sent."""
        query, bot = event.callback_query, data.get("bot")
        if query is None or bot is None or self.catalog is None:
            return
        lang = pick_lang(query.from_user.language_code)
        try:
            with sending(DataClass.PUBLIC, "update_guard.handled_already", lang):
                await bot.answer_callback_query(query.id, text=self.catalog.text(lang, "fallback.press_handled"))
        except Exception:
            log.info("update %s: the press's spinner could not be stopped", event.update_id, exc_info=True)

    async def _hand_over(self, update_id: int, keys: list[str]) -> None:
        """The answers the handler did not give, to the senders (within a second: they poll). Should
        this fail too, the hold runs out (storage/outbox.py ANSWER_HOLD) and a sender takes them then."""
        try:
            released = await OutboxRepo.release_answers(self.db, list(keys))
        except Exception:
            log.exception("update %s: its answers could not be handed to the outbox now", update_id)
            return
        if released:
            log.info("update %s: %d answer(s) handed to the outbox", update_id, released)


class PersonContext(BaseMiddleware):
    """Injects `person` (the roster Person or None), `t` (the catalog in the user's language) and
    `channel` (the messenger the update came from). The user is looked up as an account of that
    messenger (channel, user id): the id spaces of two messengers are never mixed."""

    def __init__(self, people: PersonRepo, catalog: Catalog) -> None:
        self.people = people
        self.catalog = catalog

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        bot = data.get("bot")
        channel = channel_of(bot) if bot is not None else Channel.TELEGRAM
        data["channel"] = channel
        person = None if user is None else await self.people.by_account(channel, user.id)
        lang = person.lang if person is not None and person.lang else pick_lang(user.language_code if user else None)
        data["person"] = person
        data["t"] = self.catalog.bind(lang)
        # Whatever this update opens or exports is logged as done by this person on this messenger
        # (bot/services/access_log.py); an unknown user is logged by channel alone.
        with acting_as(Accessor(person.id if person is not None else None, channel.value)):
            return await handler(event, data)


class Dependencies(BaseMiddleware):
    """Hands the handler chosen for an update what handlers may ask for by name (each service,
    the school, the policy...). An inner middleware: aiogram runs it once per update, for the matched
    handler only, so the dozens of filters checked on the way do not each copy forty more entries
    (P5, a plain text: 0.69 of bare aiogram with them in the Dispatcher's data, see bench/run.py).
    What a filter itself asks for stays in the Dispatcher's data.

    One process serving many schools (bot/multibot.py) has one Dispatcher: the school of the update is
    chosen by an outer middleware, which puts that school's values under ``SCHOOL_VALUES`` in the
    update's data; they are handed over instead of the fixed ones."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self.values = dict(values)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        # aiogram's own entries (bot, state, event_from_user...) win over ours.
        values = data.get(SCHOOL_VALUES, self.values)
        return await handler(event, {**values, **data})


def install_dependencies(dp: Dispatcher, values: Mapping[str, object]) -> None:
    """`Dependencies` and the handler's declared data class (bot/tg/policy.py) on every event but the
    raw update (whose one handler is the dispatcher's own propagation, which would hand the values to
    every filter again)."""
    dependencies = Dependencies(values)
    declared = DeclaredClass()
    for name, observer in dp.observers.items():
        if name != "update":
            observer.middleware(dependencies)
            observer.middleware(declared)


class MenuLeavesFlow(BaseMiddleware):
    """A main-menu button pressed while a screen waits for typed text leaves that screen and opens
    the menu entry, as the person expects. Without it, whichever handler of the waiting state stands
    first took the label as the typed answer: an IT officer answering a question who pressed
    «❓ Вопросы» sent «❓ Вопросы» to the parent as the answer. One rule here instead of a
    "not a menu label" filter each waiting handler would have to remember."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        state = data.get("state")
        if (isinstance(event, Message) and event.text and data.get("raw_state") is not None
                and isinstance(state, FSMContext) and menu_entry_of(event.text, self.catalog) is not None):
            await state.clear()
            data["raw_state"] = None  # what StateFilter reads: the menu's handlers match now
        return await handler(event, data)


def install_middlewares(dp: Dispatcher, db: SqlDatabase, people: PersonRepo, catalog: Catalog) -> UpdateGuard:
    """The middlewares in their order; the guard is returned so that shutdown can wait for it."""
    guard = UpdateGuard(db, catalog=catalog)
    dp.update.outer_middleware(guard)
    dp.update.outer_middleware(PersonContext(people, catalog))
    dp.message.outer_middleware(MenuLeavesFlow(catalog))
    return guard


# What aiogram itself hands a handler (besides the event, its first argument), and what our outer
# middlewares add for every update (PersonContext: person, t, channel).
AIOGRAM_NAMES = frozenset({
    "bot", "dispatcher", "event_from_user", "event_chat", "event_thread_id", "event_business_connection_id",
    "event_router", "event_update", "event_context", "handler", "state", "raw_state", "fsm_storage",
})
CONTEXT_NAMES = frozenset({"person", "t", "channel"})


class HandlerDependencyError(LookupError):
    """A handler asks for something nothing provides (a typo, a service that is not built)."""


def _filter_provides(flt: object) -> set[str]:
    """Names a filter adds for its handler: aiogram's CallbackData filter `callback_data`, Command
    `command`; ours say so in a `provides` attribute (RepliesToTicket: `ticket_id`)."""
    provided: set[str] = set(getattr(flt, "provides", ()))
    if isinstance(flt, CallbackQueryFilter):
        provided.add("callback_data")
    if isinstance(flt, Command):
        provided.add("command")
    return provided


def check_handler_dependencies(dp: Dispatcher, available: Iterable[str]) -> int:
    """When the dispatcher is built: every parameter of every handler (after the event) without a
    default must be something a handler is given, by name: what aiogram passes, the caller's person,
    language and channel, a dependency the root declared (`available`), or what the handler's own
    filters add. A typo or a missing service fails the start, not the button press. Returns how many
    handlers were checked."""
    known = AIOGRAM_NAMES | CONTEXT_NAMES | set(available)
    problems: list[str] = []
    checked = 0
    for router in dp.chain_tail:
        for name, observer in router.observers.items():
            if name == "update" and router is dp:
                continue  # the dispatcher's own propagation
            for handler in observer.handlers:
                checked += 1
                own = {p for flt in handler.filters or () for p in _filter_provides(flt.callback)}
                signature = inspect.signature(handler.callback)
                params = list(signature.parameters.values())[1:]  # the event comes first
                for param in params:
                    if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                        continue
                    if param.default is param.empty and param.name not in known | own:
                        where = f"{getattr(handler.callback, '__module__', '?')}.{handler.callback.__qualname__}"
                        problems.append(f"{where}: {param.name}")
    if problems:
        raise HandlerDependencyError(
            "handlers ask for what nothing provides: " + ", ".join(sorted(problems))
            + f" (a handler may ask for: {', '.join(sorted(known))})"
        )
    return checked
