"""A school year, 1 September to the next 1 September, through the bot as `schoolbot run` builds it
(create_app, build_bot, serve) against the fake Bot API server, on a ManualClock.

People act through Telegram where the action is the point of the walk (linking, consent, marking a
plan task done with a document, reviewing it); the rest goes through the same services the
handlers call (imports, journal backups, tickets, training). After every tick the test waits for
the outbox sender to drain what is due, so each message is counted in the month it went out.

`Walk.table()` is the messages-per-role-per-month table: every outbox message the bot sent on its
own (reminders, digests, notices, cards), by the recipient's main role and the month it was sent.
Direct answers to a person's own action are not counted: they are not nudges.
"""

from __future__ import annotations

import asyncio
import time as timer
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.app import App
from bot.channels import Channel
from bot.clock import ManualClock
from bot.fakeapi import FakeTelegram, FakeUser
from bot.services.imports import ImportOptions
from bot.services.task_actions import ProofInput
from bot.services.training import SessionSpec
from bot.tg.limiter import LimitedSession, SendLimiter
from storage.tasks import TaskRepo
from storage.timefmt import from_db, to_db
from tests.codes_helpers import CODES, codes_csv
from tests.harness import (
    CLASS_TEACHER,
    DIRECTOR,
    IT_OFFICER,
    PARENT_ONE,
    PARENT_TWO,
    ROSTER_ROWS,
    TEACHER,
    csv_bytes,
)

START = date(2026, 9, 1)
END = date(2027, 9, 1)
ROLE_ORDER = ("it_officer", "director", "class_teacher", "teacher", "parent", "student")
MONTHS = [(2026, m) for m in range(9, 13)] + [(2027, m) for m in range(1, 10)]
USERS = {
    IT_OFFICER: ("Пётр", "Петров", "+79000000001"),
    DIRECTOR: ("Анна", "Сидорова", "+79000000002"),
    CLASS_TEACHER: ("Ольга", "Кузнецова", "+79000000003"),
    TEACHER: ("Игорь", "Морозов", "+79000000004"),
    PARENT_TWO: ("Елена", "Иванова", "+79000000005"),
    PARENT_ONE: ("Олег", "Смирнов", "+79000000006"),
}
Action = Callable[["Walk"], Awaitable[None]]


def main_role(roles: set[str]) -> str:
    return next((r for r in ROLE_ORDER if r in roles), "other")


@dataclass
class Walk:
    tg: FakeTelegram
    app: App
    clock: ManualClock
    users: dict[int, FakeUser] = field(default_factory=dict)
    ticks: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # what one step leaves for a later one

    @property
    def tz(self) -> Any:
        return self.app.school.tz

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz).astimezone(UTC)

    async def person(self, tg_id: int) -> Any:
        person = await self.app.people.by_account(Channel.TELEGRAM, tg_id)
        assert person is not None, tg_id
        return person

    async def drained(self) -> None:
        """Wait (I/O, not a deadline) until nothing due is pending and no send is in flight."""
        now = self.clock.now()
        for _ in range(2000):
            row = await self.app.db.fetchone(
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?",
                # Stored times are to_db's `...Z` text; comparing another spelling (`+00:00` sorts
                # before `Z`) would skip rows due at exactly `now`.
                (to_db(now),),
            )
            sender = self.app.sender
            if row is not None and row[0] == 0 and (sender is None or sender.in_flight == 0):
                return
            self.app.wake_sender()
            await asyncio.sleep(0.005)
        raise AssertionError("the outbox did not drain")

    async def tick(self, moment: datetime) -> None:
        self.clock.set(moment)
        await self.app.tick()
        self.ticks += 1
        await self.drained()

    async def link(self, tg_id: int) -> None:
        first, last, phone = USERS[tg_id]
        user = self.tg.user(tg_id, first, last, phone=phone)
        self.users[tg_id] = user
        n = len(self.tg.sent(tg_id))
        await user.send("/start")
        ask = await self.tg.wait_for(tg_id, after=n)
        n = len(self.tg.sent(tg_id))
        await user.press_reply(ask, "📱 Поделиться номером телефона")
        await self.tg.wait_for(tg_id, lambda m: last in (m.plain or ""), after=n)
        await self.drained()

    async def table(self) -> dict[str, Counter[tuple[int, int]]]:
        rows = await self.app.db.fetchall(
            "SELECT o.person_id, o.sent_at FROM outbox o WHERE o.status = 'sent' AND o.person_id IS NOT NULL"
        )
        ids = [r[0] for r in await self.app.db.fetchall("SELECT id FROM persons")]
        roles = {p.id: main_role(set(p.roles)) for p in await self.app.people.get_many(ids)}
        result: dict[str, Counter[tuple[int, int]]] = {}
        for row in rows:
            sent = from_db(row["sent_at"]).astimezone(self.tz)
            result.setdefault(roles.get(row["person_id"], "other"), Counter())[(sent.year, sent.month)] += 1
        return result


def format_table(table: dict[str, Counter[tuple[int, int]]]) -> str:
    head = "role           " + " ".join(f"{m:02d}/{y % 100}" for y, m in MONTHS) + "  Dec-May  total"
    lines = [head]
    for role in (*ROLE_ORDER, "other"):
        counts = table.get(role, Counter())
        if not counts and role == "other":
            continue
        dec_may = sum(counts[(y, m)] for y, m in MONTHS if (y, m) >= (2026, 12) and (y, m) <= (2027, 5))
        cells = " ".join(f"{counts[(y, m)]:5d}" for y, m in MONTHS)
        lines.append(f"{role:<14} {cells}  {dec_may:7d}  {sum(counts.values()):5d}")
    return "\n".join(lines)


def dec_may(table: dict[str, Counter[tuple[int, int]]], role: str) -> int:
    counts = table.get(role, Counter())
    return sum(n for (y, m), n in counts.items() if (2026, 12) <= (y, m) <= (2027, 5))


# --- what people do during the year ---------------------------------------------------------------


# The small school of tests.harness plus a pupil of the leaving grade (graduates in June).
GRADUATE = "Орлов Дмитрий Сергеевич"
ROSTER = [*ROSTER_ROWS, [GRADUATE, "ученик", "11А", "", ""]]


def next_roster() -> list[list[str]]:
    """The roster the school exports for the next September: every class a grade up, the graduate
    gone, and Коля moved to the parallel class (7Б, not 6А)."""
    rows = [ROSTER[0]]
    for name, role, cls, phone, children in ROSTER[1:]:
        if name == GRADUATE:
            continue
        cls = {"5А": "6А", "5A": "6А", "6Б": "7Б"}.get(cls, cls)
        if name == "Смирнов Коля Олегович":
            cls = "6Б"
        children = children.replace("(5А)", "(6Б)")
        rows.append([name, role, cls, phone, children])
    return rows


async def import_school(w: Walk) -> None:
    roster = await w.app.importers["roster"].run(csv_bytes(ROSTER), "roster.csv", ImportOptions())
    assert roster.ok and roster.applied, roster.errors
    codes = await w.app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
    assert codes.ok and codes.applied, codes.errors


async def link_staff(w: Walk) -> None:
    for tg_id in (IT_OFFICER, DIRECTOR, CLASS_TEACHER, TEACHER):
        await w.link(tg_id)


async def link_parents(w: Walk) -> None:
    for tg_id in (PARENT_TWO, PARENT_ONE):
        await w.link(tg_id)


async def parent_consents(w: Walk) -> None:
    """Елена agrees for both children through the bot; Олег never answers (his family stays
    uncovered: no code may ever reach him or his son)."""
    user = w.users[PARENT_TWO]
    n = len(w.tg.sent(PARENT_TWO))
    await user.send("/consent")
    menu = await w.tg.wait_for(PARENT_TWO, lambda m: "Согласие на обработку" in (m.plain or ""), after=n)
    for child in ("Миша", "Маша"):
        # The agree button appears only once the parent has opened the document.
        n = len(w.tg.sent(PARENT_TWO))
        await user.press(w.tg.message(PARENT_TWO, menu.message_id), f"📄 Прочитать документ: {child}")
        agree = f"✅ Согласна: {child}"

        def offers_agree(m: Any, label: str = agree) -> bool:
            return any(label in b for row in m.buttons() for b in row)

        menu = await w.tg.wait_for(PARENT_TWO, offers_agree, after=n)
        n = len(w.tg.sent(PARENT_TWO))
        await user.press(w.tg.message(PARENT_TWO, menu.message_id), agree)
        await w.tg.wait_for(PARENT_TWO, lambda m: "Квитанция" in (m.plain or ""), after=n)
    await w.drained()


async def print_sheets(w: Walk) -> None:

    sheet = await w.app.services.codes_print.print_cards("5А", everyone=False)
    assert sheet.pdf is None or sheet.pdf.startswith(b"%PDF")


def journal_backup(quarter: int) -> Action:
    async def act(w: Walk) -> None:
        officer = await w.person(IT_OFFICER)
        await w.app.services.backup.log_journal(quarter=quarter, label=f"USB-флешка №{quarter}", person_id=officer.id)

    return act


def task_done(tg_id: int, number: str, key: str, *, accept_by: int | None = DIRECTOR) -> Action:
    """A responsible person marks a task done with a document through the bot; a reviewer accepts
    it from the message the bot delivered (the document itself, with its buttons)."""

    async def act(w: Walk) -> None:
        user = w.users[tg_id]
        person = await w.person(tg_id)
        await w.app.services.task_actions.submit_proof(
            person, number, key,
            ProofInput(kind="text", body=f"Выполнено: пункт {number} ({key})"),
        )
        await w.drained()
        if accept_by is None:
            return
        reviewer = await w.person(accept_by)
        proofs = [p for p in await TaskRepo(w.app.db).proofs(number) if p.status == "submitted"]
        for proof in proofs:
            await w.app.services.task_actions.review(reviewer, proof.id, accept=True, comment=None)
        del user
        await w.drained()

    return act


async def parent_asks(w: Walk) -> None:
    parent = await w.person(PARENT_TWO)
    ticket = await w.app.services.tickets.open_ticket(parent, "Не приходит код для Маши, что делать?")
    await w.drained()
    officer = await w.person(IT_OFFICER)
    await w.app.services.tickets.answer_ticket(officer, ticket, "Код придёт после согласия; проверьте раздел «Коды».")
    await w.drained()


async def training_session(w: Walk) -> None:
    officer = await w.person(IT_OFFICER)
    starts = w.at(w.clock.now().astimezone(w.tz).date() + timedelta(days=7), 15)
    session_id, _, _ = await w.app.services.training.create_session(
        officer, SessionSpec("Работа с электронным журналом", "teachers", None, starts, "каб. 214")
    )
    for tg_id in (CLASS_TEACHER, TEACHER):
        await w.app.services.training.rsvp(await w.person(tg_id), session_id, True)
    await w.drained()
    w.notes["walk.session"] = session_id


async def training_attended(w: Walk) -> None:
    session_id = int(w.notes["walk.session"])
    await w.app.services.training.toggle_attendance(session_id, (await w.person(CLASS_TEACHER)).id)


async def consent_check(w: Walk) -> None:
    assert (await w.app.services.consent.current()).number >= 1


async def people_state(w: Walk) -> dict[int, tuple[str, str | None, int | None, bool]]:
    """Every person by id: (name, class, Telegram id, active)."""
    rows = await w.app.db.fetchall("SELECT id FROM persons")
    return {
        p.id: (p.full_name, p.class_label, p.user_id(Channel.TELEGRAM), p.active)
        for p in await w.app.people.get_many([r[0] for r in rows])
    }


async def new_school_year(w: Walk) -> None:
    """The IT officer moves the school to 2027/28 (dry run first), as `schoolbot new-year 2027` does."""
    officer = await w.person(IT_OFFICER)
    before = await people_state(w)
    gate = w.app.services.consent_gate
    covered = await gate.covered_children(w.app.db.conn)
    w.notes["walk.before_new_year"] = (before, covered)
    preview = await w.app.services.school_year.new_year(2027, dry_run=True, by=officer.id)
    assert not preview.applied and await people_state(w) == before
    report = await w.app.services.school_year.new_year(2027, dry_run=False, by=officer.id)
    assert report.applied and w.app.school.school_year.year == 2027
    after = await people_state(w)
    # Nobody is lost: the same people, the same links; pupils a grade up; the graduate kept, inactive.
    assert set(after) == set(before)
    for pid, (name, cls, tg_id, active) in before.items():
        new_name, new_cls, new_tg, new_active = after[pid]
        assert (new_name, new_tg) == (name, tg_id), name
        if name == GRADUATE:
            assert not new_active
        else:
            assert new_active == active, name
            if cls is not None and cls[:-1].isdigit():
                assert new_cls == f"{int(cls[:-1]) + 1}{cls[-1]}", (name, cls, new_cls)
    assert covered <= await gate.covered_children(w.app.db.conn) | {p for p, v in before.items() if v[0] == GRADUATE}


async def reimport_roster(w: Walk) -> None:
    """September's roster from the platform: the same people update in place, Коля moved to 6Б."""
    gate = w.app.services.consent_gate
    before = await people_state(w)
    outcome = await w.app.importers["roster"].run(
        csv_bytes(next_roster()), "roster-2027.csv", ImportOptions(actor_id=(await w.person(IT_OFFICER)).id)
    )
    assert outcome.ok and outcome.applied, outcome.errors
    after = await people_state(w)
    active_before = {pid for pid, v in before.items() if v[3]}
    assert active_before <= {pid for pid, v in after.items() if v[3]}, "a person was lost at the re-import"
    assert len(after) == len(before), "a person was duplicated at the re-import"
    kolya = next(pid for pid, v in after.items() if v[0] == "Смирнов Коля Олегович")
    assert after[kolya][1] == "6Б"
    parents = await w.app.people.parents(kolya)
    assert [p.full_name for p in parents] == ["Смирнов Олег Павлович"]
    _, covered = w.notes["walk.before_new_year"]
    assert covered - {pid for pid, v in after.items() if not v[3]} <= await gate.covered_children(w.app.db.conn)


async def analysis_document(w: Walk) -> None:
    """Item 18: the IT officer asks for the analysis through the bot and gets the PDF."""
    n = len(w.tg.sent(IT_OFFICER))
    await w.users[IT_OFFICER].send("/analysis")
    pdf = await w.tg.wait_for(IT_OFFICER, lambda m: m.method == "sendDocument", after=n, timeout=30)
    assert (pdf.file or b"").startswith(b"%PDF")
    await w.tg.wait_for(IT_OFFICER, lambda m: "Задачи на следующий учебный год" in (m.plain or ""), after=n)


EVENTS: dict[date, list[Action]] = {
    date(2026, 9, 1): [import_school, link_staff, consent_check],
    date(2026, 9, 2): [link_parents],
    date(2026, 9, 3): [parent_consents],
    date(2026, 9, 10): [print_sheets],
    date(2026, 10, 14): [parent_asks],
    date(2026, 10, 20): [task_done(DIRECTOR, "3", "2026-10-31", accept_by=IT_OFFICER)],
    date(2026, 10, 22): [journal_backup(1)],
    date(2026, 11, 10): [training_session],
    date(2026, 11, 17): [training_attended],
    date(2026, 12, 24): [journal_backup(2)],
    date(2027, 2, 9): [task_done(CLASS_TEACHER, "11", "2027-01-31")],
    date(2027, 2, 16): [parent_asks],
    date(2027, 3, 25): [journal_backup(3)],  # late: the quarter ended on 20 March
    date(2027, 5, 25): [journal_backup(4)],
    date(2027, 5, 28): [analysis_document, task_done(IT_OFFICER, "18", "2027-05-31")],
    date(2027, 8, 25): [new_school_year],
    date(2027, 8, 30): [reimport_roster],
}


async def run_year(w: Walk, extra: dict[date, list[Action]] | None = None) -> None:
    events = {d: list(actions) for d, actions in EVENTS.items()}
    for d, actions in (extra or {}).items():
        events.setdefault(d, []).extend(actions)
    began = timer.perf_counter()
    day = START
    while day <= END:
        # Nudges go out only on working days from 09:00 (what falls due on a weekend waits for
        # Monday), so one tick each working morning sees everything; actions then run at 10:30.
        if day.isoweekday() in w.app.school.hours.working_days or day in events:
            await w.tick(w.at(day, 9, 5))
        for action in events.get(day, []):
            w.clock.set(w.at(day, 10, 30))
            await action(w)
            await w.drained()
        day += timedelta(days=1)
    w.timings["year"] = timer.perf_counter() - began


def uncovered_code_leaks(w: Walk) -> list[str]:
    """Codes of the family that never consented (Смирнов) found in anything sent to anyone."""
    secret = {CODES["Смирнов Коля Олегович"], CODES["Смирнов Олег Павлович"]}
    found = []
    for message in w.tg.sent():
        for code in secret:
            if code in (message.text or ""):
                found.append(f"{code} in text to {message.chat_id}")
        if message.method == "sendPhoto" and message.chat_id in (PARENT_ONE,):
            found.append(f"photo to {message.chat_id}")
    return found


def lift_pace(app: App, tg: FakeTelegram) -> None:
    """The limiter runs on real time (1 message/s per chat): a year of messages would take minutes.
    The walk counts messages, not pace, so the bot's session and its sender get a wide limiter, and
    the fake stops counting its per-chat rate: with the bot's limiter lifted, two messages to one chat
    in a tick (a digest and a nudge) drew a 429 and a real one-second pause, about 1 s a working day
    (7 minutes for the retention walk). The pacing itself is tested on its own (test_limiter.py,
    test_fakeapi_limits.py), against the strict fake."""

    assert app.sender is not None
    tg.rate_limited = False
    fast = SendLimiter(rate=10_000.0, bulk_rate=10_000.0, per_chat_rate=10_000.0, chat_margin=0.0)
    session = app.sender.bot.session
    if isinstance(session, LimitedSession):
        session.limiter.close()
        session.limiter = fast
    app.sender.limiter = fast
