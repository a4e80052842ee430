"""The Bot API methods the fake implements: one handler per method, looked up by name.

Telegram matches method names case-insensitively; the table keeps the canonical spelling, which is
what requests, stats and faults are recorded under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from bot.fakeapi.callbacks import answer_callback_query
from bot.fakeapi.media import get_file, send_document, send_media_group, send_photo
from bot.fakeapi.messages import (
    copy_message,
    delete_message,
    edit_message_caption,
    edit_message_reply_markup,
    edit_message_text,
    send_message,
)
from bot.fakeapi.profile import (
    delete_my_commands,
    description_getter,
    description_setter,
    get_chat,
    get_chat_menu_button,
    get_me,
    get_my_commands,
    send_chat_action,
    set_chat_menu_button,
    set_my_commands,
)
from bot.fakeapi.state import MethodHandler
from bot.fakeapi.updates import get_updates
from bot.fakeapi.webhook import delete_webhook, get_webhook_info, set_webhook


@dataclass(frozen=True)
class Method:
    name: str  # canonical spelling, e.g. "sendMessage"
    handler: MethodHandler


_ALL: Final = (
    Method("getMe", get_me),
    Method("getUpdates", get_updates),
    Method("setWebhook", set_webhook),
    Method("deleteWebhook", delete_webhook),
    Method("getWebhookInfo", get_webhook_info),
    Method("setMyCommands", set_my_commands),
    Method("getMyCommands", get_my_commands),
    Method("deleteMyCommands", delete_my_commands),
    Method("sendMessage", send_message),
    Method("sendPhoto", send_photo),
    Method("sendDocument", send_document),
    Method("sendMediaGroup", send_media_group),
    Method("copyMessage", copy_message),
    Method("editMessageText", edit_message_text),
    Method("editMessageCaption", edit_message_caption),
    Method("editMessageReplyMarkup", edit_message_reply_markup),
    Method("deleteMessage", delete_message),
    Method("answerCallbackQuery", answer_callback_query),
    Method("getFile", get_file),
    Method("sendChatAction", send_chat_action),
    Method("setChatMenuButton", set_chat_menu_button),
    Method("getChatMenuButton", get_chat_menu_button),
    Method("getChat", get_chat),
    Method("setMyDescription", description_setter("description", 512)),
    Method("setMyShortDescription", description_setter("short_description", 120)),
    Method("getMyDescription", description_getter("description")),
    Method("getMyShortDescription", description_getter("short_description")),
)
METHODS: Final[Mapping[str, Method]] = MappingProxyType({method.name.lower(): method for method in _ALL})


def resolve(name: str) -> Method | None:
    """The implemented method called ``name`` in any letter case (None when not implemented)."""
    return METHODS.get(name.lower())


def canonical(name: str) -> str:
    """``name`` spelled as the Bot API spells it; an unknown name stays as given."""
    method = resolve(name)
    return method.name if method else name
