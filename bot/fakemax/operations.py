"""The MAX Bot API operations the fake serves, one handler per operationId of the schema."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any

from bot.fakemax.models import MaxMessage, plain_text
from bot.fakemax.refusals import MaxApiError
from bot.fakemax.state import DIALOG_CHAT_BASE
from bot.fakemax.webhooks import FakeMaxWebhooks

Handler = Callable[[dict[str, Any], Any], Awaitable[Any]]

# MAX's keyboard limits (dev.max.ru, "Клавиатура в сообщениях").
ROW_BUTTONS, WIDE_ROW_BUTTONS, ROWS, BUTTONS = 7, 3, 30, 210
TEXT_LIMIT = 4000
WIDE = frozenset({"link", "open_app", "request_geo_location", "request_contact"})


def _check_length(text: str | None) -> None:
    """4000 characters as sent, counted as MAX's Java server counts them (UTF-16 units: an emoji is
    two); the schema's maxLength counts code points and lets such a text through."""
    if text is not None and len(text.encode("utf-16-le")) // 2 > TEXT_LIMIT:
        raise MaxApiError(400, "proto.payload", f"text: length must be at most {TEXT_LIMIT}")


def _check_keyboard(rows: list[list[dict[str, Any]]]) -> None:
    for number, row in enumerate(rows, 1):
        width = WIDE_ROW_BUTTONS if any(button["type"] in WIDE for button in row) else ROW_BUTTONS
        if len(row) > width:
            raise MaxApiError(400, "proto.payload", f"Row {number} of the keyboard has {len(row)} buttons, max {width}")
    total = sum(len(row) for row in rows)
    if len(rows) > ROWS or total > BUTTONS:
        raise MaxApiError(400, "proto.payload", f"Keyboard of {total} buttons in {len(rows)} rows is too large")


class FakeMaxOperations(FakeMaxWebhooks):
    """The handlers behind each operation: they read the checked parameters and body and change the state."""

    @cached_property
    def _handlers(self) -> dict[str, Handler]:
        return {
            "getMyInfo": self._get_my_info,
            "editMyCommands": self._edit_my_commands,
            "sendMessage": self._send_message,
            "editMessage": self._edit_message,
            "deleteMessage": self._delete_message,
            "getMessageById": self._get_message,
            "answerOnCallback": self._answer_on_callback,
            "getUpdates": self._get_updates,
            "getSubscriptions": self._get_subscriptions,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "getUploadUrl": self._get_upload_url,
            "sendAction": self._send_action,
        }

    # -- operations -----------------------------------------------------------------------------

    async def _get_my_info(self, params: dict[str, Any], body: Any) -> Any:
        info = self.bot_user()
        info.pop("name")
        info["commands"] = self.commands or None
        return info

    async def _edit_my_commands(self, params: dict[str, Any], body: Any) -> Any:
        self.commands = list(body.get("commands") or [])
        return {"commands": self.commands}

    def _resolve_attachments(self, requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
        media = [a["type"] for a in requested if a["type"] != "inline_keyboard"]
        if "file" in media and len(media) > 1:
            # MAX delivers a file only on its own: beside a photo or another file the message is refused.
            raise MaxApiError(400, "proto.payload", "A file attachment must be the only attachment of a message")
        result: list[dict[str, Any]] = []
        for attachment in requested:
            kind = attachment["type"]
            if kind == "inline_keyboard":
                rows = attachment["payload"]["buttons"]
                _check_keyboard(rows)
                result.append({"type": "inline_keyboard", "payload": {"buttons": rows}})
            elif kind in ("image", "file"):
                payload = attachment["payload"]
                tokens: list[str] = []
                if payload.get("token"):
                    tokens.append(payload["token"])
                tokens += [photo["token"] for photo in (payload.get("photos") or {}).values()]
                if not tokens:
                    raise MaxApiError(400, "proto.payload", f"{kind} attachment without a token")
                for token in tokens:
                    stored = self._files.get(token)
                    if stored is None:
                        raise MaxApiError(400, "attachment.not.found", f"Unknown attachment token for {kind}")
                    if self.not_ready_sends > 0 or stored.ready_at > self._now():
                        self.not_ready_sends = max(0, self.not_ready_sends - 1)
                        raise MaxApiError(
                            400, "attachment.not.ready", "Key: errors.process.attachment.file.not.processed"
                        )
                    result.append(self.attachment_object(stored))
            else:
                raise MaxApiError(400, "proto.payload", f"the fake does not keep {kind} attachments")
        return result

    async def _send_message(self, params: dict[str, Any], body: Any) -> Any:
        user_id = params.get("user_id")
        if user_id is None and params.get("chat_id") is not None:
            user_id = params["chat_id"] - DIALOG_CHAT_BASE
        if user_id is None:
            raise MaxApiError(400, "proto.payload", "Either user_id or chat_id is required")
        if user_id not in self._users:
            raise MaxApiError(404, "chat.not.found", f"Chat for user {user_id} not found")
        if self._users[user_id].blocked:
            raise MaxApiError(403, "chat.denied", "The user has stopped the bot")
        text = body.get("text")
        _check_length(text)
        attachments = self._resolve_attachments(body.get("attachments") or [])
        if not text and not attachments:
            raise MaxApiError(400, "proto.payload", "Message must have text or attachments")
        message = self._new_message(
            user_id=user_id, from_bot=True, text=text, text_format=body.get("format"), attachments=attachments
        )
        return {"message": self.message_object(message)}

    def _bot_message(self, mid: str) -> MaxMessage:
        message = self._messages.get(mid)
        if message is None or message.deleted or not message.from_bot:
            raise MaxApiError(404, "not.found", f"Message {mid} not found")
        return message

    def _apply_edit(self, message: MaxMessage, body: dict[str, Any]) -> None:
        _check_length(body.get("text"))
        if body.get("text") is not None:
            message.text = body["text"]
            message.format = body.get("format")
            message.plain = plain_text(message.text, message.format)
        if body.get("attachments") is not None:
            message.attachments = self._resolve_attachments(body["attachments"])
        message.edits += 1
        self._notify()

    async def _edit_message(self, params: dict[str, Any], body: Any) -> Any:
        self._apply_edit(self._bot_message(params["message_id"]), body)
        return {"success": True}

    async def _delete_message(self, params: dict[str, Any], body: Any) -> Any:
        message = self._messages.get(params["message_id"])
        if message is None or message.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        message.deleted = True
        self._notify()
        return {"success": True}

    async def _get_message(self, params: dict[str, Any], body: Any) -> Any:
        message = self._messages.get(params["messageId"])
        if message is None or message.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        return self.message_object(message)

    async def _answer_on_callback(self, params: dict[str, Any], body: Any) -> Any:
        callback_id = params["callback_id"]
        message = self._callbacks.get(callback_id)
        if message is None:
            raise MaxApiError(400, "not.found", "Callback not found")
        if not body.get("message") and not body.get("notification"):
            raise MaxApiError(400, "proto.payload", "Either message or notification must be set")
        self.callback_answers[callback_id] = body
        if body.get("message"):
            self._apply_edit(message, body["message"])
        self._notify()
        return {"success": True}

    async def _get_updates(self, params: dict[str, Any], body: Any) -> Any:
        marker = params.get("marker")
        if marker is not None:
            self._committed = max(self._committed, marker)
        elif self._committed < self._next_marker - 1:
            # Without a marker MAX gives only the newest update: whatever came before it is gone.
            self._committed = self._next_marker - 1
        limit = params.get("limit", 100)
        timeout = params.get("timeout", 30)
        types = set(params.get("types") or [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            # While a webhook subscription is active, polling receives nothing (updates go to the webhook).
            batch = [
                (m, u) for m, u in self._updates if m >= self._committed and (not types or u["update_type"] in types)
            ][:limit] if not self.subscriptions else []
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        next_marker = batch[-1][0] + 1 if batch else self._committed
        self._notify()
        return {"updates": [u for _, u in batch], "marker": next_marker}

    async def _get_upload_url(self, params: dict[str, Any], body: Any) -> Any:
        kind = params["type"]
        if kind not in ("image", "file"):
            raise MaxApiError(400, "proto.payload", f"the fake takes image and file uploads, not {kind}")
        upload_id = secrets.token_hex(8)
        self._uploads[upload_id] = kind
        return {"url": f"{self.base_url}/_upload/{upload_id}"}

    async def _send_action(self, params: dict[str, Any], body: Any) -> Any:
        self.actions.append((params["chatId"], body["action"]))
        return {"success": True}
