"""The fake MAX server holds requests and answers to the official MAX Bot API schema (v0.0.33)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram.exceptions import TelegramBadRequest

from bot.fakemax import SCHEMA_VERSION, FakeMax, SchemaViolation, load_schema
from bot.fakemax.schema import SCHEMA_PATH
from bot.max import make_max_bot

SCHEMA_SHA256 = "7e2fd072a67c6f830a02a55671eec88526f6a958b0c71ea4be96acecc3dd700b"


@pytest.fixture
async def mx() -> AsyncIterator[FakeMax]:
    async with FakeMax() as server:
        server.user(8001, "Ольга")
        yield server
    assert server.response_violations == []
    assert server.internal_errors == []


async def _post(mx: FakeMax, query: dict[str, str], body: Any, *, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": mx.token if token is None else token}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{mx.base_url}/messages", params=query, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


def test_the_vendored_schema_is_the_official_file_with_its_licence() -> None:
    assert hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert len(SCHEMA_PATH.read_text(encoding="utf-8")) == 126_787
    assert load_schema().version == SCHEMA_VERSION == "0.0.33"
    licence = (SCHEMA_PATH.parent / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence
    notice = (SCHEMA_PATH.parent / "NOTICE").read_text(encoding="utf-8")
    assert "max-messenger/api-schema" in notice and "0.0.33" in notice


async def test_a_well_formed_message_is_accepted(mx: FakeMax) -> None:
    body = {
        "text": "<b>Здравствуйте</b>",
        "format": "html",
        "attachments": [
            {"type": "inline_keyboard", "payload": {"buttons": [[{"type": "callback", "text": "Да", "payload": "y"}]]}}
        ],
    }
    status, answer = await _post(mx, {"user_id": "8001"}, body)
    assert status == 200, answer
    assert answer["message"]["body"]["text"] == "<b>Здравствуйте</b>"


@pytest.mark.parametrize(
    ("query", "body", "named"),
    [
        ({"user_id": "8001"}, {"text": "я" * 4001}, "text: "),  # longer than MAX's 4000 characters
        ({"user_id": "8001"}, {"text": "x", "format": "HTML"}, "format: 'HTML' is not one of"),
        (
            {"user_id": "8001"},
            {
                "text": "x",
                "attachments": [
                    {"type": "inline_keyboard", "payload": {"buttons": [[{"type": "callback", "text": "Да"}]]}}
                ],
            },
            "'payload' is a required property",
        ),
        ({"user_id": "8001"}, {"text": "x", "attachments": [{"type": "poll"}]}, "type 'poll' is not one of"),
        (
            {"user_id": "8001"},
            {
                "text": "x",
                "attachments": [{"type": "inline_keyboard", "payload": {"buttons": [[{"type": "link", "text": ""}]]}}],
            },
            "'url' is a required property",
        ),
        ({"user_id": "Ольга"}, {"text": "x"}, "query parameter user_id"),
        ({"user_id": "8001"}, {"text": 5}, "text: 5 is not of type 'string'"),
    ],
)
async def test_a_malformed_request_is_refused_with_400(
    mx: FakeMax, query: dict[str, str], body: Any, named: str
) -> None:
    status, answer = await _post(mx, query, body)
    assert status == 400
    assert answer["code"] == "proto.payload"
    assert named in answer["message"]
    assert mx.sent(8001) == []
    assert mx.stats.refused_schema == 1


async def test_authorization_and_unknown_paths(mx: FakeMax) -> None:
    status, answer = await _post(mx, {"user_id": "8001"}, {"text": "x"}, token="wrong")
    assert (status, answer["code"]) == (401, "verify.token")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{mx.base_url}/bot123/getMe", headers={"Authorization": mx.token}) as resp:
            assert resp.status == 404


async def test_the_session_surfaces_a_schema_refusal_as_bad_request(mx: FakeMax) -> None:
    bot = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id)
    try:
        with pytest.raises(TelegramBadRequest, match="proto.payload"):
            await bot.send_message(8001, "я" * 4001)
    finally:
        await bot.session.close()


def test_a_response_breaking_the_schema_is_caught() -> None:
    schema = load_schema()
    found = schema.match("POST", "/messages")
    assert found is not None
    operation, _ = found
    good = {
        "message": {
            "recipient": {"chat_id": 1, "chat_type": "dialog", "user_id": 2},
            "timestamp": 1,
            "body": {"mid": "mid.1", "seq": 1, "text": "x"},
        }
    }
    schema.check_response(operation, 200, good)
    with pytest.raises(SchemaViolation, match="'seq' is a required property"):
        schema.check_response(operation, 200, {"message": {**good["message"], "body": {"mid": "mid.1"}}})
    with pytest.raises(SchemaViolation, match="'code' is a required property"):
        schema.check_response(operation, 400, {"message": "no code"})


async def test_an_update_breaking_the_schema_cannot_be_queued(mx: FakeMax) -> None:
    with pytest.raises(SchemaViolation, match="'callback' is a required property"):
        mx.push_update({"update_type": "message_callback", "timestamp": 1})
    with pytest.raises(SchemaViolation, match="is not one of"):
        mx.push_update({"update_type": "message_exploded", "timestamp": 1})


async def test_every_answer_of_a_session_run_validates(mx: FakeMax) -> None:
    """Each recorded answer is validated again, independently of the server's own check."""
    bot = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id)
    olga = mx.user(8001, "Ольга")
    try:
        await bot.get_me()
        sent = await bot.send_message(olga.id, "<i>раз</i>", parse_mode="HTML")
        await bot.edit_message_text("два", chat_id=olga.id, message_id=sent.message_id)
        await olga.send("привет")
        updates = await bot.get_updates(timeout=0)
        assert [u.message.text for u in updates if u.message] == ["привет"]
        await bot.delete_message(olga.id, sent.message_id)
        await bot.get_updates(timeout=0)
    finally:
        await bot.session.close()
    schema = load_schema()
    checked = 0
    for record in mx.requests:
        assert record.operation_id is not None and record.status is not None
        found = schema.match(record.method, record.path)
        assert found is not None
        schema.check_response(found[0], record.status, record.response)
        assert record.status == 200, record.response
        checked += 1
    assert checked == 6
    assert {r.operation_id for r in mx.requests} == {
        "getMyInfo", "sendMessage", "editMessage", "getUpdates", "deleteMessage"
    }  # fmt: skip
