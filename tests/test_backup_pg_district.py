"""A district school's backups by hand (#27 item 5): `schoolbot district backup` takes each school's
backup into its own folder (pg_dump of its schema on PostgreSQL, its file on SQLite: the suite runs
both), and `schoolbot district restore KEY FILE` restores one school with the receipts guard: refused
while that school's live ledger holds receipts the backup lacks, --carry-over keeps them; the other
school is untouched."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from bot import cli
from bot.app import build_dispatcher
from bot.district.runtime import District
from storage.consent import ConsentRepo
from tests.consent_helpers import school
from tests.district_helpers import SCHOOLS, add_schools, built_district, district_settings
from tests.harness import PARENT_ONE, PARENT_TWO, Harness
from tests.ledger_helpers import decide
from tests.mocked_bot import MockedBot


def harness(district: District, key: str, first_update: int = 1) -> Harness:
    app = district.schools[key]
    h = Harness(app, MockedBot(), build_dispatcher(app))
    # A later round goes on from the updates the store already recorded as handled.
    h._update_ids = itertools.count(first_update)
    return h


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BOT_TOKEN", "MAX_TOKEN", "ADMIN_IDS", "DATABASE_PATH", "SCHOOL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISTRICT_DIR", str(tmp_path / "district"))
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.chdir(tmp_path)


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def receipts(district: District, key: str) -> list[str]:
    return [r.receipt_id for r in await ConsentRepo.ledger_rows(district.schools[key].db.conn)]


async def test_each_school_backed_up_into_its_own_folder_and_restored_alone_with_the_guard(
    tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    async with built_district(settings) as d:
        hs = {key: harness(d, key) for key in SCHOOLS}
        for h in hs.values():
            await school(h)
        await decide(hs["alpha"], PARENT_TWO, "✅ Согласна: Миша")
        await decide(hs["beta"], PARENT_ONE, "✅ Согласен: Коля")
    code, out, err = await run(capsys, "district", "backup")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Школа № 1 «Альфа» (alpha): копия ") and "beta" in lines[1]
    assert lines[2].startswith("Реестр района: копия ")  # the registry with its schools
    copies = {key: sorted((tmp_path / "district" / "schools" / key / "backups").glob("schoolbot-*")) for key in SCHOOLS}
    assert all(len(found) == 1 for found in copies.values()), copies
    [alpha_copy] = copies["alpha"]

    async with built_district(settings) as d:
        await decide(harness(d, "alpha", first_update=1000), PARENT_ONE, "✅ Согласен: Коля")
        alpha_before = await receipts(d, "alpha")
        beta_before = await receipts(d, "beta")
    assert len(alpha_before) == 2

    # The backup lacks alpha's newest receipt: refused, nothing changed.
    code, out, err = await run(capsys, "district", "restore", "alpha", str(alpha_copy))
    assert code == 1
    assert "в текущей базе есть 1 квитанция согласия" in err and alpha_before[1] in err
    code, out, err = await run(capsys, "district", "restore", "alpha", str(alpha_copy), "--carry-over")
    assert code == 0, err
    assert f"перенесена 1 квитанция: {alpha_before[1]}" in out
    async with built_district(settings) as d:
        assert await receipts(d, "alpha") == alpha_before
        assert await receipts(d, "beta") == beta_before

    code, out, err = await run(capsys, "district", "restore", "gamma", str(alpha_copy))
    assert code == 2 and "gamma" in err and "alpha, beta" in err
