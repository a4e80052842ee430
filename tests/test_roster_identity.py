"""A pupil's identity does not depend on their class; ambiguous pupils are asked, never guessed; an
import never locks the school out or drops staff without an explicit confirmation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels import Channel
from bot.cli import main as cli_main
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.services.roster import parse_roster
from storage.year import YearRepo
from tests.codes_helpers import load_school
from tests.consent_helpers import buttons, last_with_buttons, texts
from tests.harness import IT_OFFICER, PARENT_TWO, ROSTER_ROWS, Harness, csv_bytes, roster_csv


def _rows(*, drop: tuple[str, ...] = (), cls: dict[str, str] | None = None) -> list[list[str]]:
    """The harness roster without the people whose name starts with `drop`, classes changed by `cls`."""
    rows = [list(r) for r in ROSTER_ROWS if not r[0].startswith(drop or ("\0",))]
    for r in rows:
        if cls and r[0] in cls:
            r[2] = cls[r[0]]
    return rows


def _cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
    db: str = "db.sqlite3",
) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / db))
    monkeypatch.setenv("SCHOOL_CONFIG", str(EXAMPLE_SCHOOL_CONFIG))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_pupil_moved_to_another_class_is_the_same_person(harness: Harness) -> None:
    h = harness
    await load_school(h.app)  # the roster and everyone's invitation codes
    await h.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    await h.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    parent = await h.app.people.by_account(Channel.TELEGRAM, PARENT_TWO)
    assert parent is not None
    misha = next(c for c in await h.app.people.children(parent.id) if c.full_name.startswith("Иванов Миша"))
    version = await h.app.services.consent.current()
    await h.app.services.consent.open_document(parent, misha, "ru")  # the agree button appears only after this
    await h.app.services.consent.decide(
        parent=parent, child_ids=[misha.id], decision="given", version=version.number,
        channel=Channel.TELEGRAM, user_id=PARENT_TWO, update_id=None, callback_id="cb-move",
    )

    # Миша moves 5А -> 5Б; Смирнов's parent row still says "(5А)": it follows the move.
    rows = _rows(cls={"Иванов Миша Андреевич": "5Б", "Смирнов Коля Олегович": "5Б"})
    await h.document(IT_OFFICER, csv_bytes(rows), "roster.csv")
    calls = await h.press(IT_OFFICER, "imp:roster:0")
    preview = texts(calls)[-1]
    assert "Иванов Миша Андреевич: переведён 5А → 5Б" in preview
    assert "Смирнов Коля Олегович: переведён 5А → 5Б" in preview
    assert "добавлено: 0" in preview and "выбыли: 0" in preview
    calls = await h.press(IT_OFFICER, buttons(last_with_buttons(calls))["✅ Применить"])
    assert "Импорт выполнен" in texts(calls)[-1]

    moved = await h.app.people.get(misha.id)
    assert moved is not None and moved.active and moved.class_label == "5Б"
    assert {c.id for c in await h.app.people.children(parent.id)} >= {misha.id}
    assert await h.app.services.consent_gate.is_covered(h.app.db.conn, misha.id)
    assert await h.app.people.count_active() == len(ROSTER_ROWS) - 1  # nobody lost, nobody added
    # The codes stay theirs and follow the class (print sheets and QR cards read it).
    code_classes = {
        str(r[0]): r[1] for r in await h.app.db.fetchall(
            "SELECT p.full_name, c.class_label FROM codes c JOIN persons p ON p.id = c.person_id"
            " WHERE c.status = 'active'"
        )
    }
    assert code_classes["Иванов Миша Андреевич"] == "5Б" and code_classes["Иванова Маша Андреевна"] == "6Б"
    assert code_classes["Иванова Елена Викторовна"] == "5Б" and code_classes["Смирнов Олег Павлович"] == "5Б"
    moves = await YearRepo(h.app.db).class_moves(misha.id)
    assert [(m.from_class, m.to_class, m.reason) for m in moves] == [("5А", "5Б", "import")]
    # Importing the same file again changes nothing.
    again = await h.app.services.roster_import.import_roster(csv_bytes(rows), "r.csv", now=h.clock.now())
    assert (again.added, again.moved, again.updated, again.deactivated) == ([], [], [], [])


TWINS = [
    *ROSTER_ROWS,
    ["Петров Ваня Ильич", "ученик", "5А", "", ""],
    ["Петров Ваня Ильич", "ученик", "6Б", "", ""],
]


def test_cli_refuses_ambiguous_pupils_and_a_previous_class_column_settles_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.csv").write_bytes(csv_bytes(TWINS))
    assert _cli(tmp_path, monkeypatch, capsys, "import", "roster", "r.csv")[0] == 0
    moved = [list(r) for r in TWINS]
    moved[-2][2], moved[-1][2] = "6А", "7Б"
    (tmp_path / "moved.csv").write_bytes(csv_bytes(moved))
    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "import", "roster", "moved.csv")
    assert code == 1
    assert "Строка 11: в составе несколько обучающихся «Петров Ваня Ильич» (классы 5А, 6Б)" in out
    assert "Строка 12:" in out and "Прежний класс" in out and "Ничего не записано" in out

    with_previous = [[*r, "Прежний класс" if i == 0 else ""] for i, r in enumerate(moved)]
    with_previous[-2][-1], with_previous[-1][-1] = "5А", "6Б"
    (tmp_path / "prev.csv").write_bytes(csv_bytes(with_previous))
    code, out, err = _cli(tmp_path, monkeypatch, capsys, "import", "roster", "prev.csv")
    assert code == 0, out + err
    assert "Петров Ваня Ильич: переведён 5А → 6А" in out and "Петров Ваня Ильич: переведён 6Б → 7Б" in out


async def test_the_bot_asks_which_pupil_is_meant(harness: Harness) -> None:
    h = harness
    assert (await h.app.services.roster_import.import_roster(csv_bytes(TWINS), "r.csv", now=h.clock.now())).ok
    await h.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    ids = {p.class_label: p.id for p in await h.app.people.active() if p.full_name == "Петров Ваня Ильич"}
    moved = [list(r) for r in TWINS]
    moved[-2][2], moved[-1][2] = "6А", "7Б"
    await h.document(IT_OFFICER, csv_bytes(moved), "roster.csv")
    calls = await h.press(IT_OFFICER, "imp:roster:0")
    ask = last_with_buttons(calls)
    assert "Кто из них «Петров Ваня Ильич» (6А)" in texts(calls)[-1]
    assert set(buttons(ask)) == {"Петров Ваня Ильич, был в 5А", "Петров Ваня Ильич, был в 6Б", "Новый обучающийся",
                                 "Отмена"}
    # Once the first is answered, the second has one pupil left it can be: no second question.
    calls = await h.press(IT_OFFICER, buttons(ask)["Петров Ваня Ильич, был в 5А"])
    preview = texts(calls)[-1]
    assert "переведён 5А → 6А" in preview and "переведён 6Б → 7Б" in preview
    await h.press(IT_OFFICER, buttons(last_with_buttons(calls))["✅ Применить"])
    after = {p.id: p.class_label for p in await h.app.people.active() if p.full_name == "Петров Ваня Ильич"}
    assert after == {ids["5А"]: "6А", ids["6Б"]: "7Б"}


async def test_the_importing_it_officer_is_kept_and_staff_leave_only_when_confirmed(harness: Harness) -> None:
    h = harness
    assert (await h.app.services.roster_import.import_roster(roster_csv(), "r.csv", now=h.clock.now())).ok
    await h.contact(IT_OFFICER, "+79000000001", IT_OFFICER)
    before = await h.app.people.count_active()
    # The file forgets the IT officer himself and the director.
    await h.document(IT_OFFICER, csv_bytes(_rows(drop=("Петров Пётр", "Сидорова"))), "roster.csv")
    calls = await h.press(IT_OFFICER, "imp:roster:0")
    preview = texts(calls)[-1]
    assert "Сидорова Анна Ивановна (сотрудник)" in preview
    assert "Петров Пётр Петрович" in preview.split("Остаются")[1]  # kept, not leaving
    assert "Ничего не записано" in preview
    assert set(buttons(last_with_buttons(calls))) == {"⚠️ Подтвердить выбытие", "Отмена"}
    assert await h.app.people.count_active() == before
    # A forged plain "apply" (without the confirmation) still writes nothing.
    calls = await h.press(IT_OFFICER, "imp:roster:1")
    assert "Ничего не записано" in texts(calls)[-1] and await h.app.people.count_active() == before
    calls = await h.press(IT_OFFICER, buttons(last_with_buttons(calls))["⚠️ Подтвердить выбытие"])
    assert "Импорт выполнен" in texts(calls)[-1]
    assert await h.app.people.count_active() == before - 1
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None and officer.active  # the importing IT officer never locks himself out


def test_cli_guards_dry_run_and_every_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.csv").write_bytes(roster_csv())
    # A dry run against a new database path lists who would be added and writes no file at all.
    code, out, err = _cli(tmp_path, monkeypatch, capsys, "import", "roster", "r.csv", "--dry-run", db="new.sqlite3")
    assert code == 0, err
    assert "Добавляются:" in out and "Иванов Миша Андреевич" in out
    assert not (tmp_path / "new.sqlite3").exists() and not list(tmp_path.glob("new.sqlite3*"))

    assert _cli(tmp_path, monkeypatch, capsys, "import", "roster", "r.csv")[0] == 0
    # Without the IT officer (the last one) and a teacher: the officer stays, the teacher needs a flag.
    (tmp_path / "less.csv").write_bytes(csv_bytes(_rows(drop=("Петров Пётр", "Морозов"))))
    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "import", "roster", "less.csv", "--dry-run")
    assert code == 1 and "Морозов Игорь Сергеевич (сотрудник)" in out and "--confirm-deactivations" in out
    code, out, _ = _cli(tmp_path, monkeypatch, capsys, "import", "roster", "less.csv")
    assert code == 1 and "Ничего не записано" in out
    code, out, err = _cli(tmp_path, monkeypatch, capsys, "import", "roster", "less.csv", "--confirm-deactivations")
    assert code == 0, out + err
    assert "Импорт выполнен" in out and "Петров Пётр Петрович" in out.split("Остаются")[1]

    # Every error of a row, not only the first.
    bad = [*ROSTER_ROWS, ["Орлова Мария", "родитель", "", "12345", "Нетов Нет Нетович"]]
    _, errors = parse_roster(csv_bytes(bad), "r.csv")
    assert [(e.line, e.code) for e in errors] == [(11, "phone"), (11, "unknown_child")]
