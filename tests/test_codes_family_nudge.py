"""Activation nudges to one family are one message: a parent whose own code and children's codes are
not activated is reminded once about all of them, with a button per person."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.services.imports import ImportOptions
from bot.tg.callbacks import CodeActivated
from storage.codes import CodeRepo
from tests.codes_helpers import codes_csv, load_school, person_id
from tests.delivery_helpers import TG_CHAT
from tests.harness import PARENT_TWO, ROSTER_ROWS, TEACHER, Harness, csv_bytes
from tests.test_codes import _give_consent, _mark_sent

ELENA, MISHA, MASHA = "Иванова Елена Викторовна", "Иванов Миша Андреевич", "Иванова Маша Андреевна"
IGOR = "Морозов Игорь Сергеевич"


async def _nudges(h: Harness) -> list[tuple[str, dict[str, object]]]:
    rows = await h.app.db.fetchall(
        f"SELECT dedupe_key, payload FROM outbox WHERE dedupe_key LIKE '%nudge%' AND {TG_CHAT} = ? ORDER BY id",
        (PARENT_TWO,),
    )
    return [(r[0], json.loads(r[1])) for r in rows]


async def test_a_family_gets_one_nudge_for_all_its_codes(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(app, ELENA, [MISHA, MASHA])
    await app.services.codes_nudges.sweep(app.clock.now())
    await _mark_sent(app)
    repo = CodeRepo(app.db)
    codes = {name: (await repo.active_for([await person_id(app, name)]))[0] for name in (ELENA, MISHA, MASHA)}

    harness.clock.advance(timedelta(days=3, hours=1))
    await app.services.codes_nudges.sweep(app.clock.now())
    [(_, first)] = await _nudges(harness)
    text = str(first["text"])
    assert all(name in text for name in (ELENA, MISHA, MASHA))
    buttons = [b for row in first["reply_markup"]["inline_keyboard"] for b in row]  # type: ignore[index]
    assert {b["callback_data"] for b in buttons} >= {CodeActivated(code_id=c.id).pack() for c in codes.values()}
    assert "✅ Миша: код активирован" in [b["text"] for b in buttons]

    # Misha's code gets activated; the second nudge names the two left, still as one message.
    await _mark_sent(app)
    await harness.press(PARENT_TWO, CodeActivated(code_id=codes[MISHA].id).pack())
    harness.clock.advance(timedelta(days=4))  # Monday 7 December (three days on is a Sunday)
    await app.services.codes_nudges.sweep(app.clock.now())
    nudges = await _nudges(harness)
    assert len(nudges) == 2
    second = str(nudges[1][1]["text"])
    assert ELENA in second and MASHA in second and MISHA not in second
    # At most two nudges per code: nothing more after that.
    harness.clock.advance(timedelta(days=7))
    await app.services.codes_nudges.sweep(app.clock.now())
    assert len(await _nudges(harness)) == 2


async def _consent_and_codes_due_together(harness: Harness) -> None:
    """A teacher who is also a parent: Igor's own staff card went out when he linked, and he has
    not answered the consent request for his son Kolya. Three days later his second consent
    reminder and his first activation reminder fall due on the same day."""
    app = harness.app
    rows = [list(r) for r in ROSTER_ROWS]
    for row in rows:
        if row[0] == IGOR:
            row[1], row[4] = "учитель, родитель", "Смирнов Коля Олегович (5А)"
    report = await app.services.roster_import.import_roster(csv_bytes(rows), "roster.csv", now=app.clock.now())
    assert report.ok, report.errors
    outcome = await app.importers["codes"].run(codes_csv(), "codes.csv", ImportOptions())
    assert outcome.ok and outcome.applied, outcome.errors
    await harness.contact(TEACHER, "+79000000004", TEACHER)
    await app.services.consent.current()  # the shipped document becomes version 1
    await app.services.consent_nudges.run_nudges(app.clock.now())
    await app.services.codes_nudges.sweep(app.clock.now())
    await _mark_sent(app)
    harness.clock.advance(timedelta(days=3, hours=1))


async def _teacher_nudges(h: Harness) -> list[tuple[str, dict[str, object]]]:
    rows = await h.app.db.fetchall(
        f"SELECT dedupe_key, payload FROM outbox WHERE dedupe_key LIKE '%nudge%' AND {TG_CHAT} = ? ORDER BY id",
        (TEACHER,),
    )
    return [(r[0], json.loads(r[1])) for r in rows]


async def test_consent_and_activation_reminders_to_one_family_are_one_message(harness: Harness) -> None:
    app = harness.app
    await _consent_and_codes_due_together(harness)
    before = await _teacher_nudges(harness)
    assert [key.split(":")[0] for key, _ in before] == ["consent-nudge"]
    await app.tick()  # every sweep, in their order: the consent reminder first, then the codes
    new = (await _teacher_nudges(harness))[len(before):]
    assert len(new) == 1, [key for key, _ in new]
    key, payload = new[0]
    assert key.startswith("consent-nudge:")
    text = str(payload["text"])
    assert "ответ на согласие" in text and "не активирован" in text, text
    callbacks = [b["callback_data"] for row in payload["reply_markup"]["inline_keyboard"] for b in row]  # type: ignore[index]
    code = (await CodeRepo(app.db).active_for([await person_id(app, IGOR)]))[0]
    assert CodeActivated(code_id=code.id).pack() in callbacks and len(callbacks) >= 3
    # The activation reminder counts as given: nothing more that day.
    harness.clock.advance(timedelta(minutes=5))
    await app.tick()
    assert len(await _teacher_nudges(harness)) == len(before) + 1


async def test_an_activation_reminder_waits_a_day_after_a_consent_reminder_went_out(harness: Harness) -> None:
    app = harness.app
    await _consent_and_codes_due_together(harness)
    before = len(await _teacher_nudges(harness))
    await app.services.consent_nudges.run_nudges(app.clock.now())
    await _mark_sent(app)  # the consent reminder is delivered before the codes sweep runs
    await app.services.codes_nudges.sweep(app.clock.now())
    assert len(await _teacher_nudges(harness)) == before + 1
    harness.clock.advance(timedelta(days=1))
    await app.services.codes_nudges.sweep(app.clock.now())
    new = (await _teacher_nudges(harness))[before + 1:]
    assert [key.split(":")[0] for key, _ in new] == ["code"]


async def test_a_consent_reminder_waits_a_day_after_an_activation_reminder_went_out(harness: Harness) -> None:
    app = harness.app
    await _consent_and_codes_due_together(harness)
    before = len(await _teacher_nudges(harness))
    await app.services.codes_nudges.sweep(app.clock.now())  # the activation reminder first this time
    await _mark_sent(app)
    await app.services.consent_nudges.run_nudges(app.clock.now())
    assert [k.split(":")[0] for k, _ in (await _teacher_nudges(harness))[before:]] == ["code"]
    harness.clock.advance(timedelta(days=1))
    await app.services.consent_nudges.run_nudges(app.clock.now())
    assert [k.split(":")[0] for k, _ in (await _teacher_nudges(harness))[before:]] == ["code", "consent-nudge"]
