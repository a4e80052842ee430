"""`schoolbot district broadcast` (#27): the district operator's message goes into every school's own
outbox, one row per reachable family member of each school (each school's dedupe keys, broadcast
row and counts), sent later by the workers through each school's bot; a school that cannot be
opened stops the command before anything is queued anywhere; no name leaves a school in the output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.channels import Channel
from storage.accounts import AccountRepo
from storage.district import school_store_path
from tests.district_helpers import school_toml
from tests.harness import DEFAULT_START, ROSTER_ROWS, roster_csv
from tests.servers import make_unopenable, school_store_database, school_store_rows

SCHOOLS = {"alpha": "Школа № 1 «Альфа»", "beta": "Школа № 2 «Бета»", "gamma": "Школа № 3 «Гамма»"}
PARENTS = ("Иванова Елена Викторовна", "Смирнов Олег Павлович")


@pytest.fixture
def district_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "district"
    for name in ("BOT_TOKEN", "MAX_TOKEN", "ADMIN_IDS", "DATABASE_PATH", "SCHOOL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISTRICT_DIR", str(folder))
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.chdir(tmp_path)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _link_parents(district_dir: Path, key: str, first_chat: int, linked: int) -> None:
    """The first `linked` parents of the roster reached the school's bot (their Telegram accounts)."""
    db = school_store_database(district_dir, key)
    await db.open()
    try:
        async with db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, full_name FROM persons WHERE full_name IN (?, ?) ORDER BY full_name", PARENTS
            )
            for i, row in enumerate(list(rows)[:linked]):
                await AccountRepo.link(conn, int(row[0]), Channel.TELEGRAM, first_chat + i, None, DEFAULT_START)
    finally:
        await db.close()


def _outbox(district_dir: Path, key: str) -> list[tuple[str, int, int | None]]:
    rows = school_store_rows(district_dir, key, "SELECT dedupe_key, person_id, broadcast_id FROM outbox ORDER BY id")
    return [(str(r[0]), int(r[1]), r[2]) for r in rows]


async def _district(capsys: pytest.CaptureFixture[str], tmp_path: Path, district_dir: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(roster_csv())
    for n, (key, title) in enumerate(SCHOOLS.items()):
        config = tmp_path / f"{key}.toml"
        config.write_text(school_toml(tmp_path, title), encoding="utf-8")
        code, _, err = await asyncio.to_thread(
            run, capsys, "district", "add-school", key, "--title", title, "--config", str(config))
        assert code == 0, err
        code, _, err = await asyncio.to_thread(run, capsys, "district", "import", key, "roster", str(roster))
        assert code == 0, err
        # alpha: both parents reach the bot, beta: one, gamma: none.
        await _link_parents(district_dir, key, 10_000 * (n + 1), 2 - n)


async def test_every_reachable_family_of_every_school_is_queued_once_in_its_own_school(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _district(capsys, tmp_path, district_dir)
    code, out, err = await asyncio.to_thread(
        run, capsys, "district", "broadcast", "--text", "Родительские собрания — 15 декабря в 18:00.", "--yes")
    assert code == 0, err
    assert "Школа № 1 «Альфа» (alpha): всего 2, доступны в Telegram или MAX: 2." in out
    assert "Школа № 2 «Бета» (beta): всего 2, доступны в Telegram или MAX: 1." in out
    assert "Школа № 3 «Гамма» (gamma): всего 2, доступны в Telegram или MAX: 0." in out
    assert "Школ: 3. Аудитория parents: всего 6, доступны: 3." in out
    assert "Всего в очереди сообщений: 3, школ: 3." in out
    for secret in [row[0] for row in ROSTER_ROWS[1:]]:
        assert secret not in out + err
    queued = {key: _outbox(district_dir, key) for key in SCHOOLS}
    assert [len(rows) for rows in queued.values()] == [2, 1, 0]
    for rows in queued.values():
        # One broadcast per school, one row per person, under the school's own dedupe keys.
        assert len({b for _, _, b in rows}) <= 1
        assert len({p for _, p, _ in rows}) == len(rows)
        assert all(key.startswith(f"bc:{b}:") for key, _, b in rows)

    # --school limits it; an unknown school is named with those there are, nothing queued.
    code, out, err = await asyncio.to_thread(
        run, capsys, "district", "broadcast", "--text", "Только Бете", "--school", "beta", "--yes")
    assert code == 0, err
    assert "alpha" not in out and len(_outbox(district_dir, "beta")) == 2
    code, out, err = await asyncio.to_thread(
        run, capsys, "district", "broadcast", "--text", "Никому", "--school", "delta", "--yes")
    assert code == 2 and "delta" in err and "alpha, beta, gamma" in err
    assert [len(_outbox(district_dir, k)) for k in SCHOOLS] == [2, 2, 0]


async def test_a_school_that_cannot_be_opened_stops_the_broadcast_before_anything_is_queued(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _district(capsys, tmp_path, district_dir)
    make_unopenable(school_store_database(district_dir, "gamma"), school_store_path(district_dir, "gamma"))
    code, out, err = await asyncio.to_thread(
        run, capsys, "district", "broadcast", "--text", "Собрание", "--yes")
    assert code != 0
    assert "gamma" in err and "Traceback" not in err
    assert "Всего в очереди" not in out
    assert [len(_outbox(district_dir, k)) for k in ("alpha", "beta")] == [0, 0]
