"""A populated demo school for the status/report/backup tests: the harness roster, people linked
by contact, a consent version with decisions, imported codes (some activated), an unreachable
parent and a journal backup."""

from __future__ import annotations

from datetime import date

from bot.app import App
from bot.channels import Channel
from storage import consent as consent_store
from storage.accounts import AccountRepo
from storage.codes import CodeRepo, NewCode
from storage.consent import ConsentRepo
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, PARENT_ONE, PARENT_TWO, Harness, roster_csv

PHONES = {
    IT_OFFICER: "+79000000001",
    DIRECTOR: "+79000000002",
    CLASS_TEACHER: "+79000000003",
    PARENT_TWO: "+79000000005",
    PARENT_ONE: "+79000000006",
}


async def _telegram_account(app: App, person_id: int) -> int:
    person = await app.people.get(person_id)
    account = person.account(Channel.TELEGRAM) if person is not None else None
    assert account is not None
    return account.id


async def populate(h: Harness) -> dict[str, int]:
    app = h.app
    await app.services.tasks_import.ensure_plan()
    report = await app.services.roster_import.import_roster(roster_csv(), "roster.csv", now=h.clock.now())
    assert report.ok, report.errors
    for tg_id, phone in PHONES.items():
        await h.contact(tg_id, phone, tg_id)
    ids = {p.full_name: p.id for p in await app.people.active()}
    officer = ids["Петров Пётр Петрович"]
    now = h.clock.now()
    async with app.db.transaction() as conn:
        version = await ConsentRepo.insert_version(conn, sha256="0" * 64, text="Согласие", text_en=None, now=now,
                                                     by=officer)
        for n, (child, decision) in enumerate(
            [("Иванов Миша Андреевич", "given"), ("Иванова Маша Андреевна", "declined")]
        ):
            await ConsentRepo.insert_decision(conn, consent_store.NewDecision(
                receipt_id=f"R-{n}", parent_id=ids["Иванова Елена Викторовна"], child_id=ids[child],
                decision=decision, version=version, sha256="0" * 64, channel="paper",  # type: ignore[arg-type]
                created_at=now, recorded_by=officer, paper_date=date(2026, 11, 27),
            ))
        for n, (name, role, cls) in enumerate([
            ("Иванов Миша Андреевич", "student", "5А"),
            ("Смирнов Коля Олегович", "student", "5А"),
            ("Иванова Маша Андреевна", "student", "6Б"),
            ("Смирнов Олег Павлович", "parent", "5А"),
        ]):
            code_id, _ = await CodeRepo.insert(conn, NewCode(ids[name], role, cls, f"ABC-DEF-{n:03d}"), source="import",
                                               now=now)
            if n == 0:
                await CodeRepo.mark_activated(conn, code_id, "import", now)
        await AccountRepo.mark_unreachable(conn, await _telegram_account(app, ids["Смирнов Олег Павлович"]), "blocked",
                                           now)
    return ids
