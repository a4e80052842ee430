"""At rest (#24 item 9): with BACKUP_PASSPHRASE set, the nightly copy is kept encrypted in the same
AES-256 ZIP as the off-site copy (never as a plain SQLite file), `schoolbot restore` reads it with the
passphrase and refuses clearly without it or with a wrong one; the off-site copy of an encrypted
backup is that file itself; the data and backup folders are created 0700, the files 0600."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pyzipper

from bot import cli
from bot.config import EXAMPLE_SCHOOL_CONFIG, load_school_config
from bot.i18n import Catalog
from bot.paths import CONTENT_DIR
from bot.services import backup as backup_service
from storage.snapshot import verify_file
from tests.harness import handler_harness, roster_csv

pytestmark = pytest.mark.sqlite_only(reason="the SQLite file's backups and restores (pg_dump's: test_backup_pg.py)")

MSK = ZoneInfo("Europe/Moscow")
SECRET = "correct horse battery staple"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _inside(data: bytes, passphrase: str, into: Path) -> Path:
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(passphrase.encode())
        [name] = zf.namelist()
        into.write_bytes(zf.read(name))
    return into


async def test_nightly_backup_is_encrypted_and_folders_are_private(tmp_path: Path) -> None:
    data, backups = tmp_path / "srv" / "data", tmp_path / "srv" / "data" / "backups"
    async with handler_harness(tmp_path, database_path=data / "schoolbot.sqlite3", backup_dir=backups,
                               backup_passphrase=SECRET) as h:
        assert _mode(data) == 0o700 and _mode(tmp_path / "srv") == 0o700  # created by the bot: private
        await h.app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=h.clock.now())
        h.clock.set(datetime(2026, 12, 2, 3, 0, tzinfo=MSK))
        assert await h.app.services.ops.nightly_backup(h.clock.now())
        [(copy, _)] = backup_service.list_backups(backups)
        assert copy.name.endswith(".sqlite3.zip") and _mode(copy) == 0o600 and _mode(backups) == 0o700
        raw = copy.read_bytes()
        assert not raw.startswith(b"SQLite format 3") and b"+79000000005" not in raw  # a phone, not in clear
        assert [p.name for p in backups.iterdir()] == [copy.name]  # no plain copy left beside it
        plain = _inside(raw, SECRET, tmp_path / "inside.sqlite3")
        assert verify_file(plain) is None
        with pytest.raises(RuntimeError):
            _inside(raw, "wrong passphrase!!", tmp_path / "x.sqlite3")
        # The off-site copy of an encrypted backup is the file itself: one format, one passphrase.
        archive, name, _ = await h.app.services.backup.encrypted_archive()
        assert archive == raw and name == copy.name
        # The status counts it as the latest copy.
        assert (await h.app.services.backup.backup_status()).latest == copy


async def test_restore_reads_an_encrypted_backup_with_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "bk"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.setenv("BACKUP_PASSPHRASE", SECRET)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_bytes(roster_csv())
    assert await asyncio.to_thread(cli.main, ["import", "roster", "roster.csv"]) == 0
    assert await asyncio.to_thread(cli.main, ["backup"]) == 0
    [(copy, _)] = backup_service.list_backups(tmp_path / "bk")
    assert copy.name.endswith(".zip")
    capsys.readouterr()

    monkeypatch.delenv("BACKUP_PASSPHRASE")
    assert await asyncio.to_thread(cli.main, ["restore", str(copy)]) == 1
    assert "копия зашифрована — задайте BACKUP_PASSPHRASE" in capsys.readouterr().err
    monkeypatch.setenv("BACKUP_PASSPHRASE", "another long passphrase")
    assert await asyncio.to_thread(cli.main, ["restore", str(copy)]) == 1
    assert "не удалось расшифровать" in capsys.readouterr().err
    monkeypatch.setenv("BACKUP_PASSPHRASE", SECRET)
    assert await asyncio.to_thread(cli.main, ["restore", str(copy)]) == 0
    assert "Прежняя база сохранена как" in capsys.readouterr().out
    assert verify_file(tmp_path / "db.sqlite3") is None
    assert not (tmp_path / "db.sqlite3.restore-plain").exists()
    # The restored database's access log says it was restored, from which copy, from the command line.
    con = sqlite3.connect(tmp_path / "db.sqlite3")
    try:
        rows = con.execute("SELECT kind, actor, channel, object_id FROM access_log").fetchall()
    finally:
        con.close()
    assert rows == [("backup_restore", None, "cli", copy.name)]


def test_the_faq_says_what_the_bot_keeps_and_who_sees_codes_as_the_code_does() -> None:
    """The FAQ's promises hold against the code: the button it names exists, the term it names is
    the retention default, and it names every kind of data the purge removes (so nothing kept is
    left unmentioned)."""
    catalog = Catalog.load()
    terms = load_school_config(EXAMPLE_SCHOOL_CONFIG).retention
    for lang, words in (("ru", ("телефон", "аккаунт", "коды", "вопросы", "сообщения", "журнал доступа",
                                "последним трём знакам")),
                        ("en", ("phone", "account", "codes", "questions", "messages", "access log",
                                "last three characters"))):
        text = (CONTENT_DIR / "faq" / f"{lang}.toml").read_text(encoding="utf-8")
        who_sees = text.split('id = "consent-who-sees"', 1)[1].split("[[entry]]", 1)[0]
        assert catalog.text(lang, "menu.my_data") in who_sees
        assert (f"{terms.after_leaving_days} дней" if lang == "ru" else f"{terms.after_leaving_days} days") in who_sees
        for word in words:
            assert word in who_sees, (lang, word)
        withdraw = text.split('id = "consent-withdraw"', 1)[1].split("[[entry]]", 1)[0]
        assert str(terms.after_withdrawal_days) in withdraw
