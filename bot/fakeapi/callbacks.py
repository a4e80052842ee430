"""Inline button presses and their answers: a callback query is answered at most once."""

from __future__ import annotations

from typing import Any

from bot.fakeapi.errors import bad_request
from bot.fakeapi.models import SentMessage
from bot.fakeapi.params import Params, Uploads
from bot.fakeapi.state import FakeState, Person


def query_id(state: FakeState, update_id: int) -> str:
    """The callback query id of the press delivered as ``update_id``."""
    return f"{state.bot_id}{update_id:08d}"


def press(state: FakeState, user: Person, message: SentMessage, button: str) -> int:
    """``user`` presses an inline button of ``message``; returns the callback_query's update_id."""
    current = state.message(message.chat_id, message.message_id)
    if current.chat_id != user.id:
        raise LookupError(f"message {current.message_id} was sent to chat {current.chat_id}, not {user.id}")
    if current.deleted:
        raise LookupError(f"message {current.message_id} in chat {current.chat_id} was deleted")
    spec = current.find_button(button)
    if "callback_data" not in spec:
        raise LookupError(f"inline button {button!r} has no callback_data (it is {spec!r})")
    update_id = state.updates.last_update_id + 1
    query = query_id(state, update_id)
    state.pending_callbacks[query] = update_id
    return state.push_update(
        {
            "update_id": update_id,
            "callback_query": {
                "id": query,
                "from": user.as_user(),
                "message": current.raw,
                "chat_instance": str(abs(hash((state.bot_id, current.chat_id)))),
                "data": spec["callback_data"],
            },
        }
    )


async def answer_callback_query(state: FakeState, params: Params, uploads: Uploads) -> Any:
    query = str(params.get("callback_query_id") or "")
    if query not in state.pending_callbacks:
        # Unknown and already-answered queries get the same answer from Telegram.
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    del state.pending_callbacks[query]
    state.callback_answers[query] = {
        key: params[key] for key in ("text", "show_alert", "url", "cache_time") if key in params
    }
    state.notify_messages()
    return True
