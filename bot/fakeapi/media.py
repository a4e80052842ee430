"""Photos, documents, albums and file downloads: files by upload or by file_id, of the right kind."""

from __future__ import annotations

from typing import Any

from bot.fakeapi.errors import bad_request
from bot.fakeapi.files import document_object, photo_size
from bot.fakeapi.messages import record_message
from bot.fakeapi.models import StoredFile
from bot.fakeapi.params import Params, Upload, Uploads
from bot.fakeapi.rules import check_caption
from bot.fakeapi.state import FakeState


def _input_file(state: FakeState, params: Params, uploads: Uploads, field: str) -> Upload | StoredFile:
    value = params.get(field)
    if value is None and field in uploads:
        upload: Upload | None = uploads[field]
    elif isinstance(value, str) and value.startswith("attach://"):
        upload = uploads.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request(f"wrong file identifier/HTTP URL specified ({value} is not attached)")
    elif isinstance(value, str) and value:
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = state.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != field:
            raise bad_request(f"can't use file of type {stored.kind.title()} as {field.title()}")
        return stored
    else:
        raise bad_request(f"there is no {field} in the request")
    assert upload is not None
    if not upload.data:
        raise bad_request("file must be non-empty")
    return upload


def _photo(state: FakeState, source: Upload | StoredFile) -> tuple[StoredFile, list[dict[str, Any]]]:
    """A photo sent again by file_id keeps its one size; an upload gets sizes as Telegram makes them."""
    if isinstance(source, StoredFile):
        return source, [photo_size(source)]
    return state.files.store_photo(source.data, validate=True)


def _document(state: FakeState, source: Upload | StoredFile) -> StoredFile:
    return source if isinstance(source, StoredFile) else state.files.store_upload(source)


async def send_photo(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    stored, sizes = _photo(state, _input_file(state, params, uploads, "photo"))
    return record_message(
        state,
        chat_id,
        "sendPhoto",
        params,
        text=params.get("caption") or None,
        text_key="caption",
        content={"photo": sizes},
        file=stored,
    )


async def send_document(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    stored = _document(state, _input_file(state, params, uploads, "document"))
    return record_message(
        state,
        chat_id,
        "sendDocument",
        params,
        text=params.get("caption") or None,
        text_key="caption",
        content={"document": document_object(stored)},
        file=stored,
    )


def _media_item(state: FakeState, item: Any, uploads: Uploads) -> tuple[str, StoredFile, dict[str, Any]]:
    if not isinstance(item, dict) or item.get("type") not in ("photo", "document"):
        kind = item.get("type") if isinstance(item, dict) else None
        raise bad_request(f"unsupported media type {kind!r} in the album")  # others are not emulated
    kind = str(item["type"])
    source = _input_file(state, {kind: item.get("media")}, uploads, kind)
    # An album item shows the full-size photo only.
    stored = _photo(state, source)[0] if kind == "photo" else _document(state, source)
    check_caption(item.get("caption"), item.get("parse_mode") or None)
    if kind == "photo":
        return "sendPhoto", stored, {"photo": [photo_size(stored)]}
    return "sendDocument", stored, {"document": document_object(stored)}


async def send_media_group(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    media = params.get("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("media must be an Array of 2-10 InputMedia")
    items = [_media_item(state, item, uploads) for item in media]
    kinds = {method for method, _, _ in items}
    if len(kinds) > 1:
        raise bad_request("document can't be mixed with other media types")
    # An album is one send for the rate limits: checked once, before anything is recorded.
    state.check_rate(chat_id)
    group_id = str(state.files.next_number() * 7919)
    sent = []
    for item, (method, stored, content) in zip(media, items, strict=True):
        item_params = {"parse_mode": item.get("parse_mode")} | {
            key: params[key] for key in ("protect_content", "disable_notification") if key in params
        }
        raw = record_message(
            state,
            chat_id,
            method,
            item_params,
            text=item.get("caption") or None,
            text_key="caption",
            content=content | {"media_group_id": group_id},
            file=stored,
            charge=False,
        )
        sent.append(raw)
    return sent


async def get_file(state: FakeState, params: Params, uploads: Uploads) -> Any:
    stored = state.files.get(str(params.get("file_id") or ""))
    if stored is None:
        raise bad_request("invalid file_id")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path,
    }
