"""Shared helpers for the invitation-code tests: a codes file for the small school of
tests.harness, and QR decoding."""

from __future__ import annotations

import io

from bot.app import App
from bot.services.imports import ImportOptions
from tests.harness import csv_bytes, roster_csv

CODES = {
    "Кузнецова Ольга Николаевна": "KZN1-TCH5-A01",
    "Морозов Игорь Сергеевич": "MRZ2-TCH0-B02",
    "Иванов Миша Андреевич": "IVM3-STU5-C03",
    "Иванова Маша Андреевна": "IVM4-STU6-D04",
    "Смирнов Коля Олегович": "SMK5-STU5-E05",
    "Иванова Елена Викторовна": "IVE6-PAR5-F56",
    "Смирнов Олег Павлович": "SMO7-PAR5-G07",
}

# As the platform exports it: its own header names (the aliases must cover them).
CODE_ROWS: list[list[str]] = [
    ["Пользователь", "Класс", "Тип пользователя", "Код приглашения"],
    ["Кузнецова Ольга Николаевна", "", "Сотрудник", CODES["Кузнецова Ольга Николаевна"]],
    ["Морозов Игорь Сергеевич", "", "учитель", CODES["Морозов Игорь Сергеевич"]],
    ["Иванов Миша Андреевич", "5А", "ученик", CODES["Иванов Миша Андреевич"]],
    ["Иванова Маша Андреевна", "6Б", "ученица", CODES["Иванова Маша Андреевна"]],
    ["Смирнов Коля Олегович", "5А", "ученик", CODES["Смирнов Коля Олегович"]],
    ["Иванова Елена Викторовна", "5А", "родитель", CODES["Иванова Елена Викторовна"]],
    ["Смирнов Олег Павлович", "5А", "родитель", CODES["Смирнов Олег Павлович"]],
]


def codes_csv(rows: list[list[str]] | None = None) -> bytes:
    return csv_bytes(rows or CODE_ROWS)


async def load_school(app: App, *, with_codes: bool = True) -> None:
    report = await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=app.clock.now())
    assert report.ok, report.errors
    if with_codes:
        outcome = await app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
        assert outcome.ok and outcome.applied, outcome.errors


async def person_id(app: App, full_name: str) -> int:
    found = [p for p in await app.people.active() if p.full_name == full_name]
    assert len(found) == 1
    return found[0].id


def decode_qr(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]
