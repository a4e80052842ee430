"""Files the fake holds: what the bot uploaded and what users sent, by file_id and by download path."""

from __future__ import annotations

import hashlib
import itertools
import mimetypes
from typing import Any

from bot.fakeapi.errors import bad_request
from bot.fakeapi.images import image_size, thumbnail_size
from bot.fakeapi.models import StoredFile
from bot.fakeapi.params import Upload

Size = tuple[int, int]  # width, height in pixels; (0, 0) for documents


def photo_size(stored: StoredFile) -> dict[str, Any]:
    """The Bot API PhotoSize object of a stored photo."""
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": stored.width,
        "height": stored.height,
        "file_size": len(stored.data),
    }


def document_object(stored: StoredFile) -> dict[str, Any]:
    """The Bot API Document object of a stored file."""
    document: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }
    if stored.file_name:
        document["file_name"] = stored.file_name
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return document


class FileStore:
    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def next_number(self) -> int:
        """Take the next file number (media group ids are drawn from the same counter)."""
        return next(self._counter)

    def __getitem__(self, file_id: str) -> StoredFile:
        return self._by_id[file_id]

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)

    def _store(self, data: bytes, kind: str, name: str | None, mime: str | None, size: Size, tag: str) -> StoredFile:
        n = self.next_number()
        digest = hashlib.sha256(data + tag.encode()).hexdigest()
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        extension = ".jpg" if kind == "photo" else mimetypes.guess_extension(mime or "") or ""
        if name and "." in name:
            extension = "." + name.rsplit(".", 1)[1]
        folder = "photos" if kind == "photo" else "documents"
        stored = StoredFile(
            file_id=f"{prefix}{n:06d}{digest[:16]}",
            file_unique_id=f"AQAD{digest[:12]}",
            data=data,
            file_name=name,
            mime_type=mime,
            file_path=f"{folder}/file_{n}{extension}",
            kind=kind,
            width=size[0],
            height=size[1],
        )
        self._by_id[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    def store_document(self, data: bytes, file_name: str | None, mime_type: str | None) -> StoredFile:
        return self._store(data, "document", file_name, mime_type, (0, 0), "")

    def store_upload(self, upload: Upload) -> StoredFile:
        """A document the bot uploaded; its MIME type is guessed from the file name, as Telegram does."""
        name = upload.filename or "document"
        return self.store_document(upload.data, name, mimetypes.guess_type(name)[0] or "application/octet-stream")

    def store_photo(self, data: bytes, *, validate: bool) -> tuple[StoredFile, list[dict[str, Any]]]:
        """Store a photo; returns the full-size file and the PhotoSize list (smallest first).

        A thumbnail entry is added for images larger than 90px, as Telegram does; it points at the
        same bytes since the fake does not resample images."""
        size = image_size(data)
        if size is None:
            if validate:
                raise bad_request("IMAGE_PROCESS_FAILED")
            size = (512, 512)
        full = self._store(data, "photo", None, None, size, "")
        sizes: list[StoredFile] = []
        if max(size) > 90:
            # The thumbnail's file differs from the full size's by the digest's "thumb" tag.
            sizes.append(self._store(data, "photo", None, None, thumbnail_size(*size), "thumb"))
        sizes.append(full)
        return full, [photo_size(s) for s in sizes]
