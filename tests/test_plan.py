from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot.domain.plan import DEADLINE_KINDS, Deadline, Plan, PlanItem
from bot.services.plan import PLAN_PATH, ROLE_CODES, PlanError, load_plan, shift_plan

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_5b36a63beb3f57ae.txt"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(PLAN_PATH)


def test_plan_loads_with_all_numbered_items(plan: Plan) -> None:
    assert plan.source_school_year == 2010
    assert plan.title.startswith("План мероприятий по внедрению электронных дневников")
    assert "№ 175" in plan.order
    numbers = [item.number for item in plan.items]
    assert [n for n in numbers if "." not in n] == [str(n) for n in range(1, 20)]
    assert numbers[:4] == ["1", "1.1", "1.2", "1.3"]
    assert len(plan.items) == 22  # 19 items plus the three rows under item 1


def test_every_item_is_well_formed(plan: Plan) -> None:
    for item in plan.items:
        assert item.text.strip()
        assert item.responsible_text.strip()
        assert item.responsible
        assert set(item.responsible) <= set(ROLE_CODES)
        assert item.deadline.kind in DEADLINE_KINDS
        # Cleaned of hyphenation breaks and non-breaking spaces.
        for text in (item.text, item.responsible_text, item.proof, item.deadline.source):
            assert "\xa0" not in text
            assert "  " not in text
            assert not re.search(r"\w-\s*\n", text)
            assert text == text.strip()


def test_concrete_items(plan: Plan) -> None:
    item8 = plan.item("8")
    assert item8.deadline == Deadline("date", date(2011, 5, 31), None, None, "До 31. 05. 2011 г.")
    assert item8.responsible == ("site_admin",)
    assert item8.proof == "http://gtn.lokos.net/bkschool/"
    assert item8.text.endswith("Поместить ссылку «Электронный дневник» на сайте школы.")

    item16 = plan.item("16")
    assert item16.deadline.kind == "each_quarter"
    assert item16.responsible == ("it_officer",)
    assert "не реже 1 раза в четверть" in item16.text

    item15 = plan.item("15")
    assert item15.deadline.kind == "from_date"
    assert item15.deadline.date == date(2011, 2, 1)
    assert set(item15.responsible) == {"class_teacher", "teacher"}

    item3 = plan.item("3")
    assert (item3.deadline.kind, item3.deadline.year, item3.deadline.month) == ("month", 2010, 10)
    assert item3.responsible == ("director",)
    assert item3.proof == "Приказ по ОУ."

    assert plan.item("4").responsible_text == "Ответственный по информатизации."
    assert plan.item("10").responsible_text == "Ответственный по информатизации, кл. руков."
    assert plan.item("10").responsible == ("it_officer", "class_teacher")
    assert plan.item("6").responsible == ("deputy_academic", "methodology_head", "it_officer")
    assert plan.item("1.1").responsible == ("director", "deputy_academic", "it_officer")
    assert plan.item("11").deadline.kind == "month"
    assert (plan.item("11").deadline.year, plan.item("11").deadline.month) == (2011, 1)
    assert plan.item("14").deadline.kind == "per_event"
    assert plan.item("18").deadline.kind == "month"
    assert (plan.item("18").deadline.year, plan.item("18").deadline.month) == (2011, 5)
    item19 = plan.item("19")
    assert (item19.deadline.kind, item19.deadline.month, item19.deadline.year) == ("yearly_month", 5, None)
    assert item19.proof == ""


def test_deadline_kinds_per_item(plan: Plan) -> None:
    kinds = {item.number: item.deadline.kind for item in plan.items}
    assert {n for n, k in kinds.items() if k == "whole_period"} == {"1.1", "1.2", "2", "17"}
    assert {n for n, k in kinds.items() if k == "unset"} == {
        "1", "1.3", "4", "5", "6", "7", "9", "10", "12", "13",
    }  # fmt: skip


@pytest.mark.skipif(not SEED.exists(), reason="seed document not available")
def test_every_text_comes_from_the_seed(plan: Plan) -> None:
    def squash(text: str) -> str:
        text = re.sub(r"-\s*\n\s*", "", text.replace("\xa0", " "))
        return re.sub(r"\s+", "", text)

    seed = squash(SEED.read_text(encoding="utf-8"))
    for item in plan.items:
        for text in (item.text, item.responsible_text, item.proof, item.deadline.source):
            assert squash(text) in seed, (item.number, text)


def test_shift_moves_dates_to_the_running_school_year(plan: Plan) -> None:
    shifted = shift_plan(plan, 2026)
    assert shifted.source_school_year == 2026
    assert shifted.item("8").deadline.date == date(2027, 5, 31)
    assert shifted.item("8").deadline.source == "До 31. 05. 2011 г."  # the signed wording stays
    assert (shifted.item("3").deadline.year, shifted.item("3").deadline.month) == (2026, 10)
    assert (shifted.item("18").deadline.year, shifted.item("18").deadline.month) == (2027, 5)
    assert shifted.item("15").deadline.date == date(2027, 2, 1)
    assert shifted.item("19").deadline == plan.item("19").deadline
    assert shift_plan(plan, 2010) is plan
    assert shift_plan(shifted, 2010) == plan


def test_shift_clamps_29_february() -> None:
    item = PlanItem("1", "t", Deadline("date", date(2012, 2, 29), None, None, "s"), ("director",), "r", "")
    leap = Plan("t", 2011, (item,))
    assert shift_plan(leap, 2012).items[0].deadline.date == date(2013, 2, 28)
    assert shift_plan(leap, 2015).items[0].deadline.date == date(2016, 2, 29)


# --- validation -----------------------------------------------------------------------------------

GOOD_ITEM = """
[[items]]
number = "1"
text = "Первый"
deadline = { kind = "unset", source = "" }
responsible = ["director"]
responsible_text = "Директор ОУ"
proof = ""
"""


def _write(
    tmp_path: Path, second_item: str, header: str = 'title = "T"\nsource_school_year = 2010\n'
) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(header + GOOD_ITEM + "\n[[items]]\n" + second_item, encoding="utf-8")
    return path


def _item(
    number: str = '"2"', deadline: str = '{ kind = "unset", source = "" }', roles: str = '["teacher"]'
) -> str:
    return (
        f'number = {number}\ntext = "Второй"\ndeadline = {deadline}\nresponsible = {roles}\n'
        'responsible_text = "учителя"\nproof = ""\n'
    )


# Each case: the PlanError code (a key of import_errors.plan), the field it names, the line of the
# file it points to (the field's own line, or the item's number line when the field is missing)
# and the parameters the message quotes back.
@pytest.mark.parametrize(
    ("item", "code", "field", "line_text", "params"),
    [
        (_item(roles='["teacher", "janitor"]'), "role_unknown", "responsible", "responsible =",
         {"item": "2", "value": "janitor"}),
        (_item(roles="[]"), "responsible", "responsible", "responsible =", {"item": "2"}),
        (_item(deadline='{ kind = "soon", source = "" }'), "kind", "deadline.kind", "deadline =",
         {"value": "soon"}),
        (_item(deadline='{ kind = "date", source = "x" }'), "date_required", "deadline.date", "deadline =",
         {"kind": "date"}),
        (_item(deadline='{ kind = "from_date", source = "x" }'), "date_required", "deadline.date", "deadline =",
         {"kind": "from_date"}),
        (_item(deadline='{ kind = "date", date = "31.05.2011", source = "x" }'), "date", "deadline.date",
         "deadline =", {"value": "31.05.2011"}),
        (_item(deadline='{ kind = "date", date = 2011-05-31T10:00:00, source = "x" }'), "date_time",
         "deadline.date", "deadline =", {"value": "2011-05-31 10:00:00"}),
        (_item(number='"1"'), "duplicate", "number", 'number = "1"', {"item": "1", "other": 5}),
        (_item(number="2"), "number", "number", "number = 2", {"n": 2}),
        (_item(deadline='{ kind = "month", year = 2011, month = 13, source = "x" }'), "month", "deadline.month",
         "deadline =", {"value": "13"}),
        (_item(deadline='{ kind = "yearly_month", month = 0, source = "x" }'), "month", "deadline.month",
         "deadline =", {"value": "0"}),
        (_item(deadline='{ kind = "month", month = 5, source = "x" }'), "year_required", "deadline.year",
         "deadline =", {"kind": "month"}),
        (_item(deadline='{ kind = "unset", date = 2011-05-31, source = "" }'), "not_allowed", "deadline.date",
         "deadline =", {"kind": "unset", "name": "date"}),
        (_item(deadline='{ kind = "unset" }'), "source_missing", "deadline.source", "deadline =", {}),
        (_item() + 'colour = "red"\n', "item_unknown", "colour", 'colour = "red"', {"fields": "colour"}),
        (_item().replace('text = "Второй"\n', ""), "text_missing", "text", 'number = "2"', {"item": "2"}),
    ],
)
def test_validation_errors_name_item_field_and_line(
    tmp_path: Path, item: str, code: str, field: str, line_text: str, params: dict[str, object]
) -> None:
    path = _write(tmp_path, item)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    error = caught.value
    assert (error.code, error.field, error.entry) == (code, field, 2)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[error.line - 1].startswith(line_text), (error.line, lines)
    assert params.items() <= error.params.items()


def test_validation_of_top_level(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, _item(), header='title = "T"\n'))
    assert (caught.value.code, caught.value.line) == ("source_school_year", 0)  # missing: the whole file
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, 'number "2"\n' + _item()))
    # tomllib's English text is dropped; its place is kept: line 13, column 8 (where "=" is expected).
    assert (caught.value.code, caught.value.line, caught.value.params) == ("toml", 13, {"column": 8})
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, "number = "))
    assert (caught.value.code, caught.value.line) == ("toml_end", 13)
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "missing.toml")
    assert caught.value.code == "unreadable"
    assert len(load_plan(_write(tmp_path, _item())).items) == 2
