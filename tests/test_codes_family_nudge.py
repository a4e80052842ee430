"""Activation nudges to one family are one message: a parent whose own code and children's codes are
not activated is reminded once about all of them, with a button per person."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.services import codes as svc
from handlers.codes import CodeActivated
from storage.codes import CodeRepo
from tests.codes_helpers import load_school, person_id
from tests.harness import PARENT_TWO, Harness
from tests.test_codes import _give_consent, _mark_sent

ELENA, MISHA, MASHA = "Иванова Елена Викторовна", "Иванов Миша Андреевич", "Иванова Маша Андреевна"


async def _nudges(h: Harness) -> list[tuple[str, dict[str, object]]]:
    rows = await h.app.db.fetchall(
        "SELECT dedupe_key, payload FROM outbox WHERE dedupe_key LIKE '%nudge%' AND chat_id = ? ORDER BY id",
        (PARENT_TWO,),
    )
    return [(r[0], json.loads(r[1])) for r in rows]


async def test_a_family_gets_one_nudge_for_all_its_codes(harness: Harness) -> None:
    app = harness.app
    await load_school(app)
    await harness.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(app, ELENA, [MISHA, MASHA])
    await svc.sweep(app, app.clock.now())
    await _mark_sent(app)
    repo = CodeRepo(app.db)
    codes = {name: (await repo.active_for([await person_id(app, name)]))[0] for name in (ELENA, MISHA, MASHA)}

    harness.clock.advance(timedelta(days=3, hours=1))
    await svc.sweep(app, app.clock.now())
    [(_, first)] = await _nudges(harness)
    text = str(first["text"])
    assert all(name in text for name in (ELENA, MISHA, MASHA))
    buttons = [b for row in first["reply_markup"]["inline_keyboard"] for b in row]  # type: ignore[index]
    assert {b["callback_data"] for b in buttons} >= {CodeActivated(code_id=c.id).pack() for c in codes.values()}
    assert "✅ Миша: активирован" in [b["text"] for b in buttons]

    # Misha's code gets activated; the second nudge names the two left, still as one message.
    await _mark_sent(app)
    await harness.press(PARENT_TWO, CodeActivated(code_id=codes[MISHA].id).pack())
    harness.clock.advance(timedelta(days=4))  # Monday 7 December (three days on is a Sunday)
    await svc.sweep(app, app.clock.now())
    nudges = await _nudges(harness)
    assert len(nudges) == 2
    second = str(nudges[1][1]["text"])
    assert ELENA in second and MASHA in second and MISHA not in second
    # At most two nudges per code: nothing more after that.
    harness.clock.advance(timedelta(days=7))
    await svc.sweep(app, app.clock.now())
    assert len(await _nudges(harness)) == 2
