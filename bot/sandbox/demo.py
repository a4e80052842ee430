"""The demo school of the sandbox: about 30 people in three classes, and its loading.

Everything is loaded through the same importers the IT officer uses (`app.importers`), so the demo
shows exactly what a real school would get; an importer that has not been registered (a capability
not installed) is skipped and reported, never faked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from bot.i18n import Translator
from bot.paths import CONTENT_DIR
from bot.sandbox.options import SandboxProblem
from bot.services.exports import write_private
from bot.services.imports import ImportOptions

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

TG_ID_BASE = 700_000


@dataclass(frozen=True)
class DemoPerson:
    full_name: str
    roles: str  # as a school writes them in the roster file
    class_label: str = ""
    phone: str = ""
    children: str = ""
    # A fake Telegram id for people who "are in Telegram" (None: not in Telegram).
    tg_id: int | None = None

    @property
    def first_name(self) -> str:
        parts = self.full_name.split()
        return parts[1] if len(parts) > 1 else parts[0]

    @property
    def last_name(self) -> str:
        return self.full_name.split()[0]


def _p(n: int, full_name: str, roles: str, class_label: str = "", children: str = "", *, phone: bool = True,
       tg: bool = True) -> DemoPerson:
    # Adults get a phone +7 916 100-00-NN and the Telegram id TG_ID_BASE + NN.
    return DemoPerson(
        full_name=full_name,
        roles=roles,
        class_label=class_label,
        phone=f"+7 (916) 100-00-{n:02d}" if phone else "",
        children=children,
        tg_id=TG_ID_BASE + n if tg else None,
    )


PEOPLE: tuple[DemoPerson, ...] = (
    # Staff.
    _p(1, "Петров Пётр Петрович", "ответственный по информатизации, учитель"),
    _p(2, "Сидорова Анна Ивановна", "директор"),
    _p(3, "Козлова Марина Викторовна", "заместитель директора по УВР, учитель"),
    _p(4, "Кузнецова Ольга Николаевна", "классный руководитель, учитель", "5А"),
    _p(5, "Лебедева Татьяна Сергеевна", "классный руководитель, учитель", "6Б"),
    _p(6, "Новиков Дмитрий Алексеевич", "классный руководитель, учитель", "7В"),
    _p(7, "Морозов Игорь Сергеевич", "учитель"),
    _p(8, "Волкова Ирина Павловна", "учитель"),
    # Pupils: no phones; one pupil of 5А is in Telegram (linked by a one-time link).
    _p(40, "Иванов Миша Андреевич", "ученик", "5А", phone=False),
    _p(41, "Смирнов Коля Олегович", "ученик", "5А", phone=False, tg=False),
    _p(42, "Попова Даша Игоревна", "ученица", "5А", phone=False, tg=False),
    _p(43, "Соколов Артём Денисович", "ученик", "5А", phone=False, tg=False),
    _p(44, "Фёдорова Вика Романовна", "ученица", "6Б", phone=False, tg=False),
    _p(45, "Михайлов Егор Викторович", "ученик", "6Б", phone=False, tg=False),
    _p(46, "Алексеева Соня Максимовна", "ученица", "6Б", phone=False, tg=False),
    _p(47, "Иванова Маша Андреевна", "ученица", "7В", phone=False, tg=False),
    _p(48, "Егоров Тимур Русланович", "ученик", "7В", phone=False, tg=False),
    _p(49, "Павлова Алиса Сергеевна", "ученица", "7В", phone=False, tg=False),
    _p(50, "Козлов Лёша Ильич", "ученик", "7В", phone=False, tg=False),
    # Parents: one of two children (5А and 7В), the others of one.
    _p(11, "Иванова Елена Викторовна", "родитель", "", "Иванов Миша Андреевич (5А); Иванова Маша Андреевна (7В)"),
    _p(12, "Смирнов Олег Павлович", "родитель", "", "Смирнов Коля Олегович (5А)"),
    _p(13, "Попова Наталья Юрьевна", "родитель", "", "Попова Даша Игоревна (5А)"),
    _p(14, "Соколова Светлана Андреевна", "родитель", "", "Соколов Артём Денисович (5А)"),
    _p(15, "Фёдоров Роман Викторович", "родитель", "", "Фёдорова Вика Романовна (6Б)"),
    _p(16, "Михайлова Ольга Петровна", "родитель", "", "Михайлов Егор Викторович (6Б)"),
    _p(17, "Алексеев Максим Олегович", "родитель", "", "Алексеева Соня Максимовна (6Б)"),
    _p(18, "Егорова Гульнара Ринатовна", "родитель", "", "Егоров Тимур Русланович (7В)"),
    _p(19, "Павлов Сергей Николаевич", "родитель", "", "Павлова Алиса Сергеевна (7В)"),
    _p(20, "Козлова Ирина Александровна", "родитель", "", "Козлов Лёша Ильич (7В)"),
    _p(21, "Козлов Илья Геннадьевич", "родитель", "", "Козлов Лёша Ильич (7В)"),
)

STRANGER = DemoPerson(full_name="Незнакомов Гость", roles="", phone="+7 (916) 199-99-99", tg_id=TG_ID_BASE + 99)


@dataclass(frozen=True)
class Persona:
    key: str
    label: str
    person: DemoPerson
    # How the persona is linked when the sandbox starts: "contact" (/start + share contact),
    # "token" (a one-time /start link, as for pupils without phones) or "" (not linked).
    prelink: str = ""


def _by_name(name: str) -> DemoPerson:
    return next(p for p in PEOPLE if p.full_name == name)


PERSONAS: tuple[Persona, ...] = (
    Persona("it_officer", "IT officer", _by_name("Петров Пётр Петрович"), "contact"),
    Persona("director", "director", _by_name("Сидорова Анна Ивановна"), "contact"),
    Persona("deputy", "deputy director", _by_name("Козлова Марина Викторовна"), "contact"),
    Persona("class_teacher_5a", "class teacher of 5А", _by_name("Кузнецова Ольга Николаевна"), "contact"),
    Persona("teacher", "subject teacher", _by_name("Морозов Игорь Сергеевич"), "contact"),
    Persona("parent_5a", "parent of 5А (two children: 5А, 7В)", _by_name("Иванова Елена Викторовна")),
    Persona("parent_one", "parent of one child (5А)", _by_name("Смирнов Олег Павлович")),
    Persona("pupil", "pupil of 5А", _by_name("Иванов Миша Андреевич"), "token"),
    Persona("stranger", "unknown person (not in the roster)", STRANGER),
)


def roster_csv() -> bytes:
    """The demo roster as a school's Excel export (cp1251, `;`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["ФИО", "Роль", "Класс", "Телефон", "Дети"])
    for p in PEOPLE:
        writer.writerow([p.full_name, p.roles, p.class_label, p.phone, p.children])
    return buffer.getvalue().encode("cp1251")


def invitation_code(full_name: str, kind: str) -> str:
    """A fake but plausible Dnevnik.ru-like invitation code, stable per person."""
    digest = hashlib.sha256(f"{kind}:{full_name}".encode()).hexdigest().upper()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    chars = [alphabet[int(digest[i : i + 2], 16) % len(alphabet)] for i in range(0, 16, 2)]
    return f"DNV-{''.join(chars[:4])}-{''.join(chars[4:])}"


def codes_csv() -> bytes:
    """Invitation codes for everyone, as the platform exports them: one row per person."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["ФИО", "Класс", "Роль", "Код"])
    for p in PEOPLE:
        writer.writerow([p.full_name, p.class_label, p.roles.split(",")[0], invitation_code(p.full_name, "code")])
    return buffer.getvalue().encode("utf-8")


def school_year_of(day_year: int, month: int) -> int:
    """The year a school year starts in (September)."""
    return day_year if month >= 9 else day_year - 1


@dataclass
class DemoReport:
    # kind -> what its import counted; skipped kinds say why (a catalog key and its values).
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, SandboxProblem] = field(default_factory=dict)

    def lines(self, t: Translator) -> list[str]:
        def counts(found: dict[str, int]) -> str:
            return ", ".join(t("sandbox.demo.count", what=t(f"imports.count.{k}"), n=v) for k, v in found.items())

        out = [t("sandbox.demo.loaded", kind=t(f"sandbox.demo.kind.{kind}"),
                 counts=counts(found) or t("sandbox.demo.ok")) for kind, found in self.loaded.items()]
        out += [t("sandbox.demo.skipped", kind=t(f"sandbox.demo.kind.{kind}"), why=why.text(t))
                for kind, why in self.skipped.items()]
        return out


def training_csv(start: datetime, tz: tzinfo) -> bytes:
    """A training session for teachers on the third working day after `start`, 15:00 school time."""
    day = start.astimezone(tz).date()
    added = 0
    while added < 3:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            added += 1
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Название", "Аудитория", "Время", "Место"])
    writer.writerow(["Работа с электронным журналом: выставление отметок и домашних заданий", "учителя",
                     f"{day:%d.%m.%Y} 15:00", "Кабинет информатики (каб. 214)"])
    return buffer.getvalue().encode("utf-8")


async def load_demo(app: App, *, school_year: int) -> DemoReport:
    """Import the demo data through the registered importers; all-or-nothing per file."""

    report = DemoReport()
    files: list[tuple[str, bytes, str]] = [
        ("roster", roster_csv(), "demo-roster.csv"),
        ("plan", (CONTENT_DIR / "plan.toml").read_bytes(), "plan.toml"),
        ("codes", codes_csv(), "demo-codes.csv"),
        ("training", training_csv(app.clock.now(), app.school.tz), "demo-training.csv"),
    ]
    for kind, data, filename in files:
        importer = app.importers.get(kind)
        if importer is None:
            report.skipped[kind] = SandboxProblem("demo.no_importer")
            continue
        outcome = await importer.run(data, filename, ImportOptions(school_year=school_year))
        if outcome.ok:
            report.loaded[kind] = dict(outcome.counts)
        else:
            first = outcome.errors[0]
            message = SandboxProblem(first.code, area="import_errors", **first.params)
            report.skipped[kind] = SandboxProblem("demo.errors", n=len(outcome.errors), line=first.line,
                                                  message=message)
            log.warning("sandbox demo: %s import failed: %s", kind, outcome.errors[:3])
    return report


def write_demo_files(directory: Path) -> list[Path]:
    """The demo import files, for the IT officer persona to send by hand (/file PATH)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in (("demo-roster.csv", roster_csv()), ("demo-codes.csv", codes_csv())):
        path = directory / name
        write_private(path, data)  # the codes file is a secret
        written.append(path)
    return written
