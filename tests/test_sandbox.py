"""The sandbox: demo data, the chat engine driven programmatically, time travel, the script runner."""

from __future__ import annotations

import io
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.channels import Channel
from bot.cli import build_parser
from bot.i18n import Catalog
from bot.modpath import resolve
from bot.paths import ROOT
from bot.sandbox import cmd_sandbox
from bot.sandbox.chat import ChatEngine, parse_line
from bot.sandbox.chat_output import ChatOutput
from bot.sandbox.clock_args import parse_start, parse_time_arg
from bot.sandbox.demo import PEOPLE, PERSONAS, codes_csv, invitation_code, roster_csv
from bot.sandbox.options import SandboxOptions
from bot.sandbox.runner import Sandbox
from bot.sandbox.script import Script, ScriptError, load_script, play, run_script

MSK = ZoneInfo("Europe/Moscow")
START = parse_start("2026-12-01 10:00", MSK)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox.running(SandboxOptions(data_dir=tmp_path / "sb", start=START)) as sb:
        yield sb


def engine_for(sb: Sandbox) -> tuple[ChatEngine, io.StringIO]:
    buffer = io.StringIO()
    return ChatEngine(sb, ChatOutput(buffer)), buffer


def test_parse_line() -> None:
    assert parse_line("/as parent_5a") == parse_line("/AS parent_5a")
    assert parse_line("/as parent_5a").name == "as" and parse_line("/as parent_5a").arg == "parent_5a"
    assert parse_line(" 3 ").name == "press" and parse_line("3").arg == "3"
    assert parse_line("14.2").name == "press" and parse_line("14.2").arg == "14.2"
    assert parse_line("/time +3d").arg == "+3d"
    # Bot commands and text go to the bot; // escapes a sandbox command name.
    assert parse_line("/start").name is None and parse_line("/start").arg == "/start"
    assert parse_line("/consent").name is None
    assert parse_line("Здравствуйте").name is None
    assert parse_line("//help") == parse_line("/say /help")


def test_parse_time_arg() -> None:
    assert (parse_time_arg("+3d", START, MSK) - START).days == 3
    assert (parse_time_arg("+1d12h", START, MSK) - START).total_seconds() == 36 * 3600
    assert parse_time_arg("2027-05-20 09:00", START, MSK).astimezone(MSK).hour == 9
    for bad in ("+", "+3x", "tomorrow", "+0d"):
        with pytest.raises(ValueError, match="time_duration|time_format"):
            parse_time_arg(bad, START, MSK)


def test_demo_school_shape() -> None:
    classes = {p.class_label for p in PEOPLE if "уче" in p.roles}
    assert classes == {"5А", "6Б", "7В"}
    assert 28 <= len(PEOPLE) <= 34
    adults = [p for p in PEOPLE if "уче" not in p.roles]
    assert all(p.phone for p in adults)
    assert len({p.tg_id for p in PEOPLE if p.tg_id}) == len([p for p in PEOPLE if p.tg_id])
    code = invitation_code("Иванов Миша Андреевич", "code")
    assert code.startswith("DNV-") and len(code) == 13 and code == invitation_code("Иванов Миша Андреевич", "code")
    assert roster_csv().decode("cp1251").count("\r\n") == len(PEOPLE) + 1
    assert codes_csv().decode().count("DNV-") == len(PEOPLE)
    assert {p.key for p in PERSONAS} >= {"it_officer", "director", "class_teacher_5a", "teacher", "parent_5a",
                                          "parent_one", "pupil", "stranger"}


def test_shipped_roster_update_is_the_demo_roster_plus_two() -> None:

    update = (ROOT / "sandbox" / "scripts" / "files" / "roster-update.csv").read_bytes()
    assert update.startswith(roster_csv())
    assert update[len(roster_csv()):].decode("cp1251").count("\r\n") == 2


def test_cli_registers_sandbox_with_its_own_entry() -> None:
    args = build_parser().parse_args(["sandbox", "--start", "2026-12-01 10:00", "--data-dir", "x"])
    # Named by module path (bot/cli_specs.py): parsing the command line loads no sandbox.
    assert resolve(args.entry) is cmd_sandbox and not hasattr(args, "run")


async def test_sandbox_starts_with_demo_school_and_prelinked_staff(sandbox: Sandbox) -> None:
    assert "roster" in sandbox.demo_report.loaded
    assert await sandbox.app.people.count_active() == len(PEOPLE)
    it = await sandbox.app.people.by_account(Channel.TELEGRAM, sandbox.persona("it_officer").person.tg_id or 0)
    assert it is not None and it.full_name == "Петров Пётр Петрович" and it.is_admin
    pupil = await sandbox.app.people.by_account(Channel.TELEGRAM, sandbox.persona("pupil").person.tg_id or 0)
    assert pupil is not None and "student" in pupil.roles
    assert await sandbox.app.people.by_account(Channel.TELEGRAM, sandbox.persona("parent_5a").person.tg_id or 0) is None
    assert sandbox.unread_counts() == {}  # the prelinking chatter counts as read


async def test_chat_engine_parent_links_with_numbered_buttons(sandbox: Sandbox) -> None:
    engine, out = engine_for(sandbox)
    await engine.handle("/as")
    assert "parent_5a" in out.getvalue()
    await engine.handle("hello")
    assert "Сначала выберите, кем вы будете" in out.getvalue()

    await engine.handle("/as 6")  # the numbered list: parent_5a is sixth
    assert engine.current is sandbox.persona("parent_5a").person
    await engine.handle("/start")
    buttons = engine.buttons()
    assert [(b.index, b.kind) for b in buttons] == [(1, "reply")]
    # A button is labelled by its message (the "#N" of the header) and its place in it.
    assert f"[{buttons[0].message_no}.1] 📱 Поделиться номером телефона" in out.getvalue()

    await engine.handle("1")  # one message has buttons: a bare number presses; this one shares the contact
    assert "Иванова Елена Викторовна" in out.getvalue()
    by_text = {b.text: b for b in engine.buttons()}
    assert "📝 Согласие" in by_text and "🔑 Мои коды" in by_text
    await engine.handle(by_text["📝 Согласие"].label)
    inline = [b for b in engine.buttons() if b.kind == "inline"]
    assert inline and inline[0].index == 1  # inline buttons come first, then the menu keyboard
    assert engine.buttons()[-1].kind == "reply"

    await engine.handle("/press 99.1")
    assert "Кнопки «99.1» нет" in out.getvalue()


async def test_chat_engine_edits_files_unread_and_time(sandbox: Sandbox, tmp_path: Path) -> None:
    engine, out = engine_for(sandbox)
    await engine.handle("/as parent_5a")
    await engine.handle("/contact")
    await engine.handle("/consent")
    for child in ("Миша", "Маша"):  # the agree buttons appear once each document was opened
        read = next(b for b in engine.buttons() if b.text == f"📄 Прочитать документ: {child}")
        await engine.handle(f"/press {read.label}")
    all_yes = next(b for b in engine.buttons() if "за всех детей" in b.text and "✅" in b.text)
    await engine.handle(f"/press {all_yes.label}")
    text = out.getvalue()
    assert "(изменено)" in text and "согласие дано" in text
    saved = list((sandbox.files_dir / "parent_5a").glob("*.png"))
    assert saved and "фото сохранено:" in text  # QR cards are saved and their paths printed
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in saved)  # a card carries a code

    await engine.handle("/as it_officer")
    roster = tmp_path / "roster.csv"
    roster.write_bytes(roster_csv())
    await engine.handle(f"/file {roster}")
    assert "Что в нём" in out.getvalue()

    # A file the bot draws (the report: several sheets) arrives before the prompt comes back.
    mark = len(out.getvalue())
    await engine.handle("/report")
    assert "(ответа нет)" not in out.getvalue()[mark:] and "report-" in out.getvalue()[mark:]

    await engine.handle("/time +3d")
    text = out.getvalue()
    assert "Сейчас 2026-12-04 10:00 пт" in text and "Для teacher:" in text
    await engine.handle("/unread")
    assert "teacher" in out.getvalue().split("Непрочитанные сообщения:")[-1]
    await engine.handle("/time 2026-12-01 09:00")
    assert "время идёт только вперёд" in out.getvalue()
    await engine.handle("/who")
    assert "Время школы: 2026-12-04 10:00" in out.getvalue()
    assert await engine.handle("/quit") is False


async def test_time_travel_ticks_within_allowed_hours(sandbox: Sandbox) -> None:
    start = sandbox.clock.now()
    moments = sandbox.tick_times(start, parse_time_arg("+2d", start, MSK))
    hours = {m.astimezone(MSK).hour for m in moments}
    # Quiet hours are skipped, except one tick in the nightly backup window (02:30).
    assert 9 in hours and 15 in hours and 3 not in hours and 2 in hours
    long = sandbox.tick_times(start, parse_time_arg("2027-05-20 09:00", start, MSK))
    assert len(long) < 4 * 175 + 2


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(body, encoding="utf-8")
    return path


async def test_script_runner_passes_and_fails_with_a_diff(sandbox: Sandbox, tmp_path: Path) -> None:
    good = load_script(_script(tmp_path, """
[[steps]]
as = "parent_one"
send = "/start"
expect = "поделитесь своим номером"
[[steps]]
press = "📱 Поделиться номером телефона"
expect = "Смирнов Олег Павлович"
"""))
    result = await play(sandbox, good)
    assert result.ok and result.summary() == "Сценарий «s» пройден, шагов: 2."

    step = {"as": "parent_one", "send": "/menu", "expect": "Этого текста нет", "timeout": 0.5}
    bad = Script("wrong", good.path, [step])
    result = await play(sandbox, bad)
    assert not result.ok
    summary = result.summary()
    assert summary.startswith("Сценарий «wrong» не пройден: ошибка на шаге 1 из 1.")
    assert "- новое сообщение с текстом «Этого текста нет»" in summary
    assert "+ #" in summary and "Главное меню" in summary  # what the chat actually got

    missing = Script("btn", good.path, [{"as": "parent_one", "press": "Нет такой кнопки"}])
    result = await play(sandbox, missing)
    assert not result.ok and "кнопки сейчас" in (result.failure or "")


def test_script_validation(tmp_path: Path) -> None:
    t = Catalog.load().bind("ru")
    with pytest.raises(ScriptError, match="unknown_keys") as caught:
        load_script(_script(tmp_path, '[[steps]]\nas = "parent_5a"\nsned = "/start"\n'))
    assert "шаг 1: неизвестные ключи: sned" in caught.value.text(t)
    with pytest.raises(ScriptError, match="unknown_persona") as caught:
        load_script(_script(tmp_path, '[[steps]]\nas = "nobody"\n'))
    assert "человека «nobody» нет в учебной школе" in caught.value.text(t)
    with pytest.raises(ScriptError, match="one_action") as caught:
        load_script(_script(tmp_path, '[[steps]]\nas = "pupil"\nsend = "/start"\ncontact = true\n'))
    assert "одно действие" in caught.value.text(t)


async def test_cli_script_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:

    path = _script(tmp_path, 'start = "2026-12-01 10:00"\n[[steps]]\nas = "stranger"\nsend = "/start"\n'
                             'expect = "Совсем другой ответ"\ntimeout = 0.3\n')
    args = build_parser().parse_args(["sandbox", "--script", str(path), "--data-dir", str(tmp_path / "d")])
    assert await cmd_sandbox(args) == 1
    err = capsys.readouterr().err
    assert "ошибка на шаге 1" in err and "--- ожидалось (stranger" in err
    result = await run_script(path, SandboxOptions(data_dir=tmp_path / "d2"))
    assert not result.ok


async def test_a_late_message_never_changes_what_a_button_label_presses(sandbox: Sandbox,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    engine, out = engine_for(sandbox)
    await engine.handle("/as parent_5a")
    await engine.handle("/contact")
    await engine.handle("/consent")
    read = next(b for b in engine.buttons() if b.text == "📄 Прочитать документ: Миша")
    assert f"[{read.label}] {read.text}" in out.getvalue()
    # A later message with the same buttons arrives (the parent asked again from their phone) and
    # becomes the latest one; before, "1" and the numbers shown for the first screen moved to it.
    parent = sandbox.persona("parent_5a").person
    user = sandbox.played(parent)
    await sandbox.act(user, user.send("/consent"))
    await engine.handle("/read")
    late = next(b for b in engine.buttons() if b.text == read.text)
    assert late.message_no > read.message_no and late.label != read.label
    assert f"[{late.label}] {late.text}" in out.getvalue()

    # A plain number names no message: refused now that two messages have buttons, not guessed.
    mark = len(out.getvalue())
    await engine.handle(str(read.index))
    assert "Кнопки есть у нескольких сообщений" in out.getvalue()[mark:]

    # The label shown on the first screen still presses the first screen's button: the callback
    # query the bot receives comes from that message.
    pressed_on: list[int] = []
    push = sandbox.tg.push_update

    def record(update: dict[str, Any]) -> int:
        if "callback_query" in update:
            pressed_on.append(update["callback_query"]["message"]["message_id"])
        return push(update)

    monkeypatch.setattr(sandbox.tg, "push_update", record)
    await engine.handle(read.label)
    assert pressed_on == [read.message_no]
    assert "(нажато: 📄 Прочитать документ: Миша)" in out.getvalue()


_RUSSIAN_SCREENS = ("Команды песочницы", "Сначала выберите, кем вы будете", "Люди учебной школы", "непрочитано",
                    "Теперь вы — parent_one (Смирнов Олег Павлович).", "(кнопок нет)", "(ничего нового)",
                    "(ответа нет)", "Сейчас 2026-12-01 11:00 вт", "Время школы: 2026-12-01 11:00 вт",
                    "время идёт только вперёд", "Кнопки «7.7» нет", "без MAX", "Не удалось прочитать",
                    "Не понимаю время «+3x»")
_ENGLISH_SCREENS = ("Sandbox commands", "Choose who you are first", "Demo people", "unread",
                    "You are now parent_one (Смирнов Олег Павлович).", "(no buttons)", "(nothing new)", "(no reply)",
                    "Now 2026-12-01 11:00 Tue", "School time: 2026-12-01 11:00 Tue",
                    "Time only moves forward", "No button '7.7'", "without MAX", "Cannot read",
                    "Cannot read the time '+3x'")


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_the_sandbox_speaks_russian_by_default_and_english_with_lang_en(tmp_path: Path, lang: str) -> None:
    argv = ["sandbox", "--data-dir", str(tmp_path / "sb")] + (["--lang", "en"] if lang == "en" else [])
    args = build_parser().parse_args(argv)
    options = SandboxOptions(data_dir=args.data_dir, start=START, lang=args.lang)
    async with Sandbox.running(options) as sb:
        engine, out = engine_for(sb)
        for line in ("/help", "hello", "/as", "/as parent_one", "/buttons", "/read", "/time +1h", "/who",
                     "/time 2020-01-01 10:00", "/time +3x", "/press 7.7", "/wire max", f"/file {tmp_path}/none.csv"):
            await engine.handle(line)
        engine.after_action()  # nothing came: the "(no reply)" line
        text = out.getvalue()
        prompt = engine.prompt()
    wanted, foreign = (_RUSSIAN_SCREENS, _ENGLISH_SCREENS) if lang == "ru" else (_ENGLISH_SCREENS, _RUSSIAN_SCREENS)
    assert [w for w in wanted if w not in text] == []
    assert [w for w in foreign if w in text and w not in ("unread",)] == []
    assert prompt.endswith("вт] > " if lang == "ru" else "Tue] > ")
