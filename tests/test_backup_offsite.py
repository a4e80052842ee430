"""/backup never sends the database in clear: by default it reports where the local copies are;
with a passphrase set on the server (BACKUP_PASSPHRASE) the IT officer can ask for an AES-256
encrypted ZIP, which a standard tool decrypts back to the verified SQLite copy."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pyzipper
from aiogram.methods import AnswerCallbackQuery, SendDocument, TelegramMethod
from aiogram.types import BufferedInputFile
from pydantic import SecretStr

from tests.consent_helpers import buttons, texts
from tests.harness import DIRECTOR, IT_OFFICER, Harness, handler_harness
from tests.status_helpers import populate

pytestmark = pytest.mark.sqlite_only(reason="the SQLite file's backups and restores (pg_dump's: test_backup_pg.py)")

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Harness]:
    async with handler_harness(tmp_path, backup_passphrase=PASSPHRASE) as h:
        yield h


def _documents(calls: list[TelegramMethod[Any]]) -> list[SendDocument]:
    return [c for c in calls if isinstance(c, SendDocument)]


def _bytes(doc: SendDocument) -> bytes:
    assert isinstance(doc.document, BufferedInputFile)
    return doc.document.data


async def test_archive_is_aes_encrypted_and_holds_the_verified_database(secured: Harness, tmp_path: Path) -> None:
    await populate(secured)
    result = await secured.app.services.backup.take_backup()
    calls = await secured.text(IT_OFFICER, "/backup")
    assert not _documents(calls)
    [status] = [c for c in calls if buttons(c)]
    assert "зашифрованным архивом (ZIP, AES-256" in texts([status])[0]
    assert PASSPHRASE not in texts([status])[0]
    calls = await secured.press(IT_OFFICER, buttons(status)["🔐 Прислать зашифрованный архив"])
    [doc] = _documents(calls)
    data = _bytes(doc)
    # With the passphrase set the local copy is kept encrypted (#24 item 9): the archive is that file.
    assert result.path.name.endswith(".sqlite3.zip")
    assert doc.document.filename == result.path.name  # type: ignore[union-attr]
    assert data == result.path.read_bytes()
    assert doc.protect_content
    caption = doc.caption or ""
    assert "ФИО, телефоны, коды приглашений, журнал согласий" in caption and "AES-256" in caption
    assert PASSPHRASE not in caption
    # No plain database anywhere in what went out.
    assert b"SQLite format 3" not in data and b"CREATE TABLE" not in data
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        [info] = zf.infolist()
        assert info.flag_bits & 0x1  # encrypted
        with pytest.raises(RuntimeError):
            zf.read(info.filename, pwd=b"wrong password")
        zf.setpassword(PASSPHRASE.encode())
        inner = zf.read(info.filename)
    assert inner.startswith(b"SQLite format 3")
    copy = tmp_path / "decrypted.sqlite3"
    copy.write_bytes(inner)
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM persons").fetchone()[0] > 0
    finally:
        conn.close()


async def test_no_file_for_anyone_else_nor_without_a_strong_passphrase(harness: Harness, tmp_path: Path) -> None:
    await populate(harness)
    await harness.app.services.backup.take_backup()
    # No passphrase on the server: the status says how to enable it, and a forged press sends nothing.
    calls = await harness.text(IT_OFFICER, "/backup")
    assert not _documents(calls) and not any(buttons(c) for c in calls)
    assert "BACKUP_PASSPHRASE" in texts(calls)[0]
    calls = await harness.press(IT_OFFICER, "st:archive")
    assert not _documents(calls)
    [answer] = [c for c in calls if isinstance(c, AnswerCallbackQuery)]
    assert answer.show_alert and "BACKUP_PASSPHRASE" in (answer.text or "")
    # A weak one is refused the same way.
    harness.app.settings.backup_passphrase = SecretStr("short")
    calls = await harness.press(IT_OFFICER, "st:archive")
    assert not _documents(calls)
    # The director is not entitled to the database, whatever the button.
    harness.app.settings.backup_passphrase = SecretStr(PASSPHRASE)
    calls = await harness.press(DIRECTOR, "st:archive")
    assert not _documents(calls)

