"""Backups on PostgreSQL (#27 item 5): `schoolbot backup` is pg_dump of the school's schema (custom
format, checked by reading it back, 0600, the password never on a command line or in a log), and
`schoolbot restore` keeps the SQLite restore's guard on consent receipts: an older dump is refused
while the live ledger holds receipts it lacks (nothing changed), --carry-over re-appends them chained,
--force names each lost receipt; the previous schema is kept beside the restored one.

Against the throwaway PostgreSQL of tests/servers.py; skipped where PostgreSQL is not installed."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot import cli
from bot.core import database_restore
from bot.services import ledger
from bot.services.backup import BackupError
from storage import pg_backup
from storage.consent import ConsentRepo
from storage.pg import PgDatabase
from tests.consent_helpers import school
from tests.harness import PARENT_ONE, PARENT_TWO, Harness, handler_harness
from tests.ledger_helpers import cli_env, decide
from tests.servers import FreshDatabases

PASSWORD = "pw-never-shown-7f3a"


def _with_password(url: str) -> str:
    """The test server trusts local connections; a password in the URL is what an operator's holds."""
    parts = urlsplit(url)
    netloc = parts.netloc.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@pytest.fixture
async def pg_harness(
    pg_databases: FreshDatabases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setenv("DATABASE_URL", _with_password(pg_databases.url()))
    async with handler_harness(tmp_path, admin_ids=[1]) as h:
        assert h.app.db.path is None  # on PostgreSQL indeed
        yield h


@pytest.fixture
def tool_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """Every client tool run: its command line and environment (the real run still happens)."""
    calls: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        calls.append((list(args), dict(kwargs.get("env") or {})))
        return real(args, **kwargs)

    monkeypatch.setattr(pg_backup.subprocess, "run", spy)
    return calls


async def _receipts(settings_url: str, schema: str) -> list[str]:
    db = PgDatabase(settings_url, schema=schema, min_size=1, max_size=2)
    await db.open()
    try:
        assert (await ledger.check(db, ConsentRepo())).ok
        return [r.receipt_id for r in await ConsentRepo.ledger_rows(db.conn)]
    finally:
        await db.close()


async def _older_backup_then_two_decisions(h: Harness) -> tuple[Path, list[str]]:
    await school(h)
    await decide(h, PARENT_TWO, "✅ Согласна: Миша")
    backup = await h.app.services.backup.take_backup()
    assert backup.ok, backup.detail
    await decide(h, PARENT_ONE, "✅ Согласен: Коля")
    await decide(h, PARENT_TWO, "❌ Не согласна: Маша")
    receipts = [r.receipt_id for r in await ConsentRepo.ledger_rows(h.app.db.conn)]
    assert len(receipts) == 3
    await h.app.close()
    return backup.path, receipts


async def _restore(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["restore", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _schemas(url: str) -> set[str]:
    out = pg_backup.psql(pg_backup.PgTarget.from_url(url), "SELECT nspname FROM pg_namespace", what="psql")
    return {line.strip() for line in out.splitlines() if line.strip()}


async def test_backup_is_a_checked_private_dump_and_the_password_stays_out_of_argv_and_logs(
    pg_harness: Harness, tool_calls: list[tuple[list[str], dict[str, str]]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await school(pg_harness)
    await decide(pg_harness, PARENT_TWO, "✅ Согласна: Миша")
    result = await pg_harness.app.services.backup.take_backup()
    assert result.ok, result.detail
    assert result.path.name.startswith("schoolbot-") and result.path.name.endswith(".pgdump")
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.path.parent.stat().st_mode) == 0o700
    assert result.path.read_bytes()[:5] == b"PGDMP"
    schema = pg_harness.app.settings.database_schema
    assert pg_backup.verify_dump(result.path, schema) is None
    [receipt] = [r.receipt_id for r in await ConsentRepo.ledger_rows(pg_harness.app.db.conn)]
    assert [r.receipt_id for r in pg_backup.dump_receipts(result.path, schema)] == [receipt]
    # pg_dump ran with the password in its environment only.
    dumps = [(argv, env) for argv, env in tool_calls if argv[0].endswith("pg_dump")]
    assert dumps and all(env.get("PGPASSWORD") == PASSWORD for _, env in dumps)
    assert not any(PASSWORD in " ".join(argv) for argv, _ in tool_calls)
    assert PASSWORD not in caplog.text
    # /backup's status and the record name the dump.
    status = await pg_harness.app.services.backup.backup_status()
    assert status.latest == result.path and status.last_run is not None and status.last_run.ok


async def test_a_failed_dump_names_why_without_the_password_and_leaves_no_file(
    pg_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pg_harness.app.settings
    # A database that does not exist: pg_dump fails on connecting.
    url = settings.database_url.get_secret_value()  # type: ignore[union-attr]
    # The service copies through its Backups port (bot/core.py database_copies): one on the broken URL.
    broken = pg_backup.PgCopies(url.replace("/t_", "/no_such_"), settings.database_schema)
    monkeypatch.setattr(pg_harness.app.services.backup, "backups", broken)
    result = await pg_harness.app.services.backup.take_backup()
    assert not result.ok and result.detail is not None
    assert "pg_dump" in result.detail and PASSWORD not in result.detail
    assert not list(Path(settings.backup_dir).glob("schoolbot-*"))


async def test_restore_of_an_older_dump_is_refused_and_nothing_changes(
    pg_harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup, receipts = await _older_backup_then_two_decisions(pg_harness)
    url = pg_harness.app.settings.database_url.get_secret_value()  # type: ignore[union-attr]
    schema = pg_harness.app.settings.database_schema
    before = _schemas(url)
    cli_env(monkeypatch, tmp_path)
    code, _out, err = await _restore(str(backup), capsys=capsys)
    assert code == 1
    assert "Восстановление отменено, ничего не изменено: в текущей базе есть 2 квитанции согласия" in err
    for receipt in receipts[1:]:
        assert f"• {receipt}: " in err
    assert "schoolbot restore --carry-over" in err
    assert _schemas(url) == before
    assert await _receipts(url, schema) == receipts


async def test_carry_over_keeps_every_receipt_chained_and_the_previous_schema(
    pg_harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup, receipts = await _older_backup_then_two_decisions(pg_harness)
    url = pg_harness.app.settings.database_url.get_secret_value()  # type: ignore[union-attr]
    schema = pg_harness.app.settings.database_schema
    cli_env(monkeypatch, tmp_path)
    code, out, err = await _restore("--carry-over", str(backup), capsys=capsys)
    assert code == 0, err
    assert f"перенесены 2 квитанции: {receipts[1]}, {receipts[2]}" in out
    assert await _receipts(url, schema) == receipts   # same order, chain intact
    [aside] = [s for s in _schemas(url) if s.startswith(f"{schema}_prev_")]
    assert f"как схема {aside}" in out
    assert await _receipts(url, aside) == receipts


async def test_force_names_every_lost_receipt(
    pg_harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup, receipts = await _older_backup_then_two_decisions(pg_harness)
    url = pg_harness.app.settings.database_url.get_secret_value()  # type: ignore[union-attr]
    schema = pg_harness.app.settings.database_schema
    cli_env(monkeypatch, tmp_path)
    code, out, err = await _restore("--force", str(backup), capsys=capsys)
    assert code == 0, err
    assert "ВНИМАНИЕ: в восстановленном журнале согласий нет 2 квитанций." in out
    assert f"• {receipts[1]}: согласие дано" in out and f"• {receipts[2]}: отказ" in out
    assert await _receipts(url, schema) == receipts[:1]
    [aside] = [s for s in _schemas(url) if s.startswith(f"{schema}_prev_")]
    assert await _receipts(url, aside) == receipts


async def test_a_damaged_or_foreign_dump_is_refused_and_nothing_changes(pg_harness: Harness, tmp_path: Path) -> None:
    await school(pg_harness)
    await decide(pg_harness, PARENT_TWO, "✅ Согласна: Миша")
    good = await pg_harness.app.services.backup.take_backup()
    assert good.ok
    await pg_harness.app.close()
    settings = pg_harness.app.settings
    url = settings.database_url.get_secret_value()  # type: ignore[union-attr]
    before = _schemas(url)
    receipts = await _receipts(url, settings.database_schema)
    cut = tmp_path / "cut.pgdump"
    cut.write_bytes(good.path.read_bytes()[:-300])
    other = settings.model_copy(update={"database_schema": "school_other"})
    for source, settings_used in ((cut, settings), (tmp_path / "schoolbot.sqlite3", settings), (good.path, other)):
        if not source.exists():
            source.write_bytes(b"SQLite format 3\x00" + bytes(100))
        with pytest.raises(BackupError) as refused:
            await database_restore(settings_used).restore(source, pg_harness.clock.now(), force=True)
        assert PASSWORD not in str(refused.value)
    assert _schemas(url) == before
    assert await _receipts(url, settings.database_schema) == receipts


async def test_restore_refuses_while_a_worker_is_connected(pg_harness: Harness) -> None:
    await school(pg_harness)
    backup = await pg_harness.app.services.backup.take_backup()
    assert backup.ok
    # The harness's app is open: a running worker on this database.
    with pytest.raises(BackupError, match="systemctl stop"):
        await database_restore(pg_harness.app.settings).restore(backup.path, pg_harness.clock.now())


async def test_an_encrypted_dump_restores_with_the_passphrase(
    pg_databases: FreshDatabases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_databases.url())
    async with handler_harness(tmp_path, admin_ids=[1], backup_passphrase="correct horse battery") as h:
        await school(h)
        await decide(h, PARENT_TWO, "✅ Согласна: Миша")
        result = await h.app.services.backup.take_backup()
        assert result.ok and result.path.name.endswith(".pgdump.zip")
        assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
        receipts = [r.receipt_id for r in await ConsentRepo.ledger_rows(h.app.db.conn)]
        await h.app.close()
        settings = h.app.settings
        with pytest.raises(BackupError, match="BACKUP_PASSPHRASE"):
            await database_restore(settings).restore(result.path, h.clock.now())
        with pytest.raises(BackupError, match="неверная парольная фраза"):
            await database_restore(settings).restore(result.path, h.clock.now(), passphrase="wrong passphrase!")
        outcome = await database_restore(settings).restore(
            result.path, h.clock.now(), passphrase="correct horse battery"
        )
        assert isinstance(outcome.aside, str)
        assert await _receipts(pg_databases.url(), settings.database_schema) == receipts
        # The decrypted dump existed only during the restore.
        assert not [p for p in Path(settings.backup_dir).iterdir() if p.name.startswith(".restore-")]
        assert os.listdir(settings.backup_dir) == [result.path.name]


async def test_a_dump_of_a_newer_schoolbot_is_not_kept_as_a_backup(pg_harness: Harness) -> None:
    url = pg_harness.app.settings.database_url.get_secret_value()  # type: ignore[union-attr]
    schema = pg_harness.app.settings.database_schema
    pg_backup.psql(pg_backup.PgTarget.from_url(url), f"UPDATE {schema}.schema_version SET version = 999", what="psql")
    result = await pg_harness.app.services.backup.take_backup()
    assert not result.ok and result.detail is not None
    assert "сделана более новой версией schoolbot (версия схемы 999" in result.detail
    assert not list(Path(pg_harness.app.settings.backup_dir).glob("schoolbot-*"))
