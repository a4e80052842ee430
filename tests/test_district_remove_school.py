"""`schoolbot district remove-school KEY` through the entry point (bot/cli.py main), as an operator types
it, on either backend: refused for an unknown key (naming those there are), cancelled unless the
school's key is typed back (or --yes), refused while a worker serves the school; otherwise a final
backup is kept outside the school's folder (it restores the school), then the school's store, its
folder and its registry row go, with the district bot's choices of it, and the output says that
personal data were destroyed (152-FZ). A person who had chosen the school in the district bot gets
the picker with their next message."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot import cli
from bot.channels import Channel
from bot.config import load_settings
from bot.district.runtime import District
from bot.district.schools import registry_store, school_stores
from bot.fakeapi import FakeTelegram
from bot.i18n import Catalog
from bot.multibot import build_district_bots, serve_multibot
from bot.services.backup import is_encrypted
from storage import pg_backup
from storage.district import school_folder, school_store_path
from storage.lock import DatabaseLock
from tests.district_helpers import add_schools, built_district, district_settings
from tests.harness import DEFAULT_START, PARENT_TWO, ROSTER_ROWS, WEBHOOK_SECRET, free_port, roster_csv

PASSPHRASE = "district-removal-passphrase"
ASK = "Чтобы бот узнал вас"


@pytest.fixture
def district_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("BOT_TOKEN", "MAX_TOKEN", "ADMIN_IDS", "DATABASE_PATH", "SCHOOL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISTRICT_DIR", str(tmp_path / "district"))
    monkeypatch.setenv("BACKUP_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "district"


def answering(monkeypatch: pytest.MonkeyPatch, answer: str | None) -> list[str]:
    """The operator's terminal: types `answer` at the prompt (None: there is no terminal)."""
    prompts: list[str] = []

    def typed(prompt: str = "") -> str:
        prompts.append(prompt)
        if answer is None:
            raise EOFError
        return answer

    monkeypatch.setattr(builtins, "input", typed)
    return prompts


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def registry_view() -> tuple[list[str], str | None]:
    """(the registry's school keys, Telegram user 500's choice in the district bot)."""
    store = registry_store(load_settings(), Catalog.load().bind("ru"))
    await store.open()
    try:
        return [s.key for s in await store.schools()], await store.chosen(Channel.TELEGRAM.value, 500)
    finally:
        await store.close()


async def store_exists(key: str) -> bool:
    return await school_stores(load_settings(), Catalog.load().bind("ru")).exists(key)


async def people(tmp_path: Path, key: str) -> int:
    async with built_district(district_settings(tmp_path)) as d:
        return len(await d.schools[key].people.active())


async def a_district(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Alpha and beta, beta's roster imported, and Telegram user 500 having chosen beta."""
    settings = district_settings(tmp_path)
    await add_schools(settings, tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(roster_csv())
    for key in ("alpha", "beta"):
        code, _, err = await run(capsys, "district", "import", key, "roster", str(roster))
        assert code == 0, err
    store = registry_store(settings, Catalog.load().bind("ru"))
    await store.open()
    try:
        await store.choose(Channel.TELEGRAM.value, 500, "beta", DEFAULT_START)
    finally:
        await store.close()


async def test_a_school_is_removed_after_a_final_backup_that_restores_it(
    tmp_path: Path, district_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_district(tmp_path, capsys)
    assert await registry_view() == (["alpha", "beta"], "beta")
    prompts = answering(monkeypatch, "beta")

    code, out, err = await run(capsys, "district", "remove-school", "beta")
    assert code == 0, err
    assert prompts == ["Чтобы подтвердить удаление, введите ключ школы (beta): "]
    # 152-FZ: the operator is told, before the prompt, that personal data are destroyed, and what stays.
    assert "Школа «Школа № 2 «Бета»» (beta) будет удалена из района." in out
    assert "персональные данные учеников, родителей и сотрудников" in out and "152-ФЗ" in out
    assert "Отменить удаление нельзя." in out
    [kept] = sorted((district_dir / "removed").iterdir())
    assert f"Последняя копия школы сохранена: {kept}. В ней персональные данные" in out
    assert "Школа «Школа № 2 «Бета»» (beta) удалена из района, её данные уничтожены." in out
    assert "увидит выбор школы" in out
    # Encrypted with the passphrase, private, outside the school's folder, which is gone.
    assert kept.name.startswith("beta-schoolbot-") and is_encrypted(kept)
    assert kept.stat().st_mode & 0o777 == 0o600
    assert not school_folder(district_dir, "beta").exists()
    assert not await store_exists("beta")
    # Out of the registry, and nobody's choice any more; alpha untouched.
    assert await registry_view() == (["alpha"], None)
    assert await people(tmp_path, "alpha") == len(ROSTER_ROWS) - 1
    assert not [p for p in (district_dir / "schools").iterdir() if p.name.startswith(".")]

    # The final backup brings the school back: added again, restored from it.
    await add_schools(district_settings(tmp_path), tmp_path, {"beta": "Школа № 2 «Бета»"})
    assert await people(tmp_path, "beta") == 0
    code, out, err = await run(capsys, "district", "restore", "beta", str(kept))
    assert code == 0, err
    assert await people(tmp_path, "beta") == len(ROSTER_ROWS) - 1


async def test_refusals_change_nothing(
    tmp_path: Path, district_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_district(tmp_path, capsys)

    async def unchanged() -> None:
        assert await registry_view() == (["alpha", "beta"], "beta")
        assert await store_exists("beta") and await people(tmp_path, "beta") == len(ROSTER_ROWS) - 1
        assert not (district_dir / "removed").exists()

    # An unknown key, named with the keys there are.
    code, _, err = await run(capsys, "district", "remove-school", "gamma", "--yes")
    assert code == 2 and "Школы с ключом «gamma» в районе нет. Есть: alpha, beta." in err
    # Another key typed at the prompt, and no terminal to ask on: cancelled.
    for answer in ("alpha", None):
        answering(monkeypatch, answer)
        code, out, err = await run(capsys, "district", "remove-school", "beta")
        assert code == 1 and "Удаление отменено, ничего не изменено." in err
        assert "152-ФЗ" in out
    await unchanged()
    # A worker serving the school: on SQLite it holds the school's lock, on PostgreSQL it is connected.
    if load_settings().database_url is None:
        with DatabaseLock(school_store_path(district_dir, "beta"), "run"):
            code, _, err = await run(capsys, "district", "remove-school", "beta", "--yes")
        assert code == 3 and "уже занята другим процессом schoolbot" in err
    else:
        async with built_district(district_settings(tmp_path)):
            code, _, err = await run(capsys, "district", "remove-school", "beta", "--yes")
        assert code == 2 and "подключены работающие процессы schoolbot" in err and "Ничего не изменено" in err
    await unchanged()


async def test_without_a_backup_nothing_of_the_school_is_kept(
    tmp_path: Path, district_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await a_district(tmp_path, capsys)
    code, out, err = await run(capsys, "district", "remove-school", "beta", "--yes", "--no-backup")
    assert code == 0, err
    assert "Последняя копия не будет сделана (--no-backup): данные школы будут уничтожены безвозвратно." in out
    assert "сохранена" not in out
    assert not (district_dir / "removed").exists() and not school_folder(district_dir, "beta").exists()
    assert await registry_view() == (["alpha"], None) and not await store_exists("beta")


async def test_a_school_whose_store_cannot_be_backed_up_is_removed_only_without_a_backup(
    tmp_path: Path, district_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await a_district(tmp_path, capsys)
    # Beta's store damaged: on SQLite its file is no database, on PostgreSQL its schema says a version
    # newer than this program.
    settings = load_settings()
    if settings.database_url is None:
        school_store_path(district_dir, "beta").write_bytes(b"not a database at all" * 100)
    else:
        target = pg_backup.PgTarget.from_url(settings.database_url.get_secret_value())
        await asyncio.to_thread(pg_backup.psql, target, "UPDATE school_beta.schema_version SET version = 999999",
                                what="psql")
    code, _, err = await run(capsys, "district", "remove-school", "beta", "--yes")
    assert code == 2, err
    assert "Последняя копия школы «beta» не сделана, школа не удалена, ничего не изменено: " in err
    assert "повторите с --no-backup" in err
    assert await registry_view() == (["alpha", "beta"], "beta") and await store_exists("beta")
    assert not (district_dir / "removed").exists()

    code, _, err = await run(capsys, "district", "remove-school", "beta", "--yes", "--no-backup")
    assert code == 0, err
    assert await registry_view() == (["alpha"], None) and not await store_exists("beta")


@pytest.fixture
async def district_tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token="6999:DISTRICT", bot_username="district_bot") as fake:
        fake.webhooks.allow_http = True
        yield fake


async def test_who_chose_a_removed_school_gets_the_picker(
    tmp_path: Path, district_dir: Path, capsys: pytest.CaptureFixture[str], district_tg: FakeTelegram
) -> None:
    await add_schools(district_settings(tmp_path), tmp_path, {
        "alpha": "Школа № 1 «Альфа»", "beta": "Школа № 2 «Бета»", "gamma": "Школа № 3 «Гамма»",
    })
    port = free_port()
    settings = district_settings(
        tmp_path, bot_token=district_tg.token, bot_api_url=district_tg.base_url,
        webhook_url=f"http://127.0.0.1:{port}/hook", webhook_port=port, webhook_secret=WEBHOOK_SECRET,
    )  # fmt: skip
    elena = district_tg.user(PARENT_TWO, "Елена", "Иванова", phone="+79000000005")

    async def served(then: Callable[[District], Awaitable[None]]) -> None:
        async with built_district(settings) as district:
            multibot = build_district_bots(district)
            task = asyncio.create_task(serve_multibot(multibot, handle_signals=False))
            try:
                for _ in range(1000):
                    started = all(a.sender is not None for a in district.schools.values())
                    if task.done() or (started and any(r.method == "getWebhookInfo" for r in district_tg.requests)):
                        break
                    await asyncio.sleep(0.01)
                assert not task.done(), task
                await then(district)
            finally:
                multibot.stop.set()
                await asyncio.wait_for(task, timeout=15)

    async def known_in_two_then_choose_beta(district: District) -> None:
        # Known in alpha and gamma (each joined by its link, the contact shared), then beta chosen by its
        # link: beta answers, and the choice is kept in the registry.
        for key in ("alpha", "gamma"):
            app = district.schools[key]
            assert (await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())).ok
            mark = len(district_tg.sent(PARENT_TWO))
            await elena.send(f"/start {key}")
            ask = await district_tg.wait_for(PARENT_TWO, lambda m: ASK in (m.plain or ""), after=mark)
            await elena.press_reply(ask, "📱 Поделиться номером телефона")
            await district_tg.wait_for(PARENT_TWO, lambda m: "Ваши роли" in (m.plain or ""), after=mark)
        mark = len(district_tg.sent(PARENT_TWO))
        await elena.send("/start beta")
        answer = await district_tg.wait_for(PARENT_TWO, lambda m: "Бета" in (m.plain or ""), after=mark)
        assert (answer.plain or "").startswith("🏫 Школа № 2 «Бета»")
        assert await district.choices.chosen(Channel.TELEGRAM, PARENT_TWO) == "beta"

    await served(known_in_two_then_choose_beta)
    code, _, err = await run(capsys, "district", "remove-school", "beta", "--yes", "--no-backup")
    assert code == 0, err
    mark = len(district_tg.sent(PARENT_TWO))

    async def next_message(district: District) -> None:
        assert await district.choices.chosen(Channel.TELEGRAM, PARENT_TWO) is None
        await elena.send("/start")
        pick = await district_tg.wait_for(PARENT_TWO, lambda m: "Выберите школу" in (m.plain or ""), after=mark)
        assert "Альфа" in str(pick.reply_markup) and "Гамма" in str(pick.reply_markup)
        assert "Бета" not in str(pick.reply_markup)

    await served(next_message)
