"""A press whose effect committed still gets its answer when the worker handling it fails, is
cancelled or dies before answering (#27): the consent receipt, the code card. The effect happens
once, the answer arrives once; the redelivered press is still dropped as done.

Through the real Dispatcher: the first delivery's answer send fails (the messenger refuses it, or
the task is cancelled as it sends, as a stopping worker's is), or the worker "dies" (its held
answers are left to another worker); then the platform delivers the same update again, to this
worker and to another one that did not see it handled; then the outbox's sender runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import AnswerCallbackQuery, SendMessage, SendPhoto, TelegramMethod

from bot.channels import Channel
from bot.domain.messages import Payload
from bot.services.surveys import AnswerResult, Audience
from bot.tg.callbacks import CodeActivated, CodeShow, CodeTrouble
from bot.tg.limiter import SendLimiter
from storage import outbox as outbox_storage
from storage import workers
from storage.codes import CodeRepo
from storage.consent import ConsentRepo
from tests.codes_helpers import CODES, load_school, person_id
from tests.consent_helpers import consent_menu, school
from tests.harness import CLASS_TEACHER, IT_OFFICER, PARENT_TWO, TEACHER, Harness
from tests.help_helpers import linked_school
from tests.mocked_bot import MockedBot
from tests.surveys_helpers import big_school
from tests.test_acks import _send_document as send_ack_document
from tests.test_surveys_bot import create_staff_survey, press_label
from tests.test_tasks import local as local_time
from tests.test_tasks import seed as seed_tasks

MISHA = "Иванов Миша Андреевич"
ELENA = "Иванова Елена Викторовна"


def _press(update_id: int, user_id: int, data: str) -> dict[str, Any]:
    """A press with a fixed update id and callback id: the platform delivers it again as it is."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Елена", "language_code": "ru"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 5,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": 42, "is_bot": True, "first_name": "SchoolBot"},
                "text": "…",
            },
        },
    }


@contextmanager
def failing(bot: MockedBot, error: BaseException, when: Callable[[TelegramMethod[Any]], bool]) -> Iterator[None]:
    """The first request matching ``when`` fails with ``error`` (recorded: it was attempted)."""
    session = bot.session
    real = session.make_request
    spent = False

    async def make_request(b: Any, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        nonlocal spent
        if not spent and when(method):
            spent = True
            session.calls.append(method)
            raise error
        return await real(b, method, timeout)

    session.make_request = make_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        session.make_request = real  # type: ignore[method-assign]


def _is_receipt(method: TelegramMethod[Any]) -> bool:
    return isinstance(method, SendMessage) and "Квитанция" in method.text


CRASHES: dict[str, BaseException] = {
    # The messenger refused the send (the network, a 5xx): the handler raises after the commit.
    "send_failed": TelegramNetworkError(method=SendMessage(chat_id=0, text="-"), message="connection reset"),
    # The task is cancelled right after the commit, as it sends (a stopping worker cancels it).
    "cancelled": asyncio.CancelledError(),
}


async def _deliver(h: Harness, update: dict[str, Any]) -> None:
    with suppress(asyncio.CancelledError):
        await h.feed(dict(update))


async def _redeliver(h: Harness, update: dict[str, Any]) -> list[TelegramMethod[Any]]:
    """The platform delivers the same update again: to this worker, then to another one that did not
    see it handled (its memory of handled updates does not have it; the database does)."""
    calls = await h.feed(dict(update))
    h.app.db._processed.discard(update["update_id"])  # another worker's memory
    return calls + await h.feed(dict(update))


HANDLED = "Это нажатие уже обработано."


def _quiet(calls: list[TelegramMethod[Any]]) -> bool:
    """A redelivered press sends nothing again: its spinner is stopped, with a word that it was
    handled (another worker that reads before it writes may answer the press as a new one would)."""
    return all(isinstance(c, AnswerCallbackQuery) for c in calls) and any(
        isinstance(c, AnswerCallbackQuery) and c.text == HANDLED for c in calls)


async def _drain(h: Harness) -> list[TelegramMethod[Any]]:
    """What the outbox's sender sends (another worker's sender, which takes over a dead one's rows),
    round after round, its pacing's clock moved on between rounds (a chat takes a message a second)."""
    mark = len(h.bot.calls)
    sender = h.app.new_sender(h.bot, rate=1000)
    pace = [0.0]
    sender.limiter.close()
    sender.limiter = SendLimiter(rate=1000, now=lambda: pace[0])
    await sender.repo.release_orphans()
    idle = 0
    while idle < 2:
        idle = 0 if await sender.drain_once() else idle + 1
        pace[0] += 2.0
    sender.limiter.close()
    return h.bot.calls[mark:]


async def _agree(h: Harness) -> dict[str, Any]:
    await school(h)
    keys = await consent_menu(h, PARENT_TWO)
    return _press(9001, PARENT_TWO, keys["✅ Согласна: Миша"])


async def _ledger(h: Harness) -> list[tuple[int, str]]:
    return [(r.child_id, r.decision) for r in await ConsentRepo.ledger_rows(h.app.db.conn)]


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_a_receipt_whose_send_failed_after_the_commit_arrives_once(harness: Harness, crash: str) -> None:
    h = harness
    update = await _agree(h)
    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], _is_receipt):
        await _deliver(h, update)
    assert len(await _ledger(h)) == 1  # the decision committed; its receipt did not go out
    assert _quiet(await _redeliver(h, update))  # the redelivery has no effect: dropped as done
    await _drain(h)
    receipts = [c for c in h.bot.calls[mark:] if _is_receipt(c)]
    # The failed attempt, then the outbox's send: the parent has exactly one receipt.
    assert len(receipts) == 2, [type(c).__name__ for c in h.bot.calls[mark:]]
    got = receipts[-1]
    assert isinstance(got, SendMessage) and got.chat_id == PARENT_TWO
    rows = await ConsentRepo.ledger_rows(h.app.db.conn)
    assert len(rows) == 1 and rows[0].receipt_id in got.text and "согласие дано" in got.text
    assert await _drain(h) == [] and _quiet(await _redeliver(h, update))  # and nothing more, ever


def _dead_owner() -> str:
    """The owner id of a process of this host that has ended (as a SIGKILLed worker's)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return f"{workers.host_id()}#{int(child.stdout)}#deadbeef0000"


async def test_a_receipt_held_by_a_worker_that_died_after_the_commit_is_sent_by_another(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker dies between the commit and its send (SIGKILL: no code of it runs any more). Its
    held answer is freed by another worker's sender, which sends it."""
    h = harness
    update = await _agree(h)
    mark = len(h.bot.calls)
    dead = _dead_owner()
    monkeypatch.setattr(outbox_storage, "answers_owner", lambda: dead)

    async def nothing_runs_any_more(*args: Any, **kwargs: Any) -> int:
        return 0

    monkeypatch.setattr(outbox_storage.OutboxRepo, "release_answers", staticmethod(nothing_runs_any_more))
    with failing(h.bot, asyncio.CancelledError(), _is_receipt):
        await _deliver(h, update)
    held = await h.app.db.fetchall("SELECT lease_owner, status FROM outbox WHERE dedupe_key LIKE 'receipt:%'")
    assert [(r[0], r[1]) for r in held] == [(dead, "pending")]
    assert _quiet(await _redeliver(h, update))
    sent = [c for c in await _drain(h) if _is_receipt(c)]
    assert len(sent) == 1 and isinstance(sent[0], SendMessage) and sent[0].chat_id == PARENT_TWO
    assert len(await _ledger(h)) == 1
    assert [c for c in h.bot.calls[mark:] if _is_receipt(c)][-1] is sent[0]


async def test_a_receipt_given_by_the_handler_is_recorded_sent_and_never_sent_again(harness: Harness) -> None:
    h = harness
    update = await _agree(h)
    calls = await h.feed(dict(update))
    receipts = [c for c in calls if _is_receipt(c)]
    assert len(receipts) == 1
    # The receipt is the press's own answer, in its chat, before the refreshed screen.
    assert calls.index(receipts[0]) < max(i for i, c in enumerate(calls) if type(c).__name__ == "EditMessageText")
    row = await h.app.db.fetchone(
        "SELECT o.status, o.tg_message_id, o.priority, a.channel, a.user_id FROM outbox o"
        " JOIN accounts a ON a.id = o.account_id WHERE o.dedupe_key LIKE 'receipt:%'"
    )
    assert row is not None and row[0] == "sent" and row[1] is not None
    assert (row[2], row[3], row[4]) == (0, Channel.TELEGRAM.value, PARENT_TWO)
    assert not [c for c in await _drain(h) if _is_receipt(c)]
    assert _quiet(await _redeliver(h, update))


# --- the code card a press asks for ----------------------------------------------------------------


async def _give_consent(h: Harness) -> None:
    parent = await h.app.people.get(await person_id(h.app, ELENA))
    child = await h.app.people.get(await person_id(h.app, MISHA))
    assert parent is not None and child is not None
    version = await h.app.services.consent.current()
    await h.app.services.consent.open_document(parent, child, "ru")
    await h.app.services.consent.decide(
        parent=parent, child_ids=[child.id], decision="given", version=version.number, channel=Channel.TELEGRAM,
        user_id=PARENT_TWO, update_id=None, callback_id="cb-given",
    )


def _is_card(method: TelegramMethod[Any]) -> bool:
    """Misha's card, to his mother (her own card, released with the consent, may still be on its way:
    the sender keeps a second between two messages to one chat)."""
    return isinstance(method, SendPhoto) and method.chat_id == PARENT_TWO and MISHA in (method.caption or "")


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_a_code_card_whose_send_failed_after_the_request_committed_arrives_once(
    harness: Harness, crash: str,
) -> None:
    h = harness
    await load_school(h.app)
    await h.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(h)
    await _drain(h)  # the cards the consent released went out; the press asks for Misha's again
    misha = await person_id(h.app, MISHA)
    update = _press(9101, PARENT_TWO, CodeShow(person_id=misha).pack())
    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], _is_card):
        await _deliver(h, update)
    # The request committed (its ten minutes run), the card did not go out. The redelivery has no
    # effect and sends no card; another worker, which reads the ten minutes before it would write,
    # may say the card was just shown (it is on its way).
    assert _quiet(await _redeliver(h, update))
    await _drain(h)
    cards = [c for c in h.bot.calls[mark:] if _is_card(c)]
    assert len(cards) == 2, [type(c).__name__ for c in h.bot.calls[mark:]]  # the failed attempt, then one
    card = cards[-1]
    assert isinstance(card, SendPhoto) and card.protect_content
    assert CODES[MISHA] not in (card.caption or "")  # the code is in the picture only
    requests = await h.app.db.fetchall(
        "SELECT o.status FROM code_deliveries d JOIN outbox o ON o.dedupe_key = d.outbox_key"
        " WHERE d.reason = 'request' AND d.recipient_id = ?", (await person_id(h.app, ELENA),)
    )
    assert [r[0] for r in requests] == ["sent"]
    assert not [c for c in await _drain(h) if _is_card(c)]
    # The rate limit counts the request that was answered: a press within ten minutes waits.
    again = await h.press(PARENT_TWO, CodeShow(person_id=misha).pack())
    assert not [c for c in again if _is_card(c)]
    h.clock.advance(timedelta(minutes=11))
    assert len([c for c in await h.press(PARENT_TWO, CodeShow(person_id=misha).pack()) if _is_card(c)]) == 1


# --- the consent document a press opens ------------------------------------------------------------


def _agree_buttons(calls: list[TelegramMethod[Any]]) -> list[TelegramMethod[Any]]:
    return [c for c in calls if isinstance(c, SendMessage) and "✅ Согласна: Миша" in str(c.reply_markup)]


def _document_start(method: TelegramMethod[Any]) -> bool:
    """The first of the messages the document is cut into (bot/tg/wire_text.py)."""
    return isinstance(method, SendMessage) and method.text.rstrip().endswith(")") and "(1/" in method.text


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_an_opened_document_whose_send_failed_after_the_opening_committed_arrives_once(
    harness: Harness, crash: str,
) -> None:
    """The opening is recorded (it is what lets the parent agree, and the ledger will say the text was
    shown): the text and the screen with the agree button reach the parent, once."""
    h = harness
    await school(h)
    first = [c for c in await h.text(PARENT_TWO, "/consent") if isinstance(c, SendMessage)][-1]
    read = next(b.callback_data for row in first.reply_markup.inline_keyboard  # type: ignore[union-attr]
                for b in row if b.text == "📄 Прочитать документ: Миша")
    assert read is not None
    update = _press(9201, PARENT_TWO, read)
    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], _document_start):
        await _deliver(h, update)
    assert await h.app.db.fetchval("SELECT count(*) FROM consent_reads") == 1
    # The redelivery sends nothing (another worker stops the press's spinner before it finds the
    # update done: the handler answers the press before it writes).
    assert _quiet(await _redeliver(h, update))
    await _drain(h)
    calls = h.bot.calls[mark:]
    starts = [i for i, c in enumerate(calls) if _document_start(c)]
    assert len(starts) == 2, [type(c).__name__ for c in calls]  # the failed attempt, then the outbox's
    agree = _agree_buttons(calls)
    assert len(agree) == 1 and calls.index(agree[0]) > starts[-1]  # the screen after the text, once
    assert await h.app.db.fetchval("SELECT count(*) FROM consent_reads") == 1
    assert not _agree_buttons(await _drain(h))


# --- a survey's answer and the question that follows -----------------------------------------------


def _question_two(method: TelegramMethod[Any]) -> bool:
    return isinstance(method, SendMessage) and "Вопрос 2 из 5" in method.text


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_the_next_question_whose_send_failed_after_the_answer_committed_arrives_once(
    harness: Harness, crash: str,
) -> None:
    h = harness
    await big_school(h)
    await create_staff_survey(h)
    calls = await h.press(TEACHER, "svy:open:1:0:0:0")
    update = _press(9301, TEACHER, press_label(calls, "4"))
    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], _question_two):
        await _deliver(h, update)
    answers = "SELECT question, value FROM survey_answers WHERE survey_id = 1"
    assert [tuple(r) for r in await h.app.db.fetchall(answers)] == [(0, "4")]
    assert _quiet(await _redeliver(h, update))
    await _drain(h)
    asked = [c for c in h.bot.calls[mark:] if _question_two(c)]
    assert len(asked) == 2, [type(c).__name__ for c in h.bot.calls[mark:]]  # the failed attempt, then one
    # The question arrives with its buttons: the teacher answers it and goes on.
    calls = await h.press(TEACHER, press_label(asked[-1:], "Пробовал(а)"))
    assert "Вопрос 3 из 5" in [c for c in calls if isinstance(c, SendMessage)][-1].text
    assert len(await h.app.db.fetchall(answers)) == 2
    assert not [c for c in await _drain(h) if _question_two(c)]


async def test_an_anonymous_survey_keeps_no_queued_question_after_closing(harness: Harness) -> None:
    """A queued follow-up shows the respondent's current answer to the next question (walking through
    their answers again): an anonymous survey's close, which unties people from answers, deletes it."""
    h = harness
    await big_school(h)
    surveys = h.app.services.surveys
    officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
    teacher = await h.app.people.by_account(Channel.TELEGRAM, TEACHER)
    assert officer is not None and teacher is not None
    sid, _, _ = await surveys.create(officer, surveys.templates["training_feedback"], Audience("role", "teacher"), 3,
                                     anonymous=True)

    def then(result: AnswerResult) -> Payload:
        return Payload(text=f"Вопрос 2. Ваш ответ: {result.answers.get(1)!r}-secret")

    await surveys.choose(teacher, sid, 0, 3, then)
    await surveys.choose(teacher, sid, 1, 0)
    await surveys.choose(teacher, sid, 0, 2, then)  # walking again: the follow-up shows the answer to 1
    queued = "SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'survey-next:%'"
    assert await h.app.db.fetchval(queued) == 2
    assert await h.app.db.fetchval("SELECT count(*) FROM outbox WHERE payload LIKE '%0-secret%'") == 1
    await surveys.close_now(officer, sid)
    assert await h.app.db.fetchval(queued) == 0
    assert await h.app.db.fetchone("SELECT 1 FROM outbox WHERE payload LIKE '%-secret%'") is None


# --- «Ознакомлен(а)» and its note ------------------------------------------------------------------


def _ack_note(method: TelegramMethod[Any]) -> bool:
    return isinstance(method, SendMessage) and "Вы ознакомились с документом" in method.text


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_an_acknowledgement_note_whose_send_failed_after_the_commit_arrives_once(
    harness: Harness, crash: str,
) -> None:
    h = harness
    await big_school(h)
    await send_ack_document(h)
    update = _press(9401, PARENT_TWO, "ack:1")
    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], _ack_note):
        await _deliver(h, update)
    assert await h.app.db.fetchval("SELECT count(*) FROM ack_confirmations") == 1
    assert _quiet(await _redeliver(h, update))
    await _drain(h)
    notes = [c for c in h.bot.calls[mark:] if _ack_note(c)]
    assert len(notes) == 2, [type(c).__name__ for c in h.bot.calls[mark:]]  # the failed attempt, then one
    assert isinstance(notes[-1], SendMessage) and notes[-1].chat_id == PARENT_TWO
    assert "«Положение об ЭЖ»" in notes[-1].text
    assert not [c for c in await _drain(h) if _ack_note(c)]
    assert await h.app.db.fetchval("SELECT count(*) FROM ack_confirmations") == 1


# --- any other press ---------------------------------------------------------------------------------


async def test_a_press_delivered_again_after_it_was_handled_is_told_so_not_met_with_silence(
    harness: Harness,
) -> None:
    """A press whose answer is only its toast ("activated: thank you") and whose worker died before
    it: delivered again, it is not handled twice, and its spinner stops with a word that it was
    handled, on this worker and on another one."""
    h = harness
    await load_school(h.app)
    await h.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(h)
    misha_code = (await CodeRepo(h.app.db).active_for([await person_id(h.app, MISHA)]))[0]
    update = _press(9501, PARENT_TWO, CodeActivated(code_id=misha_code.id).pack())
    with failing(h.bot, asyncio.CancelledError(), lambda m: isinstance(m, AnswerCallbackQuery)):
        await _deliver(h, update)
    activated = await CodeRepo(h.app.db).get(misha_code.id)
    assert activated is not None and activated.activated_at is not None
    calls = await _redeliver(h, update)
    assert [c.text for c in calls if isinstance(c, AnswerCallbackQuery)] == [HANDLED, HANDLED], calls
    assert _quiet(calls)
    # A message has no spinner: delivered again, it is skipped without a word.
    contact = {"update_id": 9502, "message": {
        "message_id": 77, "date": int(time.time()), "chat": {"id": PARENT_TWO, "type": "private"},
        "from": {"id": PARENT_TWO, "is_bot": False, "first_name": "Елена", "language_code": "ru"}, "text": "/codes",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
    assert await h.feed(dict(contact)) and await h.feed(dict(contact)) == []


# --- a question to the IT officer, typed ------------------------------------------------------------


def _ticket_sent(method: TelegramMethod[Any]) -> bool:
    return isinstance(method, SendMessage) and method.text.startswith("Вопрос №1 отправлен")


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_a_question_whose_confirmation_failed_after_the_commit_is_confirmed_once(
    harness: Harness, crash: str,
) -> None:
    """A typed message has no spinner: the confirmation that the question went through is what the
    asker waits for (without it they ask again); queued with the question, it arrives once."""
    h = harness
    await linked_school(h, IT_OFFICER, PARENT_TWO)
    update = {"update_id": 9601, "message": {
        "message_id": 601, "date": int(time.time()), "chat": {"id": PARENT_TWO, "type": "private"},
        "from": {"id": PARENT_TWO, "is_bot": False, "first_name": "Елена", "language_code": "ru"},
        "text": "/ask Не приходит СМС с кодом", "entities": [{"type": "bot_command", "offset": 0, "length": 4}]}}
    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], _ticket_sent):
        await _deliver(h, update)
    assert await h.app.db.fetchval("SELECT count(*) FROM tickets") == 1
    assert await _redeliver(h, update) == []  # a message delivered again: skipped without a word
    await _drain(h)
    sent = [c for c in h.bot.calls[mark:] if _ticket_sent(c)]
    assert len(sent) == 2, [type(c).__name__ for c in h.bot.calls[mark:]]  # the failed attempt, then one
    assert isinstance(sent[-1], SendMessage) and sent[-1].chat_id == PARENT_TWO
    assert not [c for c in await _drain(h) if _ticket_sent(c)]
    assert await h.app.db.fetchval("SELECT count(*) FROM tickets") == 1


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_a_code_trouble_report_whose_confirmation_failed_after_the_commit_is_confirmed_once(
    harness: Harness, crash: str,
) -> None:
    h = harness
    await load_school(h.app)
    await h.contact(PARENT_TWO, "+79000000005", PARENT_TWO)
    await _give_consent(h)
    misha_code = (await CodeRepo(h.app.db).active_for([await person_id(h.app, MISHA)]))[0]
    update = _press(9701, PARENT_TWO, CodeTrouble(code_id=misha_code.id).pack())
    confirmation = h.app.catalog.text("ru", "codes.trouble_ok")

    def confirmed(method: TelegramMethod[Any]) -> bool:
        return isinstance(method, SendMessage) and method.text == confirmation

    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], confirmed):
        await _deliver(h, update)
    assert await h.app.db.fetchval("SELECT count(*) FROM tickets") == 1
    assert _quiet(await _redeliver(h, update))
    await _drain(h)
    sent = [c for c in h.bot.calls[mark:] if confirmed(c)]
    assert len(sent) == 2, [type(c).__name__ for c in h.bot.calls[mark:]]  # the failed attempt, then one
    assert not [c for c in await _drain(h) if confirmed(c)]
    assert await h.app.db.fetchval("SELECT count(*) FROM tickets") == 1


# --- a plan task's proof, sent as a message ---------------------------------------------------------


@pytest.mark.parametrize("crash", sorted(CRASHES))
async def test_a_proof_whose_confirmation_failed_after_the_commit_is_confirmed_once(
    harness: Harness, crash: str,
) -> None:
    h = harness
    await seed_tasks(h.app)
    h.clock.set(local_time(h.app, "2027-01-25 10:00"))
    await h.press(CLASS_TEACHER, "tsk:done:11:2027-01-31")  # «Пришлите подтверждение»
    update = {"update_id": 9801, "message": {
        "message_id": 801, "date": int(time.time()), "chat": {"id": CLASS_TEACHER, "type": "private"},
        "from": {"id": CLASS_TEACHER, "is_bot": False, "first_name": "Ольга", "language_code": "ru"},
        "text": "Коды розданы на собрании"}}

    def confirmed(method: TelegramMethod[Any]) -> bool:
        return isinstance(method, SendMessage) and "отправлено на проверку" in method.text

    mark = len(h.bot.calls)
    with failing(h.bot, CRASHES[crash], confirmed):
        await _deliver(h, update)
    proofs = "SELECT count(*) FROM task_proofs"
    assert await h.app.db.fetchval(proofs) == 1
    # Delivered again: no second proof, no confirmation. (Another worker whose conversation state
    # lives apart from the database, in Redis, may read the text in the state the first run left,
    # no proof awaited, and answer it as such: the FAQ's "maybe the answer is here".)
    assert not [c for c in await _redeliver(h, update) if confirmed(c)]
    sent = [c for c in await _drain(h) if confirmed(c)]
    assert len(sent) == 1 and isinstance(sent[0], SendMessage) and sent[0].chat_id == CLASS_TEACHER
    assert len([c for c in h.bot.calls[mark:] if confirmed(c)]) == 2  # the failed attempt, then one
    assert not [c for c in await _drain(h) if confirmed(c)]
    assert await h.app.db.fetchval(proofs) == 1
