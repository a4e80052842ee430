"""The district's registry backed up with its schools and restored by itself (#27 item 5), through
`schoolbot district backup` and `schoolbot district restore --registry FILE` as an operator types
them, on either backend (SCHOOLBOT_TEST_BACKEND: district.db copied on SQLite, pg_dump of the
`district` schema on PostgreSQL).

A registry lost (its file deleted, its schema dropped) is put back from its copy, and the district is
served again with its schools, operators and the district bot's choices; the copy is encrypted with
BACKUP_PASSPHRASE and private; a copy that lacks a school the live registry holds is refused naming
it (--force restores it, keeping the previous registry aside); a school's copy, a wrong passphrase
and running workers are refused with nothing changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.channels import Channel
from bot.clock import ManualClock
from bot.config import load_settings
from bot.district.schools import registry_store
from bot.i18n import Catalog
from bot.services.district import DistrictRegistry
from storage import pg_backup
from storage.district import district_store_path, school_store_path
from storage.lock import DatabaseLock
from tests.district_helpers import SCHOOLS, add_schools, built_district, district_settings
from tests.harness import DEFAULT_START

PASSPHRASE = "district-registry-passphrase-1"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("BOT_TOKEN", "MAX_TOKEN", "ADMIN_IDS", "DATABASE_PATH", "SCHOOL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISTRICT_DIR", str(tmp_path / "district"))
    monkeypatch.setenv("BACKUP_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "district"


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def registry_state() -> tuple[list[str], list[str], str | None]:
    """(school keys, operators' names, the district bot's choice of Telegram user 500) as storage reads them."""
    store = registry_store(load_settings(), Catalog.load().bind("ru"))
    await store.open()
    try:
        return ([s.key for s in await store.schools()], [o.full_name for o in await store.operators()],
                await store.chosen(Channel.TELEGRAM.value, 500))
    finally:
        await store.close()


async def lose_registry(district_dir: Path) -> None:
    """The registry gone as a disk or a careless DROP would lose it; the schools' stores stay."""
    settings = load_settings()
    if settings.database_url is None:
        district_store_path(district_dir).unlink()
        return
    target = pg_backup.PgTarget.from_url(settings.database_url.get_secret_value())
    await asyncio.to_thread(pg_backup.psql, target, "DROP SCHEMA district CASCADE", what="psql")


async def district_with_registry(tmp_path: Path) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    store = registry_store(settings, Catalog.load().bind("ru"))
    await store.open()
    try:
        registry = DistrictRegistry(records=store, clock=ManualClock(DEFAULT_START))
        await registry.add_operator("Районова Ольга Петровна", [(Channel.TELEGRAM, 900)], Catalog.load().bind("ru"))
        await store.choose(Channel.TELEGRAM.value, 500, "beta", DEFAULT_START)
    finally:
        await store.close()


async def test_the_registry_is_backed_up_with_the_schools_and_restored_after_it_is_lost(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await district_with_registry(tmp_path)
    before = await registry_state()
    assert before == (["alpha", "beta"], ["Районова Ольга Петровна"], "beta")

    code, out, err = await run(capsys, "district", "backup")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[2].startswith("Реестр района: копия "), out
    [copy] = sorted((cli_env / "backups").glob("district-*"))
    # Encrypted with the passphrase (the registry holds the schools' bot tokens), private.
    assert copy.name.endswith((".sqlite3.zip", ".pgdump.zip")) and copy.read_bytes()[:4] == b"PK\x03\x04"
    assert copy.stat().st_mode & 0o777 == 0o600
    assert str(copy) in lines[2]

    await lose_registry(cli_env)
    assert (await registry_state())[0] == []  # an empty registry: the district serves no school

    code, out, err = await run(capsys, "district", "restore", "--registry", str(copy))
    assert code == 0, err
    assert f"Реестр района восстановлен из {copy}: 2 школы (alpha, beta). Запустите процессы снова." in out
    assert await registry_state() == before
    # The district is served again: each school's store is found under its restored row.
    async with built_district(district_settings(tmp_path)) as d:
        assert sorted(d.schools) == sorted(SCHOOLS)
        assert [s.title for s in d.info.values()] == list(SCHOOLS.values())


async def test_a_copy_without_a_school_is_refused_naming_it_and_force_keeps_the_previous_registry(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await district_with_registry(tmp_path)
    code, out, err = await run(capsys, "district", "backup")
    assert code == 0, err
    [copy] = sorted((cli_env / "backups").glob("district-*"))
    await add_schools(district_settings(tmp_path), tmp_path, {"gamma": "Школа № 3 «Гамма»"})

    code, out, err = await run(capsys, "district", "restore", "--registry", str(copy))
    assert code == 1
    assert ("Восстановление реестра отменено, ничего не изменено: в текущем реестре есть 1 школа, которой нет"
            f" в копии {copy}: gamma.") in err
    assert (await registry_state())[0] == ["alpha", "beta", "gamma"]

    code, out, err = await run(capsys, "district", "restore", "--registry", str(copy), "--force")
    assert code == 0, err
    assert "В восстановленном реестре нет 1 школы из прежнего: gamma. Её хранилище не тронуто" in out
    assert "Прежний реестр сохранён: " in out
    assert (await registry_state())[0] == ["alpha", "beta"]


async def test_refusals_change_nothing(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await district_with_registry(tmp_path)
    code, _out, err = await run(capsys, "district", "backup")
    assert code == 0, err
    [copy] = sorted((cli_env / "backups").glob("district-*"))
    [school_copy] = sorted((cli_env / "schools" / "alpha" / "backups").glob("schoolbot-*"))
    before = await registry_state()

    # A school's copy is not a registry, and the registry's is no school's: each refusal names the file
    # given (not the command's decrypted scratch copy).
    code, _out, err = await run(capsys, "district", "restore", "--registry", str(school_copy))
    assert code == 1 and str(school_copy) in err and "реестр" in err, err
    code, _out, err = await run(capsys, "district", "restore", "alpha", str(copy))
    assert code == 1 and str(copy) in err and ".restore" not in err, err
    # Neither a school's key with --registry nor --carry-over, which is about a school's receipts.
    code, _out, err = await run(capsys, "district", "restore", "alpha", str(copy), "--registry")
    assert code == 2 and "district restore --registry FILE" in err
    code, _out, err = await run(capsys, "district", "restore", "--registry", str(copy), "--carry-over")
    assert code == 2 and "у реестра района их нет" in err
    # The passphrase the copy was made with, and no other.
    monkeypatch.setenv("BACKUP_PASSPHRASE", "another-passphrase-entirely")
    code, _out, err = await run(capsys, "district", "restore", "--registry", str(copy))
    assert code == 1 and "неверная парольная фраза" in err
    monkeypatch.setenv("BACKUP_PASSPHRASE", PASSPHRASE)

    # Running workers: on SQLite each holds its schools' locks (bot/cli_run.py), on PostgreSQL each
    # is connected to the database.
    if load_settings().database_url is None:
        with DatabaseLock(school_store_path(cli_env, "beta"), "run"):
            code, _out, err = await run(capsys, "district", "restore", "--registry", str(copy))
        assert code == 3 and "уже занята другим процессом schoolbot" in err
    else:
        async with built_district(district_settings(tmp_path)):
            code, _out, err = await run(capsys, "district", "restore", "--registry", str(copy))
        assert code == 1 and "подключены работающие процессы schoolbot" in err
    assert await registry_state() == before
    assert sorted(p.name for p in (cli_env / "backups").iterdir()) == [copy.name]  # nothing decrypted left


@pytest.mark.sqlite_only(reason="district.db damaged as a file")
async def test_a_damaged_registry_file_is_replaced_and_kept_aside(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await district_with_registry(tmp_path)
    before = await registry_state()
    code, out, err = await run(capsys, "district", "backup")
    assert code == 0, err
    [copy] = sorted((cli_env / "backups").glob("district-*"))
    damaged = b"not a database at all" * 100
    district_store_path(cli_env).write_bytes(damaged)

    code, out, err = await run(capsys, "district", "restore", "--registry", str(copy))
    assert code == 0, err
    assert "Текущий реестр прочитать не удалось (" in out and "Он сохранён рядом" in out
    assert await registry_state() == before
    [aside] = [p for p in cli_env.iterdir() if p.name.startswith("district.db.before-restore-")]
    assert aside.read_bytes() == damaged and f"Прежний реестр сохранён: {aside}." in out


async def test_the_daily_timer_backs_up_the_registry_alone(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`district backup --registry-only` (deploy/systemd/schoolbot-backup.service): the workers back the
    schools up each night themselves."""
    await district_with_registry(tmp_path)
    code, out, err = await run(capsys, "district", "backup", "--registry-only")
    assert code == 0, err
    [line] = out.strip().splitlines()
    assert line.startswith("Реестр района: копия ")
    assert len(list((cli_env / "backups").glob("district-*"))) == 1
    assert not list((cli_env / "schools").glob("*/backups/schoolbot-*"))
    unit = Path(__file__).resolve().parent.parent / "deploy" / "systemd" / "schoolbot-backup.service"
    assert "schoolbot district backup --registry-only" in unit.read_text(encoding="utf-8")
