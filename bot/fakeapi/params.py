"""Reading Bot API parameters the way Telegram does.

Clients send parameters as a query string, a JSON body, form-urlencoded or multipart/form-data.
aiogram sends every value as a form field string (numbers as "5", booleans as "true", objects such
as reply_markup as JSON text) and files as extra multipart parts referenced by ``attach://<name>``.
Parameters are therefore coerced by *name*, never by guessing from the value: a message text "123"
must stay a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from bot.fakeapi.errors import bad_request

INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "user_id",
    }
)
BOOL_FIELDS = frozenset(
    {
        "protect_content",
        "disable_notification",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "scope",
        "commands",
        "allowed_updates",
        "entities",
        "caption_entities",
        "menu_button",
        "link_preview_options",
        "media",
    }
)


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None
    content_type: str | None


Params = dict[str, Any]  # one call's parameters, coerced by name
Uploads = dict[str, Upload]  # its uploaded files by form field name


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value  # e.g. chat_id="@channel"; the method decides what that means
    if name in BOOL_FIELDS:
        return value.strip().lower() in {"true", "1"}
    if name in JSON_FIELDS:
        if value == "":
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            if name == "reply_markup":
                raise bad_request("can't parse reply keyboard markup JSON object") from None
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


async def read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """All parameters of a request, coerced, plus the uploaded files by form field name."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise bad_request("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON request body must be an object")
            raw.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, FileField):
                    uploads[key] = Upload(value.file.read(), value.filename, value.content_type)
                elif isinstance(value, str):
                    raw[key] = value
                else:  # bytes part without a filename
                    raw[key] = bytes(value).decode("utf-8", "replace")
    params = {key: _coerce(key, value) for key, value in raw.items()}
    return params, uploads


def loggable(params: dict[str, Any], uploads: dict[str, Upload]) -> dict[str, Any]:
    """Parameters as recorded for inspection: files replaced by a short descriptor."""

    def describe(upload: Upload) -> dict[str, Any]:
        return {"upload": upload.filename, "size": len(upload.data)}

    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
            out[key] = describe(uploads[value[9:]])
        else:
            out[key] = value
    for key, upload in uploads.items():
        if key not in params and not any(v == f"attach://{key}" for v in params.values()):
            out[key] = describe(upload)
    return out
