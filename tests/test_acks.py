"""«Ознакомлен(а)» campaigns (issue #26) through the real Dispatcher: a plan document sent to the
parents, confirmations recorded with the document's SHA-256 and time, who has not confirmed per class
and role for the author and for a class teacher (her class only), her reminder (once a day, never to
who confirmed), a broadcast sent asking for «Ознакомлен(а)», and the coverage handed to plan item 14."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from bot.channels import Channel
from bot.services.task_actions import ProofInput
from tests.harness import CLASS_TEACHER, DIRECTOR, IT_OFFICER, PARENT_ONE, PARENT_TWO, TEACHER, Harness
from tests.help_helpers import alerts, buttons, texts
from tests.surveys_helpers import EXTRA_PARENTS, big_school, queued

PDF = b"%PDF-1.4\n% Regulations on the electronic journal\n" + b"x" * 2000


async def _send_document(h: Harness) -> None:
    calls = await h.text(IT_OFFICER, "/surveys")
    assert ("✍️ Ознакомление с документами", "aka:list:0:") in buttons(calls[-1])
    calls = await h.press(IT_OFFICER, "aka:list:0:")
    calls = await h.press(IT_OFFICER, "aka:new:0:")
    assert "Пришлите документ" in texts(calls)[0]
    calls = await h.document(IT_OFFICER, PDF, "Положение_об_ЭЖ.pdf", "application/pdf")
    assert ("Пункт 14", "aka:item:0:14") in buttons(calls[-1])
    calls = await h.press(IT_OFFICER, "aka:item:0:14")
    calls = await h.press(IT_OFFICER, "aka:aud:0:parents")
    assert "Кому: все родители — 8 чел., в мессенджере: 8\nПункт 14" in texts(calls)[0]
    calls = await h.press(IT_OFFICER, "aka:create:0:")
    assert "адресатов 8, сообщений 8" in texts(calls)[0]


async def test_document_campaign_coverage_reminders_and_plan(harness: Harness) -> None:
    h = harness
    await big_school(h)
    await _send_document(h)
    sent = await queued(h, "ack:1:send:%")
    assert len(sent) == 8
    payload = sent[0][2]
    assert payload.renderer == "ack_document" and payload.filename == "Положение_об_ЭЖ.pdf"
    assert "Положение об ЭЖ" in (payload.text or "")
    assert await h.app.services.acks.render_document({"campaign_id": 1}) == (PDF, "Положение_об_ЭЖ.pdf")

    # Елена (children in 5А and 6Б) and three parents of 6Б confirm; a teacher's press is refused.
    calls = await h.press(PARENT_TWO, "ack:1")
    assert alerts(calls) == ["Спасибо, отмечено."]
    assert "Вы ознакомились с документом «Положение об ЭЖ»" in texts(calls)[0]
    assert alerts(await h.press(PARENT_TWO, "ack:1")) == ["Вы уже подтвердили ознакомление."]
    assert alerts(await h.press(TEACHER, "ack:1")) == ["Этот документ адресован не вам."]
    for tg_id, _, _ in EXTRA_PARENTS[:3]:
        await h.press(tg_id, "ack:1")
    rows = await h.app.db.fetchall("SELECT person_id, sha256, confirmed_at, channel FROM ack_confirmations")
    assert len(rows) == 4
    assert {r["sha256"] for r in rows} == {hashlib.sha256(PDF).hexdigest()}  # which text, by its hash
    assert {r["channel"] for r in rows} == {"telegram"} and all(r["confirmed_at"] for r in rows)

    # The author: per class and per role, and who has not confirmed.
    calls = await h.press(IT_OFFICER, "aka:view:1:")
    view = texts(calls)[0]
    assert "Подтвердили: 4 из 8 (50%)" in view
    assert "5А 1/2 (50%)" in view and "6Б 4/7 (57%)" in view
    assert "родитель 4/8 (50%)" in view
    assert "Смирнов Олег Павлович (5А)" in view and "Родителев4 Павел Ильич (6Б)" in view
    assert "Иванова Елена" not in view
    # The class teacher of 5А: her class only.
    calls = await h.press(CLASS_TEACHER, "aka:view:1:")
    own = texts(calls)[0]
    assert "Подтвердили: 1 из 2 (50%)" in own and "Смирнов Олег Павлович" in own and "Родителев4" not in own
    # She reminds her class: only Олег (the one of 5А who has not confirmed); once a day.
    calls = await h.press(CLASS_TEACHER, "aka:remind:1:")
    assert alerts(calls) == ["Напоминание отправлено: 1."]
    reminders = await queued(h, "ack:1:remind:%")
    assert [chat for _, chat, _, _ in reminders] == [PARENT_ONE]
    assert alerts(await h.press(CLASS_TEACHER, "aka:remind:1:")) == [
        "Сегодня напоминание этому классу уже отправлено."]
    # Олег confirms before the reminder goes out (it waits for working hours): it is cancelled.
    await h.press(PARENT_ONE, "ack:1")
    assert [status for _, _, _, status in await queued(h, "ack:1:remind:%")] == ["cancelled"]
    # The next day the author reminds everyone left (the three parents of 6Б), never who confirmed.
    h.clock.advance(timedelta(days=1))
    calls = await h.press(IT_OFFICER, "aka:remind:1:")
    assert alerts(calls) == ["Напоминание отправлено: 3."]
    reminded = {chat for key, chat, _, status in await queued(h, "ack:1:remind:%") if status == "pending"}
    assert reminded == {tg for tg, _, _ in EXTRA_PARENTS[3:]}

    # The coverage goes to plan item 14 as the IT officer's proof.
    calls = await h.press(IT_OFFICER, "aka:plan:1:")
    assert alerts(calls) == ["Охват отправлен в отчёт по пункту плана (ждёт проверки)."]
    proof = await h.app.db.fetchone("SELECT item_number, body, status FROM task_proofs")
    assert proof is not None and proof["item_number"] == "14" and proof["status"] == "submitted"
    assert "подтвердили 5 из 8 (62%)" in proof["body"]


async def test_a_broadcast_asks_for_acknowledgement(harness: Harness) -> None:
    h = harness
    await big_school(h)
    await h.text(IT_OFFICER, "/broadcast")
    await h.press(IT_OFFICER, "bca:staff:")
    calls = await h.text(IT_OFFICER, "Инструкция по работе с журналом\nЗаполняйте журнал в день урока.")
    assert ("✍️ Отправить с «Ознакомлен(а)»", "aka:bc:0:") in buttons(calls[-1])
    calls = await h.press(IT_OFFICER, "aka:bc:0:")
    assert "адресатов 10" in texts(calls)[0]
    campaign = await h.app.db.fetchone("SELECT title, body, sha256, audience FROM ack_campaigns")
    assert campaign is not None and campaign["title"] == "Инструкция по работе с журналом"
    assert campaign["sha256"] == hashlib.sha256(campaign["body"].encode()).hexdigest()
    sent = await queued(h, "ack:1:send:%")
    assert len(sent) == 10 and sent[0][2].reply_markup == {
        "inline_keyboard": [[{"text": "✅ Ознакомлен(а)", "callback_data": "ack:1"}]]}
    # No plain broadcast went out beside it.
    assert await queued(h, "bc:%") == []


async def test_an_accepted_local_act_goes_out_to_be_read(harness: Harness) -> None:
    """Item 6's package of local acts, accepted as the IT officer's proof, is sent by the director to
    the staff asking for «Ознакомлен(а)», as evidence for item 6."""
    h = harness
    await big_school(h)
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    assert officer is not None
    h.bot.session.files["file-act"] = PDF
    h.bot.session.files["documents/file-act"] = PDF
    snap = await h.app.services.tasks.snapshot()
    item = snap.item("6")
    assert item is not None
    key = snap.current_tasks(item, h.clock.now().date())[0].key
    proof_id = await h.app.services.task_actions.submit_proof(
        officer, "6", key, ProofInput(kind="document", body=None, file_id="file-act", file_unique_id="u-act",
                                      file_name="Положение_об_ЭЖ.pdf"))
    calls = await h.press(DIRECTOR, f"tpr:accept:{proof_id}")
    assert ("✍️ Отправить на ознакомление", f"aka:proof:{proof_id}:") in buttons(calls[-1])
    calls = await h.press(DIRECTOR, f"aka:proof:{proof_id}:")
    assert "Кому отправить?" in texts(calls)[-1]
    calls = await h.press(DIRECTOR, "aka:aud:0:staff")
    assert "Пункт 6" in texts(calls)[0]
    calls = await h.press(DIRECTOR, "aka:create:0:")
    assert "адресатов 10" in texts(calls)[0]
    campaign = await h.app.db.fetchone("SELECT plan_item, sha256, file_name FROM ack_campaigns")
    assert campaign is not None and campaign["plan_item"] == "6"
    assert campaign["sha256"] == hashlib.sha256(PDF).hexdigest()
    # A teacher (not an author) cannot do it with a hand-made button.
    calls = await h.press(TEACHER, f"aka:proof:{proof_id}:")
    assert await h.app.db.fetchval("SELECT count(*) FROM ack_campaigns") == 1
