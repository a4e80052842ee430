"""A new school year: `schoolbot new-year` and the IT officer's button promote every class, retire the
leaving grade, move the calendar and the plan, carry consents, and do nothing the second time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.channels import Channel
from bot.cli import main as cli_main
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.services.imports import ImportOptions
from bot.services.school_year import Mapping, YearError, parse_mapping, render_report
from bot.tg.callbacks import YearConfirm
from storage.tasks import TaskRepo
from storage.year import YearRepo
from tests.codes_helpers import codes_csv
from tests.consent_helpers import answer, buttons, last_with_buttons, texts
from tests.harness import IT_OFFICER, PARENT_ONE, ROSTER_ROWS, Harness, csv_bytes, handler_harness

# The harness school plus an 11th-grader (the leaving grade), their parent, and the 11А class teacher.
YEAR_ROWS: list[list[str]] = [
    *ROSTER_ROWS,
    ["Выпускников Гриша Ильич", "ученик", "11А", "", ""],
    ["Выпускникова Вера Петровна", "родитель", "", "+79000000017", "Выпускников Гриша Ильич (11А)"],
    ["Старшова Нина Львовна", "классный руководитель", "11А", "+79000000018", ""],
]


def year_csv() -> bytes:
    return csv_bytes(YEAR_ROWS)


def _cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """`schoolbot ARGS` in this process (a subprocess costs seconds of imports on a busy machine)."""
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_new_year_dry_run_lists_every_change_then_applies_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "roster.csv").write_bytes(year_csv())
    assert _cli(tmp_path, monkeypatch, capsys, "import", "roster", "roster.csv")[0] == 0

    code, out, err = _cli(tmp_path, monkeypatch, capsys, "new-year", "2027")
    assert code == 0, err
    assert "предварительный просмотр" in out
    assert "Иванов Миша Андреевич: переведён 5А → 6А" in out
    assert "Иванова Маша Андреевна: переведена 6Б → 7Б" in out
    assert "Выпускников Гриша Ильич: выпуск из 11А" in out
    assert "Выпускникова Вера Петровна: родитель выпускника" in out
    assert "Кузнецова Ольга Николаевна: классный руководитель 5А → 6А" in out
    assert "Старшова Нина Львовна: класс 11А выпущен" in out
    assert "1 четверть: 01.09.2027 – 24.10.2027" in out
    assert "пункт 16 плана: срок 24.10.2026 → 24.10.2027" in out
    assert "пункт 19 плана: срок 31.05.2027 → 31.05.2028" in out
    assert "Ничего не записано" in out

    assert _cli(tmp_path, monkeypatch, capsys, "new-year", "2027", "--dry-run")[1] == out  # nothing written

    code, out, err = _cli(tmp_path, monkeypatch, capsys, "new-year", "2027", "--apply")
    assert code == 0, err
    assert "выполнен" in out and "Иванов Миша Андреевич: переведён 5А → 6А" in out

    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "new-year", "2027", "--apply")
    assert code == 0 and "уже наступил: ничего не изменено" in out

    code, _, err = _cli(tmp_path, monkeypatch, capsys, "new-year", "2029")
    assert code == 1 and "следующий — 2028" in err

    (tmp_path / "map.toml").write_text('[classes]\n"6А" = "шестой"\n', encoding="utf-8")
    code, _, err = _cli(tmp_path, monkeypatch, capsys, "new-year", "2028", "--mapping", "map.toml")
    assert code == 1 and "неизвестный класс «шестой»" in err


async def test_promotion_keeps_the_same_person_and_moves_the_calendar(tmp_path: Path) -> None:
    async with handler_harness(tmp_path) as h:
        assert (await h.app.services.roster_import.import_roster(year_csv(), "r.csv", now=h.clock.now())).ok
        outcome = await h.app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
        assert outcome.ok and outcome.applied, outcome.errors
        await h.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
        parent = await h.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
        assert parent is not None
        child = (await h.app.people.children(parent.id))[0]
        version = await h.app.services.consent.current()
        await h.app.services.consent.open_document(parent, child, "ru")
        await h.app.services.consent.decide(
            parent=parent, child_ids=[child.id], decision="given", version=version.number,
            channel=Channel.TELEGRAM, user_id=PARENT_ONE, update_id=None, callback_id="cb-1",
        )
        assert await h.app.services.consent_gate.is_covered(h.app.db.conn, child.id)
        before = await h.app.people.count_active()

        report = await h.app.services.school_year.new_year(2027, dry_run=False)
        assert report.applied and report.count("promoted") == 3 and report.count("graduated") == 1

        moved = await h.app.people.get(child.id)
        assert moved is not None and moved.active and moved.class_label == "6А"
        # A family with children in 5А and 6Б: each code moves exactly one grade.
        code_classes = {
            str(r[0]): r[1] for r in await h.app.db.fetchall(
                "SELECT p.full_name, c.class_label FROM codes c JOIN persons p ON p.id = c.person_id"
                " WHERE c.status = 'active'"
            )
        }
        assert code_classes["Иванов Миша Андреевич"] == "6А" and code_classes["Иванова Маша Андреевна"] == "7Б"
        assert code_classes["Иванова Елена Викторовна"] == "6А"
        assert await h.app.services.consent_gate.is_covered(h.app.db.conn, child.id)  # the consent is still theirs
        again = await h.app.people.by_account(Channel.TELEGRAM, PARENT_ONE)
        assert again is not None and again.id == parent.id
        assert [c.id for c in await h.app.people.children(parent.id)] == [child.id]
        # The graduate and their only-parent leave; nobody else is lost.
        assert await h.app.people.count_active() == before - 2
        assert [m.reason for m in await YearRepo(h.app.db).class_moves(child.id)] == ["promotion"]

        assert h.app.school.school_year.year == 2027
        assert h.app.school.school_year.quarters[0].start == date(2027, 9, 1)
        assert date(2027, 11, 4) in h.app.school.hours.holidays
        assert await TaskRepo(h.app.db).plan_year() == 2027

        # A re-import of the promoted roster (pupils listed in their new classes) changes nobody.
        # The graduate and their parent are gone; the released 11А class teacher takes a new 5В.
        classes = {"5А": "6А", "5A": "6А", "6Б": "7Б", "11А": "5В"}
        promoted_rows = [
            [r[0], r[1], classes.get(r[2], r[2]), r[3], r[4].replace("(5А)", "(6А)")]
            for r in YEAR_ROWS if not r[0].startswith("Выпускник")
        ]
        reimport = await h.app.services.roster_import.import_roster(
            csv_bytes(promoted_rows), "r.csv", now=h.clock.now(), dry_run=True)
        assert reimport.ok, reimport.errors
        assert reimport.added == [] and reimport.deactivated == []
        assert reimport.updated == ["Старшова Нина Львовна"]

        assert (await h.app.services.school_year.new_year(2027, dry_run=False)).already

    # The new year survives a restart: the override is in the database, school.toml is untouched.
    async with handler_harness(tmp_path) as h2:
        assert h2.app.school.school_year.year == 2027
        assert h2.app.school.school_year.quarters[3].end == date(2028, 5, 26)


async def test_mapping_merges_classes_and_a_bad_mapping_names_the_field(tmp_path: Path) -> None:
    mapping = parse_mapping('[classes]\n"5А" = "6Б"\n"6Б" = "выпуск"\n', 2027)
    assert mapping.classes == {"5А": "6Б", "6Б": None}
    with pytest.raises(YearError) as bad:
        parse_mapping('[classes]\n"5А" = "шестой"\n', 2027)
    assert bad.value.code == "mapping_class" and bad.value.params["value"] == "шестой"
    with pytest.raises(YearError) as cal:
        parse_mapping("[school_year]\nquarters = [{ start = 2027-09-01, end = 2027-10-01 }]\n", 2027)
    assert cal.value.code == "mapping_calendar"
    async with handler_harness(tmp_path) as h:
        assert (await h.app.services.roster_import.import_roster(year_csv(), "r.csv", now=h.clock.now())).ok
        report = await h.app.services.school_year.new_year(2027, mapping=mapping)
        text = render_report(report, h.app.catalog.bind("ru"))
        assert "Иванов Миша Андреевич: переведён 5А → 6Б" in text
        assert "Иванова Маша Андреевна: выпуск из 6Б" in text
        with pytest.raises(YearError) as unknown:
            await h.app.services.school_year.new_year(2027, mapping=Mapping(classes={"8В": "9В"}))
        assert unknown.value.code == "mapping_unknown_class"


async def test_consent_for_one_school_year_is_asked_again(tmp_path: Path) -> None:
    async with handler_harness(tmp_path) as h:
        h.app.school.consent.term = "school_year"
        assert (await h.app.services.roster_import.import_roster(year_csv(), "r.csv", now=h.clock.now())).ok
        version = await h.app.services.consent.current()
        report = await h.app.services.school_year.new_year(2027, dry_run=False)
        assert report.count("consent_renew") == 1
        renewed = await h.app.services.consent.current()
        assert renewed.number == version.number + 1 and renewed.sha256 == version.sha256


async def test_the_it_officer_moves_the_year_in_the_bot_after_a_preview(harness: Harness) -> None:
    h = harness
    assert (await h.app.services.roster_import.import_roster(year_csv(), "r.csv", now=h.clock.now())).ok
    await h.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    await h.contact(PARENT_ONE, "+79000000006", PARENT_ONE)
    menu = await h.text(IT_OFFICER, "/admin")
    assert "🎓 Новый учебный год" in buttons(last_with_buttons(menu))

    # A parent pressing the button (or a forged confirm) changes nothing.
    await h.press(PARENT_ONE, "adm:new_year")
    await h.press(PARENT_ONE, YearConfirm(year=2027).pack())
    assert h.app.school.school_year.year == 2026

    calls = await h.press(IT_OFFICER, buttons(last_with_buttons(menu))["🎓 Новый учебный год"])
    view = texts(calls)[-1]
    assert "2027/2028" in view and "Иванов Миша Андреевич: переведён 5А → 6А" in view
    assert h.app.school.school_year.year == 2026  # a preview only
    assert await h.app.db.fetchval("SELECT count(*) FROM school_years") == 0

    forged = await h.press(IT_OFFICER, YearConfirm(year=2028).pack())
    assert "устарел" in answer(forged).text  # type: ignore[operator]
    calls = await h.press(IT_OFFICER, buttons(last_with_buttons(calls))["✅ Применить переход"])
    done = texts(calls)[-1]
    assert "выполнен" in done and "Выпускников Гриша Ильич: выпуск из 11А" in done
    assert h.app.school.school_year.year == 2027
    by = await h.app.db.fetchval("SELECT applied_by FROM school_years WHERE year = 2027")
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None and by == officer.id

    again = await h.press(IT_OFFICER, YearConfirm(year=2027).pack())  # the same button pressed twice
    assert "устарел" in answer(again).text  # type: ignore[operator]
    assert await h.app.db.fetchval("SELECT count(*) FROM school_years") == 1
