"""An aiogram session that carries aiogram's Bot API methods over the MAX Bot API.

The Dispatcher, routers, filters, FSM and handlers stay aiogram's: a ``Bot`` built with ``MaxSession``
(``make_max_bot``) long-polls MAX ``/updates`` through ``getUpdates`` and answers through MAX's
``/messages``, ``/answers`` and ``/uploads``. The approach follows the aiogram-max project (which needs
Python >= 3.12, so it is not a dependency); the code is ours.

Which wire a Bot speaks is ``channel_of(bot)`` (``Channel.MAX`` for this session): MAX user ids and
Telegram user ids are separate spaces and the application keeps them apart by that.

Covered methods (``COVERED``): getMe, getUpdates, setWebhook, getWebhookInfo, deleteWebhook, sendMessage,
sendPhoto, sendDocument, editMessageText, editMessageReplyMarkup, deleteMessage, answerCallbackQuery,
getFile (+ download), setMyCommands and deleteMyCommands (default scope), sendChatAction. Accepted and
ignored because MAX has no such thing (``IGNORED``): setChatMenuButton, setMyDescription,
setMyShortDescription, and setMyCommands/deleteMyCommands for a non-default scope (MAX keeps one command
list per bot). Every other method raises ``UnsupportedOnMax`` naming it.

Updates arrive by long polling (``getUpdates`` -> ``GET /updates``; the ``marker`` is kept by a
``MarkerStore``, the database in ``schoolbot run``, so a restart resumes where it stopped: MAX answers
a poll without a marker with only the newest update) or by webhook: ``setWebhook`` is MAX's
``POST /subscriptions`` (``secret_token`` becomes the ``secret`` MAX sends in ``X-Max-Bot-Api-Secret``),
``getWebhookInfo`` lists the subscriptions and ``deleteWebhook`` removes every one of them (while one is
active, MAX's /updates returns nothing). ``convert`` turns a MAX update from either path into aiogram's.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetMe,
    GetUpdates,
    GetWebhookInfo,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetChatMenuButton,
    SetMyCommands,
    SetMyDescription,
    SetMyShortDescription,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import File, InputFile, Message, Update, User, WebhookInfo
from aiohttp import ClientConnectorError, ClientError, ClientSSLError, ClientTimeout, FormData

from bot.channels import Channel
from bot.max.convert import (
    Converter,
    MidRegistry,
    UnsupportedOnMax,
    decode_file_id,
    keyboard_attachment,
    telegram_html_to_max,
    to_user,
)
from bot.max.tls import max_ssl_context
from bot.max.wire import CHAT_ACTIONS, common, default_scope, error_for, query_value, resolve, target, text_body
from bot.tg.wire_text import TextLimits, utf16_len

log = logging.getLogger(__name__)

# MAX moved bots to platform-api2 (the old platform-api host stopped serving them in July 2026); the
# vendored schema (v0.0.33) names this host itself.
MAX_API_URL = "https://platform-api2.max.ru"
UPDATE_TYPES = ("message_created", "message_callback", "bot_started")

COVERED: tuple[str, ...] = (
    "getMe", "getUpdates", "setWebhook", "getWebhookInfo", "deleteWebhook",
    "sendMessage", "sendPhoto", "sendDocument", "editMessageText",
    "editMessageReplyMarkup", "deleteMessage", "answerCallbackQuery", "getFile", "setMyCommands",
    "deleteMyCommands", "sendChatAction",
)  # fmt: skip
IGNORED: tuple[str, ...] = ("setChatMenuButton", "setMyDescription", "setMyShortDescription")


class MarkerStore(Protocol):
    """Where the polling marker survives a restart (storage.cursors.UpdateCursorRepo)."""

    async def load(self) -> int | None: ...
    async def save(self, marker: int) -> None: ...


MAX_FILENAME = 200  # MAX refuses an upload whose file name is longer


def _upload_name(name: str) -> str:
    """``name`` within MAX's 200 characters, its extension kept (a register's name can be long)."""
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 10:
        return name[:MAX_FILENAME]
    return stem[: MAX_FILENAME - len(extension) - 1] + "." + extension


def max_text_length(text: str, is_html: bool) -> int:
    """The length MAX counts: the text as the session sends it (HTML in MAX's dialect)."""
    return utf16_len(telegram_html_to_max(text) if is_html else text)


class MaxSession(AiohttpSession):
    """aiogram session over the MAX Bot API. ``token`` is the MAX bot token (sent as the
    ``Authorization`` header, never logged); the aiogram Bot's own token is a placeholder."""

    channel: ClassVar[Channel] = Channel.MAX
    # MAX counts a text as sent, markup included (UTF-16 units, as its Java server counts), up to 4000;
    # a picture's or file's text is an ordinary message text (bot/tg/wire_text.py fits texts to it).
    text_limits: ClassVar[TextLimits] = TextLimits(message=4000, caption=4000, measure=max_text_length)

    def __init__(
        self,
        token: str,
        api_url: str = MAX_API_URL,
        *,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        not_ready_delay: float = 0.5,
        not_ready_budget: float = 20.0,
        ca_file: Path | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **kwargs: Any,
    ) -> None:
        base = api_url.rstrip("/")
        # Downloads: getFile puts the full MAX file URL into file_path, and this template passes it on.
        super().__init__(api=TelegramAPIServer(base=base + "/{method}", file="{path}"), **kwargs)
        # aiogram's context trusts certifi alone; MAX's certificates chain to the Russian Trusted Root CA.
        self._connector_init["ssl"] = max_ssl_context(ca_file)
        self._max_token = token
        self._base = base
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.not_ready_delay = not_ready_delay
        self.not_ready_budget = not_ready_budget
        # Every wait of the session goes through this (tests pass one that moves a manual clock).
        self.sleep = sleep
        self.mids = MidRegistry()
        self.converter = Converter(self.mids)
        self._marker: int | None = None
        self._saved_marker: int | None = None
        # Set by the application before polling starts; without one the marker lives in memory only.
        self.marker_store: MarkerStore | None = None
        self._bot_id: int | None = None
        self._handlers: dict[type[TelegramMethod[Any]], Callable[[Bot, Any], Awaitable[Any]]] = {
            GetMe: self._get_me,
            GetUpdates: self._get_updates,
            SendMessage: self._send_message,
            SendPhoto: self._send_photo,
            SendDocument: self._send_document,
            EditMessageText: self._edit_message_text,
            EditMessageReplyMarkup: self._edit_message_reply_markup,
            DeleteMessage: self._delete_message,
            AnswerCallbackQuery: self._answer_callback_query,
            GetFile: self._get_file,
            SetMyCommands: self._set_my_commands,
            DeleteMyCommands: self._delete_my_commands,
            SendChatAction: self._send_chat_action,
            SetWebhook: self._set_webhook,
            GetWebhookInfo: self._get_webhook_info,
            DeleteWebhook: self._delete_webhook,
            SetChatMenuButton: self._ignored,
            SetMyDescription: self._ignored,
            SetMyShortDescription: self._ignored,
        }

    # -- transport ------------------------------------------------------------------------------

    async def call(
        self,
        method: TelegramMethod[Any],
        http_method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """One MAX API call with MAX's error answers turned into aiogram's exceptions.

        Retried here, with a doubling pause from ``retry_delay``, at most ``max_retries`` times each:
        429 (then TelegramRetryAfter, so the outbox waits as it does for Telegram), 5xx (then
        TelegramServerError), and network errors (then TelegramNetworkError). A network error after
        the request may have reached MAX (a timeout, a dropped connection) is retried only for GET:
        repeating a send could deliver the message twice, and the outbox retries sends itself.
        400 attachment.not.ready (MAX still processes an upload) is waited out from
        ``not_ready_delay``, doubling, for up to ``not_ready_budget`` seconds in all (MAX's reference
        clients wait 12-20 s).
        """
        session = await self.create_session()
        params = {k: query_value(v) for k, v in (query or {}).items() if v is not None}
        headers = {"Authorization": self._max_token}
        client_timeout = ClientTimeout(total=timeout if timeout is not None else self.timeout)
        rate_attempt = server_attempt = network_attempt = not_ready_attempt = 0
        not_ready_waited = 0.0
        while True:
            try:
                async with session.request(
                    http_method,
                    self._base + path,
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=client_timeout,
                ) as resp:
                    status = resp.status
                    try:
                        payload = await resp.json(content_type=None)
                    except ValueError:
                        payload = None
            except (TimeoutError, ClientError) as exc:
                message = "Request timeout error" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                never_sent = isinstance(exc, ClientConnectorError) and not isinstance(exc, ClientSSLError)
                if network_attempt < self.max_retries and (never_sent or http_method == "GET"):
                    await self.sleep(self.retry_delay * (2**network_attempt))
                    network_attempt += 1
                    continue
                raise TelegramNetworkError(method=method, message=message) from exc
            if status == 200:
                return payload
            error = payload if isinstance(payload, dict) else {}
            code, text = str(error.get("code", "")), str(error.get("message", ""))
            description = f"MAX {status} {code}: {text}".strip()
            if status == 429:
                delay = self.retry_delay * (2**rate_attempt)
                if rate_attempt < self.max_retries:
                    rate_attempt += 1
                    await self.sleep(delay)
                    continue
                raise TelegramRetryAfter(method=method, message=description, retry_after=max(1, math.ceil(delay)))
            if status >= 500 and server_attempt < self.max_retries:
                await self.sleep(self.retry_delay * (2**server_attempt))
                server_attempt += 1
                continue
            if status == 400 and code == "attachment.not.ready" and not_ready_waited < self.not_ready_budget:
                delay = min(self.not_ready_delay * (2**not_ready_attempt), self.not_ready_budget - not_ready_waited)
                await self.sleep(delay)
                not_ready_attempt += 1
                not_ready_waited += delay
                continue
            raise error_for(method, status, description)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        handler = self._handlers.get(type(method))
        if handler is None:
            raise UnsupportedOnMax(
                f"{type(method).__name__} is not carried over MAX by MaxSession; covered: {', '.join(COVERED)}"
            )
        return cast(TelegramType, await handler(bot, method))

    # -- helpers --------------------------------------------------------------------------------

    def _mid(self, method: TelegramMethod[Any], message_id: int) -> str:
        mid = self.mids.get(int(message_id))
        if mid is None:
            raise TelegramBadRequest(method=method, message=f"message {message_id} is not known on MAX (not found)")
        return mid

    def _message(self, answer: Mapping[str, Any]) -> Message:
        return self.converter.message(answer["message"], bot_id=self._bot_id)

    async def _send(self, method: TelegramMethod[Any], chat_id: int | str, body: dict[str, Any]) -> Message:
        answer = await self.call(method, "POST", "/messages", query=target(chat_id), body=body)
        return self._message(answer)

    # -- methods --------------------------------------------------------------------------------

    async def _ignored(self, bot: Bot, method: TelegramMethod[Any]) -> bool:
        log.debug("%s has no MAX counterpart; ignored", type(method).__name__)
        return True

    async def _get_me(self, bot: Bot, method: GetMe) -> User:
        info = await self.call(method, "GET", "/me")
        self._bot_id = int(info["user_id"])
        return to_user(info)

    async def _get_updates(self, bot: Bot, method: GetUpdates) -> list[Update]:
        poll = int(method.timeout or 0)
        store = self.marker_store
        if store is not None:
            if self._marker is None:
                self._marker = self._saved_marker = await store.load()
            elif self._marker != self._saved_marker:
                # Saved before MAX sees it: passing a marker commits every update before it, and the
                # updates before it were handed to the dispatcher when the previous poll returned.
                await store.save(self._marker)
                self._saved_marker = self._marker
        query: dict[str, Any] = {"timeout": min(poll, 90), "types": list(UPDATE_TYPES), "marker": self._marker}
        if method.limit:
            query["limit"] = method.limit
        answer = await self.call(method, "GET", "/updates", query=query, timeout=poll + 15)
        if answer.get("marker") is not None:
            self._marker = int(answer["marker"])
        updates: list[Update] = []
        for raw in answer.get("updates") or []:
            converted = self.convert(raw)
            if converted is not None:
                updates.append(converted)
        return updates

    def convert(self, raw: Mapping[str, Any]) -> Update | None:
        """The aiogram Update for a MAX update (polled or posted to the webhook); None for one the bot
        does not handle, one it cannot read (logged), and a start already answered (bot.max.convert)."""
        try:
            return self.converter.update(raw, bot_id=self._bot_id)
        except (KeyError, ValueError, TypeError):
            log.warning("MAX update of type %s could not be read; skipped", raw.get("update_type"))
            return None

    async def _set_webhook(self, bot: Bot, method: SetWebhook) -> bool:
        body: dict[str, Any] = {"url": method.url, "update_types": list(UPDATE_TYPES)}
        if method.secret_token:
            body["secret"] = method.secret_token
        await self.call(method, "POST", "/subscriptions", body=body)
        return True

    async def subscriptions(self) -> list[str]:
        """The URLs of the bot's webhook subscriptions."""
        answer = await self.call(GetWebhookInfo(), "GET", "/subscriptions")
        return [str(s["url"]) for s in answer.get("subscriptions") or []]

    async def unsubscribe(self, url: str) -> None:
        await self.call(DeleteWebhook(), "DELETE", "/subscriptions", query={"url": url})

    async def _get_webhook_info(self, bot: Bot, method: GetWebhookInfo) -> WebhookInfo:
        urls = await self.subscriptions()
        # MAX may hold several subscriptions; Telegram's answer has room for one URL: the first.
        return WebhookInfo(url=urls[0] if urls else "", has_custom_certificate=False, pending_update_count=0)

    async def _delete_webhook(self, bot: Bot, method: DeleteWebhook) -> bool:
        for url in await self.subscriptions():
            await self.unsubscribe(url)
        return True

    async def _send_message(self, bot: Bot, method: SendMessage) -> Message:
        body = text_body(bot, method, method.text, method.parse_mode)
        keyboard = keyboard_attachment(method.reply_markup)
        if keyboard is not None:
            body["attachments"] = [keyboard]
        preview = resolve(bot, method.link_preview_options)
        disabled = resolve(bot, method.disable_web_page_preview) or (
            preview is not None and bool(resolve(bot, preview.is_disabled))
        )
        query = target(method.chat_id) | ({"disable_link_preview": True} if disabled else {})
        answer = await self.call(method, "POST", "/messages", query=query, body=common(bot, method, body, self.mids))
        return self._message(answer)

    async def _upload(self, bot: Bot, method: TelegramMethod[Any], kind: str, value: Any) -> dict[str, Any]:
        """The attachment payload for a photo/document given as InputFile, MAX file id or URL."""
        if isinstance(value, InputFile):
            data = b"".join([chunk async for chunk in value.read(bot)])
            name = _upload_name(value.filename or ("photo.jpg" if kind == "image" else "file"))
            endpoint, uploaded = await self._send_file(method, kind, data, name)
            if kind == "image" and uploaded.get("photos"):
                return {"photos": uploaded["photos"]}
            token = uploaded.get("token") or endpoint.get("token")
            if not token:
                raise TelegramBadRequest(method=method, message="MAX upload answered without a token")
            return {"token": token}
        if isinstance(value, str):
            ref = decode_file_id(value)
            if ref is not None:
                return {"token": ref.token}
            if kind == "image" and value.startswith(("http://", "https://")):
                return {"url": value}
        raise UnsupportedOnMax(
            f"{type(method).__name__}: a file must be an InputFile or a MAX file id "
            "(Telegram file ids are not valid on MAX)"
        )

    async def _send_file(
        self, method: TelegramMethod[Any], kind: str, data: bytes, name: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the /uploads answer, the upload server's answer). An upload that fails on the network or
        with a 5xx is tried again on a fresh upload URL (an upload URL serves one upload), with the
        same doubling pauses as ``call``; a repeated upload only stores the file twice."""
        session = await self.create_session()
        attempt = 0
        while True:
            endpoint = await self.call(method, "POST", "/uploads", query={"type": kind})
            form = FormData()
            form.add_field("data", data, filename=name)
            try:
                async with session.post(endpoint["url"], data=form, timeout=ClientTimeout(total=300)) as resp:
                    if resp.status == 200:
                        uploaded: dict[str, Any] = await resp.json(content_type=None)
                        return endpoint, uploaded
                    failure: Exception = TelegramBadRequest(method=method, message=f"MAX upload refused: {resp.status}")
                    retry = resp.status >= 500
            except (TimeoutError, ClientError) as exc:
                failure, retry = TelegramNetworkError(method=method, message=f"upload: {type(exc).__name__}"), True
            if not retry or attempt >= self.max_retries:
                raise failure
            await self.sleep(self.retry_delay * (2**attempt))
            attempt += 1

    async def _send_media(self, bot: Bot, method: Any, kind: str, value: Any) -> Message:
        payload = await self._upload(bot, method, kind, value)
        body = text_body(bot, method, method.caption, method.parse_mode)
        attachments: list[dict[str, Any]] = [{"type": kind, "payload": payload}]
        keyboard = keyboard_attachment(method.reply_markup)
        if keyboard is not None:
            attachments.append(keyboard)
        body["attachments"] = attachments
        return await self._send(method, method.chat_id, common(bot, method, body, self.mids))

    async def _send_photo(self, bot: Bot, method: SendPhoto) -> Message:
        return await self._send_media(bot, method, "image", method.photo)

    async def _send_document(self, bot: Bot, method: SendDocument) -> Message:
        return await self._send_media(bot, method, "file", method.document)

    async def _edit(
        self, method: TelegramMethod[Any], message_id: int | None, body: dict[str, Any], markup: Any
    ) -> bool:
        """PUT /messages. MAX replaces a message's attachments as a whole, so the edit carries the
        picture or file the message has (``MidRegistry.media``) beside the new keyboard: an edit of
        the buttons keeps the media, as on Telegram. Telegram drops the inline keyboard when an edit
        carries none; leaving it out of the list does that on MAX (``[]`` only when nothing else is
        attached, so it never deletes a picture or file)."""
        if message_id is None:
            raise UnsupportedOnMax(f"{type(method).__name__}: inline messages do not exist on MAX")
        mid = self._mid(method, message_id)
        keyboard = keyboard_attachment(markup)
        body["attachments"] = self.mids.media(int(message_id)) + ([keyboard] if keyboard is not None else [])
        await self.call(method, "PUT", "/messages", query={"message_id": mid}, body=body)
        return True

    async def _edit_message_text(self, bot: Bot, method: EditMessageText) -> bool:
        body = text_body(bot, method, method.text, method.parse_mode)
        return await self._edit(method, method.message_id, body, method.reply_markup)

    async def _edit_message_reply_markup(self, bot: Bot, method: EditMessageReplyMarkup) -> bool:
        return await self._edit(method, method.message_id, {}, method.reply_markup)

    async def _delete_message(self, bot: Bot, method: DeleteMessage) -> bool:
        await self.call(method, "DELETE", "/messages", query={"message_id": self._mid(method, method.message_id)})
        return True

    async def _answer_callback_query(self, bot: Bot, method: AnswerCallbackQuery) -> bool:
        # MAX refuses an answer with neither a notification nor a new message, and needs none to stop
        # the button: an empty Telegram-style answer is simply not sent.
        if not method.text:
            return True
        query = {"callback_id": method.callback_query_id}
        await self.call(method, "POST", "/answers", query=query, body={"notification": method.text})
        return True

    async def _get_file(self, bot: Bot, method: GetFile) -> File:
        ref = decode_file_id(method.file_id)
        if ref is None:
            raise TelegramBadRequest(method=method, message="wrong file_id: not a MAX file id")
        return File(file_id=method.file_id, file_unique_id=ref.token[:32], file_size=ref.size, file_path=ref.url)

    async def _set_my_commands(self, bot: Bot, method: SetMyCommands) -> bool:
        if not default_scope(method):
            return await self._ignored(bot, method)
        commands = [{"name": c.command, "description": c.description} for c in method.commands]
        await self.call(method, "PATCH", "/me/commands", body={"commands": commands})
        return True

    async def _delete_my_commands(self, bot: Bot, method: DeleteMyCommands) -> bool:
        if not default_scope(method):
            return await self._ignored(bot, method)
        await self.call(method, "PATCH", "/me/commands", body={"commands": []})
        return True

    async def _send_chat_action(self, bot: Bot, method: SendChatAction) -> bool:
        action = CHAT_ACTIONS.get(method.action)
        chat = int(method.chat_id)
        dialog = self.converter.dialogs.get(chat) if chat > 0 else chat
        if action is None or dialog is None:
            return True
        await self.call(method, "POST", f"/chats/{dialog}/actions", body={"action": action})
        return True


def channel_of(bot: Bot) -> Channel:
    """The wire ``bot`` speaks: MAX for a MaxSession, Telegram otherwise."""
    return Channel.MAX if isinstance(bot.session, MaxSession) else Channel.TELEGRAM


def make_max_bot(
    token: str,
    api_url: str = MAX_API_URL,
    *,
    bot_id: int,
    default: DefaultBotProperties | None = None,
    **session_kwargs: Any,
) -> Bot:
    """An aiogram Bot speaking MAX. ``bot_id`` is the MAX bot's user id (``connect_max_bot`` asks MAX
    for it); it keeps the FSM keys of the MAX bot apart from the Telegram bot's."""
    session = MaxSession(token, api_url, **session_kwargs)
    return Bot(token=f"{bot_id}:max", session=session, default=default)


async def connect_max_bot(
    token: str, api_url: str = MAX_API_URL, *, default: DefaultBotProperties | None = None, **session_kwargs: Any
) -> Bot:
    """Like make_max_bot, asking MAX (GET /me) for the bot's id first."""
    probe = MaxSession(token, api_url, **session_kwargs)
    try:
        info = await probe.call(GetMe(), "GET", "/me")
    finally:
        await probe.close()
    return make_max_bot(token, api_url, bot_id=int(info["user_id"]), default=default, **session_kwargs)
