"""The channel policy, enforced in one place every request to a messenger passes (issue #22).

Declared where it is written: every handler says what class of data it can answer with, as an
aiogram handler flag (``flags=CHILD`` on its registration, constants below); every outbox row carries
its own class. ``DeclaredClass`` (an inner middleware) puts the handler's class into a context variable
(``SendScope``) while it runs; the outbox sender does the same for each row (``sending``). A send made
with no declared class counts as personal data.

Enforced where it is sent: ``SendGuard`` is a request middleware on the session of every Bot the
application sends with (Telegram's ``LimitedSession``, MAX's, a test's recording session alike:
aiogram runs a session's request middlewares for every call, before the limiter and the wire). A
request that carries content (a new message of any kind, an edit, a button's toast) whose class the
channel may not carry is replaced there by the pointer: a plain message that says in general words
what was withheld and where to get it (the bot in MAX when the school serves MAX, else the class
teacher and the paper form), with no inline buttons (their texts and data may name people). Nothing
is silently dropped, and every content request, sent, replaced or failed, is written to the send log
with its channel, class, purpose (the handler, or the outbox's notice kind) and outcome, and nothing
personal (storage/messengers.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from aiogram import BaseMiddleware, Bot, flags
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.flags import get_flag
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiogram.types import MessageId, ReplyKeyboardMarkup, ReplyKeyboardRemove, TelegramObject

from bot.channels import Channel, ChannelRules, DataClass
from bot.clock import Clock
from bot.domain.people import Person
from bot.i18n import DEFAULT_LANG, Catalog, Translator
from bot.max import channel_of
from bot.max.wire import bot_link
from bot.tg.limiter import SEND_METHODS
from storage.db import StorageError
from storage.messengers import MessengerRepo

log = logging.getLogger(__name__)

FLAG = "data_class"
"""The handler flag that declares the data class of what a handler answers."""

Handler = TypeVar("Handler", bound=Callable[..., Any])


def declares(data_class: DataClass) -> Callable[[Handler], Handler]:
    """A decorator for a handler: it answers with at most ``data_class`` (an aiogram handler flag, so
    the declaration travels with the function to whatever router registers it)."""
    flag = flags.data_class(data_class)

    def apply(handler: Handler) -> Handler:
        flag(handler)
        return handler

    return apply


# Decide by what a handler CAN show, not by its usual case: a screen that may name a colleague is
# personal even when it usually shows counts.
public = declares(DataClass.PUBLIC)  # catalog texts, counts, the school's own notices
personal = declares(DataClass.PERSONAL)  # names of staff or parents, their questions, their roles
child_data = declares(DataClass.CHILD_PERSONAL)  # a child's name, class, consent state
credential = declares(DataClass.CREDENTIAL)  # an invitation code, a sign-in link
personal_file = declares(DataClass.PERSONAL_FILE)  # a file with personal data (cards, registers, reports)

VARIES = "data_class_varies"
"""The handler flag of a handler whose class is data (``varies``): the classes it may declare and
what decides among them, for docs/data-classes.md."""


@dataclass(frozen=True)
class Varies:
    classes: tuple[DataClass, ...]
    by: str  # what decides, in words (English, for the handler table)


def varies(default: DataClass, *others: DataClass, by: str) -> Callable[[Handler], Handler]:
    """A handler whose answer's class is data, not code (a survey's answers carry the survey's class;
    an FAQ screen is personal when it shows an entry not yet checked): it calls ``declare`` once it
    knows. ``default`` is in force until then: the widest it may declare when what is sent before
    could already show it (a survey's refusals), else the usual one (the FAQ's public)."""
    default_flag = flags.data_class(default)
    varies_flag = getattr(flags, VARIES)(Varies((default, *others), by))

    def apply(handler: Handler) -> Handler:
        default_flag(handler)
        varies_flag(handler)
        return handler

    return apply


def varies_of(handler: HandlerObject) -> Varies | None:
    value = handler.flags.get(VARIES)
    return value if isinstance(value, Varies) else None


PAPER_CLASSES = frozenset({DataClass.CREDENTIAL, DataClass.PERSONAL_FILE})
"""What the class teacher hands out on paper when a channel may not carry it (logged as the paper path)."""

# Requests that put content in front of a person besides the new messages: edits, and a button's toast.
EDIT_METHODS = frozenset({"editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup"})
LIST_RESULTS = frozenset({"sendMediaGroup"})
ID_RESULTS = frozenset({"copyMessage"})
ID_LIST_RESULTS = frozenset({"copyMessages", "forwardMessages"})


@dataclass
class SendScope:
    """What the sends made now carry: the declared class, who sends (a handler's name or
    ``outbox:<kind>``) and the language of the pointer."""

    data_class: DataClass
    purpose: str
    lang: str | None = None
    # The recipient works at the school: a pointer on the paper path sends staff to the IT officer,
    # not to a class teacher's paper form (which is how a family gets it).
    staff: bool = False
    # The classes the running handler's ``varies`` flag lists: the only ones ``declare`` may set (so
    # docs/data-classes.md, written from the flags, tells the truth); None: its class is fixed.
    may_declare: tuple[DataClass, ...] | None = None
    # chat id -> the pointer message already sent there in this scope: one answer that would have
    # been three messages (a "preparing" line, the file, a summary) becomes one pointer, not three.
    pointed: dict[int | str, Any] = field(default_factory=dict)


_scope: contextvars.ContextVar[SendScope | None] = contextvars.ContextVar("send_scope", default=None)


@contextlib.contextmanager
def sending(data_class: DataClass, purpose: str, lang: str | None = None, *, staff: bool = False
            ) -> Iterator[SendScope]:
    """The sends made inside carry ``data_class`` for ``purpose`` (the outbox sender, a handler)."""
    scope = SendScope(data_class, purpose, lang, staff)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def current_scope() -> SendScope:
    """The scope in force; outside any (a send nobody declared), personal data."""
    return _scope.get() or SendScope(DataClass.PERSONAL, "undeclared")


def declared_class(handler: HandlerObject) -> DataClass | None:
    """The class a handler declared with its flags (None: it declared none)."""
    value = handler.flags.get(FLAG)
    return value if isinstance(value, DataClass) else None


def purpose_of(handler: HandlerObject) -> str:
    """``<module>.<function>`` of a handler, e.g. ``codes.show``: what the send log names."""
    callback = handler.callback
    module = str(getattr(callback, "__module__", "")).rsplit(".", 1)[-1]
    return f"{module}.{getattr(callback, '__qualname__', type(callback).__name__)}"


class DeclaredClass(BaseMiddleware):
    """An inner middleware: the chosen handler's declared class (personal when it declared none) is
    in force while it runs, with the caller's language for the pointer."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chosen = data.get("handler")
        declared = get_flag(data, FLAG)
        data_class = declared if isinstance(declared, DataClass) else DataClass.PERSONAL
        purpose = purpose_of(chosen) if isinstance(chosen, HandlerObject) else "unknown"
        t = data.get("t")
        varying = varies_of(chosen) if isinstance(chosen, HandlerObject) else None
        person = data.get("person")
        staff = isinstance(person, Person) and person.is_staff
        with sending(data_class, purpose, t.lang if isinstance(t, Translator) else None, staff=staff) as scope:
            scope.may_declare = varying.classes if varying is not None else None
            return await handler(event, data)


TOAST_LIMIT = 200  # the characters of a callback query's answer Telegram shows


class Pointers:
    """The text sent instead of what a channel may not carry: what was withheld, in general words,
    and where to get it (a link to the bot in MAX when MAX is served and may carry it, else the class
    teacher and the paper form)."""

    def __init__(self, catalog: Catalog, rules: ChannelRules) -> None:
        self.catalog = catalog
        self.rules = rules
        self.max_served = False
        self.max_username: str | None = None

    def _to_max(self, channel: Channel, data_class: DataClass) -> bool:
        return channel is not Channel.MAX and self.max_served and not self.rules.forbids(Channel.MAX, data_class)

    def _where(self, t: Translator, channel: Channel, data_class: DataClass, staff: bool) -> str:
        if self._to_max(channel, data_class):
            if self.max_username:
                return t("channels.where_max_link", link=bot_link(self.max_username))
            return t("channels.where_max")
        return t("channels.where_staff" if staff else "channels.where_paper")

    def text(self, lang: str | None, channel: Channel, data_class: DataClass, *, staff: bool = False) -> str:
        t = self.catalog.bind(lang or DEFAULT_LANG)
        name = t(f"channels.export.channel_name.{channel.value}")
        return t(
            "channels.pointer", withheld=t(f"channels.withheld.{data_class.value}", channel=name),
            where=self._where(t, channel, data_class, staff),
        )

    def toast(self, lang: str | None, channel: Channel, data_class: DataClass, *, staff: bool = False) -> str:
        """A button's short answer: what and where as in the message (the link too) when it fits in
        Telegram's 200 characters, else where in a few words."""
        t = self.catalog.bind(lang or DEFAULT_LANG)
        what = t(f"channels.what.{data_class.value}")
        name = t(f"channels.export.channel_name.{channel.value}")
        text = t("channels.pointer_short", what=what, channel=name, where=self._where(t, channel, data_class, staff))
        if len(text) <= TOAST_LIMIT:
            return text
        paper = "channels.where_short_staff" if staff else "channels.where_short_paper"
        where = "channels.where_short_max" if self._to_max(channel, data_class) else paper
        return t("channels.pointer_short", what=what, channel=name, where=t(where))


def carries_content(name: str, method: TelegramMethod[Any]) -> bool:
    if name in SEND_METHODS or name in EDIT_METHODS:
        return True
    return name == "answerCallbackQuery" and bool(getattr(method, "text", None))


class SendGuard:
    """The request middleware that enforces the channel policy and writes the send log; installed on
    every Bot's session with ``protect``."""

    def __init__(self, *, rules: ChannelRules, catalog: Catalog, db_repo: MessengerRepo, clock: Clock) -> None:
        self.rules = rules
        self.pointers = Pointers(catalog, rules)
        self.repo = db_repo
        self.clock = clock
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    def protect(self, bot: Bot | None) -> None:
        """Put the guard on ``bot``'s session (once)."""
        if bot is None or bot.session in self._sessions:
            return
        bot.session.middleware(self)
        self._sessions.add(bot.session)

    def delegated(self, bot: Bot) -> None:
        """``bot``'s session already passes its requests to this guard when they are this school's (a
        district bot serving many schools, bot/multibot.py): ``protect`` leaves it as it is."""
        self._sessions.add(bot.session)

    def serve_max(self, username: str | None) -> None:
        """MAX is served (``username``: its bot's, when known): pointers lead there."""
        self.pointers.max_served = True
        self.pointers.max_username = username or None

    async def __call__(
        self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot, method: TelegramMethod[TelegramType]
    ) -> Response[TelegramType]:
        name = str(getattr(method, "__api_method__", type(method).__name__))
        if not carries_content(name, method):
            return await make_request(bot, method)
        channel = channel_of(bot)
        scope = current_scope()
        replaced = self.rules.forbids(channel, scope.data_class)
        chat = getattr(method, "chat_id", None)
        if replaced and name in SEND_METHODS and chat in scope.pointed:
            # The pointer is in this chat already: this send is folded into it (and logged as replaced).
            await self._log(channel, scope, "pointer")
            return cast(Response[TelegramType], self._as_original(name, scope.pointed[chat]))
        request: TelegramMethod[Any] = self._replacement(name, method, channel, scope) if replaced else method
        try:
            result: Any = await make_request(bot, request)
        except Exception:
            await self._log(channel, scope, "failed")
            raise
        if not replaced:
            await self._log(channel, scope, "sent")
            return result  # type: ignore[no-any-return]
        log.info("%s: %s kept off %s, pointer sent instead", scope.purpose, scope.data_class.value, channel.value)
        await self._log(channel, scope, "pointer")
        if name in SEND_METHODS:
            if chat is not None:
                scope.pointed[chat] = result
            if scope.data_class in PAPER_CLASSES:
                await self._log("paper", scope, "paper")
        return cast(Response[TelegramType], self._as_original(name, result))

    def _replacement(self, name: str, method: Any, channel: Channel, scope: SendScope) -> TelegramMethod[Any]:
        text = self.pointers.text(scope.lang, channel, scope.data_class, staff=scope.staff)
        if name == "answerCallbackQuery":
            toast = self.pointers.toast(scope.lang, channel, scope.data_class, staff=scope.staff)
            return AnswerCallbackQuery(callback_query_id=method.callback_query_id, text=toast)
        where = {"chat_id": getattr(method, "chat_id", None), "message_id": getattr(method, "message_id", None),
                 "inline_message_id": getattr(method, "inline_message_id", None)}
        if name == "editMessageText":
            return EditMessageText(text=text, **where)
        if name in ("editMessageCaption", "editMessageMedia"):
            return EditMessageCaption(caption=text, **where)
        if name == "editMessageReplyMarkup":
            # Buttons may name people: they go; the message they were on stays as it was.
            return EditMessageReplyMarkup(**where)
        markup = getattr(method, "reply_markup", None)
        # The main menu's keyboard (catalog labels only) stays; inline buttons never do.
        keep = markup if isinstance(markup, ReplyKeyboardMarkup | ReplyKeyboardRemove) else None
        return SendMessage(
            chat_id=method.chat_id, text=text, message_thread_id=getattr(method, "message_thread_id", None),
            reply_markup=keep, parse_mode=None,
        )

    @staticmethod
    def _as_original(name: str, result: Any) -> Any:
        """The pointer's answer in the shape the replaced method answers with."""
        if name in LIST_RESULTS:
            return [result]
        if name in ID_RESULTS:
            return MessageId(message_id=result.message_id)
        if name in ID_LIST_RESULTS:
            return [MessageId(message_id=result.message_id)]
        return result

    async def _log(self, channel: Channel | str, scope: SendScope, outcome: str) -> None:
        try:
            await self.repo.record_send(channel, scope.data_class, outcome, scope.purpose, self.clock.now())
        except StorageError:  # the database closed under a last send at shutdown
            log.warning("send log not written (database closed): %s %s %s", channel, scope.data_class.value, outcome)


class GuardedBots(BaseMiddleware):
    """An outer update middleware: whatever Bot delivers an update has the guard on its session
    before any handler answers with it."""

    def __init__(self, guard: SendGuard) -> None:
        self.guard = guard

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        bot = data.get("bot")
        if isinstance(bot, Bot):
            self.guard.protect(bot)
        return await handler(event, data)



def declare(data_class: DataClass) -> None:
    """For a handler whose answer's class is data, not code (a survey carries its own class): what it
    sends from here on carries ``data_class``. The guard at the send still decides; handlers whose
    class is fixed declare it with their flag only.

    Only a handler registered with ``varies`` may call it, and only with a class its flag lists:
    anything else raises (the handler then sends nothing more; the error handler apologises), so no
    handler sends under a class its declaration, and the handler table, do not show."""
    scope = _scope.get()
    if scope is None:
        return
    if scope.may_declare is None or data_class not in scope.may_declare:
        raise ValueError(f"{scope.purpose} declares {data_class.value}, not among its @varies classes")
    scope.data_class = data_class
