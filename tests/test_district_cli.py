"""`schoolbot district …` through its entry point (bot/cli.py main), as an operator types it: adding
schools (and every refusal leaving nothing written), listing them without tokens, importing each
school's roster and codes into its own store, the coverage table across schools with no name and no
code in it, and a district officer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import cli
from bot.app import build_dispatcher
from bot.channels import Channel
from bot.clock import SystemClock
from bot.config import load_settings
from bot.district.schools import registry_store, school_core, school_stores
from bot.i18n import Catalog
from bot.services.district import DistrictRegistry
from storage.district import district_store_path, school_folder
from tests.codes_helpers import CODES, codes_csv
from tests.district_helpers import built_district, district_settings, school_toml
from tests.harness import ROSTER_ROWS, Harness, roster_csv
from tests.mocked_bot import MockedBot

TELEGRAM_TOKEN = "123456:SCHOOL-ALPHA-SECRET-TOKEN"
MAX_TOKEN = "max-alpha-secret-token-0001"


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


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def registry_keys() -> list[str]:
    """The registry's schools, read through storage (district.db, or the district schema)."""
    t = Catalog.load().bind("ru")

    async def keys() -> list[str]:
        store = registry_store(load_settings(), t)
        await store.open()
        try:
            return [record.key for record in await store.schools()]
        finally:
            await store.close()

    return asyncio.run(keys())


def store_exists(key: str) -> bool:
    return asyncio.run(school_stores(load_settings(), Catalog.load().bind("ru")).exists(key))


def school_figures_of(key: str) -> tuple[int, int]:
    """(schema version, people) of a school's own store, read through its Core."""

    async def read() -> tuple[int, int]:
        settings = load_settings()
        t = Catalog.load().bind("ru")
        store = registry_store(settings, t)
        await store.open()
        try:
            schools = await DistrictRegistry(records=store, clock=SystemClock()).schools()
            school = next(s for s in schools if s.key == key)
        finally:
            await store.close()
        core = school_core(settings, school)
        await core.open()
        try:
            return await core.db.schema_version(), len(await core.people.active())
        finally:
            await core.close()

    return asyncio.run(read())


def add(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str, title: str, *extra: str) -> tuple[int, str, str]:
    config = write(tmp_path, f"{key}.toml", school_toml(tmp_path, title))
    return run(capsys, "district", "add-school", key, "--title", title, "--config", str(config), *extra)


def test_schools_added_listed_imported_and_counted(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = write(tmp_path, "alpha.token", TELEGRAM_TOKEN + "\n")
    max_token = write(tmp_path, "alpha.max", MAX_TOKEN)
    code, out, err = add(capsys, tmp_path, "alpha", "Школа № 1 «Альфа»", "--telegram-token-file", str(token),
                         "--max-token-file", str(max_token))
    assert code == 0, err
    assert "Школа «Школа № 1 «Альфа»» добавлена с ключом alpha" in out
    assert "Свой бот: Telegram — есть, MAX — есть." in out
    assert code == 0 and add(capsys, tmp_path, "beta", "Школа № 2 «Бета»")[0] == 0
    # Each school's store exists with every migration applied, and nobody in it yet.
    for key in ("alpha", "beta"):
        version, people = school_figures_of(key)
        assert version > 30 and people == 0
    if not load_settings().database_url:  # the registry's file is private: it holds tokens
        assert district_store_path(district_dir).stat().st_mode & 0o077 == 0

    code, out, err = run(capsys, "district", "list")
    assert code == 0
    assert "• alpha — Школа № 1 «Альфа» (бот Telegram: есть, бот MAX: есть)" in out
    assert "• beta — Школа № 2 «Бета» (бот Telegram: нет, бот MAX: нет)" in out
    assert TELEGRAM_TOKEN not in out + err and MAX_TOKEN not in out + err

    roster = tmp_path / "roster.csv"
    roster.write_bytes(roster_csv())
    codes = tmp_path / "codes.csv"
    codes.write_bytes(codes_csv())
    for key in ("alpha", "beta"):
        for kind, path in (("roster", roster), ("codes", codes)):
            code, out, err = run(capsys, "district", "import", key, kind, str(path))
            assert code == 0, err
            assert f"({key}):" in out
    # The same roster in both stores, each on its own: nine people in each.
    for key in ("alpha", "beta"):
        assert school_figures_of(key)[1] == len(ROSTER_ROWS) - 1

    code, out, err = run(capsys, "district", "status")
    assert code == 0, err
    assert "🏫 Школа № 1 «Альфа» (alpha)" in out and "🏫 Школа № 2 «Бета» (beta)" in out
    assert "Согласия: решение приняли семьи 0 из 3 (0%), согласились: 0" in out
    assert "Итого по 2 школам:" in out
    names = [row[0] for row in ROSTER_ROWS[1:]]
    surnames = {name.split()[0] for name in names}
    for secret in [*names, *surnames, *CODES.values(), TELEGRAM_TOKEN, MAX_TOKEN]:
        assert secret not in out + err, secret


def test_an_operator_is_added_and_an_account_is_one_operators(
    district_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "district", "add-operator", "--full-name", "Районова Анна", "--telegram", "777",
                       "--max", "888")
    assert code == 0 and "Сотрудник района добавлен (№ 1)" in out
    code, _, err = run(capsys, "district", "add-operator", "--full-name", "Другой", "--telegram", "777")
    assert code == 2 and "Аккаунт telegram:777 уже принадлежит сотруднику района." in err
    code, _, err = run(capsys, "district", "add-operator", "--full-name", "Никто")
    assert code == 2 and "--telegram ID или --max ID" in err


def test_refusals_name_the_field_and_write_nothing(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = write(tmp_path, "alpha.token", TELEGRAM_TOKEN)
    assert add(capsys, tmp_path, "alpha", "Альфа", "--telegram-token-file", str(token))[0] == 0

    # A bad key: refused before anything is read or made.
    for key in ("Alpha", "a", "a b", "school_1", "x" * 33, "школа", "../up"):
        code, _, err = add(capsys, tmp_path, key, "Бета")
        assert code == 2 and f"Ключ школы «{key}» не подходит" in err, err
    # A key the district holds: the school that has it is left as it was.
    code, _, err = add(capsys, tmp_path, "alpha", "Другая")
    assert code == 2 and "Школа с ключом «alpha» в районе уже есть" in err
    # Broken TOML, and TOML whose field is wrong: the loader's own message names the line or field.
    broken = write(tmp_path, "broken.toml", "[school\nname = 1\n")
    code, _, err = run(capsys, "district", "add-school", "beta", "--title", "Бета", "--config", str(broken))
    assert code == 2 and "ничего не записано" in err and "ошибка в записи TOML" in err and "line 1" in err
    bad_zone = write(tmp_path, "zone.toml", school_toml(tmp_path, "Бета").replace(
        'timezone = "Europe/Moscow"', 'timezone = "Europe/Mordor"'))
    code, _, err = run(capsys, "district", "add-school", "beta", "--title", "Бета", "--config", str(bad_zone))
    assert code == 2 and "раздел [school], поле timezone" in err, err
    # A token another school's bot holds; an empty token file; no title.
    code, _, err = add(capsys, tmp_path, "beta", "Бета", "--telegram-token-file", str(token))
    assert code == 2 and "уже у бота школы «alpha»" in err and TELEGRAM_TOKEN not in err
    empty = write(tmp_path, "empty.token", "\n")
    code, _, err = add(capsys, tmp_path, "beta", "Бета", "--max-token-file", str(empty))
    assert code == 2 and "пуст" in err
    code, _, err = add(capsys, tmp_path, "beta", "  ")
    assert code == 2 and "(--title) пустое" in err
    # A folder of that name already there (not the registry's): refused, and left untouched.
    leftover = school_folder(district_dir, "gamma")
    leftover.mkdir(parents=True)
    (leftover / "keep.txt").write_text("operator's file", encoding="utf-8")
    code, _, err = add(capsys, tmp_path, "gamma", "Гамма")
    assert code == 2 and "Для ключа «gamma» уже есть данные" in err
    assert (leftover / "keep.txt").read_text(encoding="utf-8") == "operator's file"

    # Nothing of any refusal was written: one registry row, one store (and the folder left alone).
    assert registry_keys() == ["alpha"]
    assert sorted(p.name for p in (district_dir / "schools").iterdir()) == ["alpha", "gamma"]
    assert store_exists("alpha") and not store_exists("beta")


def test_without_a_district_the_commands_say_how_to_set_one_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISTRICT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "district", "list")
    assert code == 2 and "DISTRICT_DIR" in err
    code, _, err = run(capsys, "district", "import", "alpha", "roster", "roster.csv")
    assert code == 2 and "DISTRICT_DIR" in err


def test_an_unknown_school_is_named_with_those_there_are(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(capsys, tmp_path, "alpha", "Альфа")[0] == 0
    code, _, err = run(capsys, "district", "import", "beta", "roster", "roster.csv")
    assert code == 2 and "Школы с ключом «beta» в районе нет. Есть: alpha." in err


def test_a_schools_admin_token_makes_an_it_officer_of_that_school_only(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(capsys, tmp_path, "alpha", "Альфа")[0] == 0
    assert add(capsys, tmp_path, "beta", "Бета")[0] == 0
    code, out, err = run(capsys, "district", "admin-token", "alpha")
    assert code == 0, err
    token = next(line.split()[1] for line in out.splitlines() if line.startswith("/start "))

    async def start() -> tuple[bool, bool]:
        settings = district_settings(tmp_path)
        async with built_district(settings) as district:
            alpha, beta = (Harness(district.schools[k], MockedBot(), build_dispatcher(district.schools[k]))
                           for k in ("alpha", "beta"))
            await alpha.text(4242, f"/start {token}")
            # The same token means nothing to the other school.
            await beta.text(4242, f"/start {token}")
            in_alpha = await alpha.app.people.by_account(Channel.TELEGRAM, 4242)
            in_beta = await beta.app.people.by_account(Channel.TELEGRAM, 4242)
            return in_alpha is not None and in_alpha.has_role("it_officer"), in_beta is not None

    assert asyncio.run(start()) == (True, False)


def test_an_unreachable_database_is_one_line_without_its_password(
    district_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://schoolbot:s3cret-pw@127.0.0.1:1/district")
    code, out, err = add(capsys, tmp_path, "alpha", "Альфа")
    assert code == 2 and "s3cret-pw" not in out + err and "Traceback" not in err
    assert "127.0.0.1" in err
    assert not (district_dir / "schools" / "alpha").exists()
