"""The bot's profile and chat settings: getMe, commands, descriptions, the menu button, getChat and
chat actions."""

from __future__ import annotations

import json
from typing import Any

from bot.fakeapi.errors import bad_request
from bot.fakeapi.params import Params, Uploads
from bot.fakeapi.state import FakeState, MethodHandler


async def get_me(state: FakeState, params: Params, uploads: Uploads) -> Any:
    return state.bot_user() | {
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def scope_key(scope: Any, language_code: Any) -> tuple[str, str]:
    """Where a command list is kept: one per BotCommandScope and language."""
    scope = scope or {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    normalized = {k: int(v) if k in {"chat_id", "user_id"} else v for k, v in scope.items()}
    return json.dumps(normalized, sort_keys=True), str(language_code or "")


async def set_my_commands(state: FakeState, params: Params, uploads: Uploads) -> Any:
    commands = params.get("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    for command in commands:
        name = str(command.get("command", "")) if isinstance(command, dict) else ""
        name = name.removeprefix("/")
        if not 1 <= len(name) <= 32 or not all(c.islower() or c.isdigit() or c == "_" for c in name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description must be non-empty")
    key = scope_key(params.get("scope"), params.get("language_code"))
    if commands:
        state.my_commands[key] = [
            {"command": c["command"].removeprefix("/"), "description": c["description"]} for c in commands
        ]
    else:
        state.my_commands.pop(key, None)
    return True


async def get_my_commands(state: FakeState, params: Params, uploads: Uploads) -> Any:
    return state.my_commands.get(scope_key(params.get("scope"), params.get("language_code")), [])


async def delete_my_commands(state: FakeState, params: Params, uploads: Uploads) -> Any:
    state.my_commands.pop(scope_key(params.get("scope"), params.get("language_code")), None)
    return True


def description_setter(field: str, limit: int) -> MethodHandler:
    """setMyDescription / setMyShortDescription: ``field`` up to ``limit`` characters per language."""

    async def handler(state: FakeState, params: Params, uploads: Uploads) -> Any:
        text = str(params.get(field) or "")
        if len(text) > limit:
            raise bad_request(f"{field.upper()}_INVALID")
        state.descriptions[(field, str(params.get("language_code") or ""))] = text
        return True

    return handler


def description_getter(field: str) -> MethodHandler:
    async def handler(state: FakeState, params: Params, uploads: Uploads) -> Any:
        return {field: state.descriptions.get((field, str(params.get("language_code") or "")), "")}

    return handler


async def set_chat_menu_button(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = params.get("chat_id")
    button = params.get("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or "type" not in button:
        raise bad_request("can't parse menu button JSON object")
    state.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
    return True


async def get_chat_menu_button(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = params.get("chat_id")
    key = chat_id if isinstance(chat_id, int) else None
    return state.menu_buttons.get(key) or state.menu_buttons.get(None) or {"type": "default"}


async def get_chat(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    return state.chat(chat_id) | {
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


async def send_chat_action(state: FakeState, params: Params, uploads: Uploads) -> Any:
    chat_id = state.target_chat(params)
    action = params.get("action")
    if not action:
        raise bad_request("action is empty")
    state.chat_actions.append((chat_id, str(action)))
    return True
