"""The Bot API methods the fake implements: one handler per method, looked up by name.

Telegram matches method names case-insensitively; the table keeps the canonical spelling, which is
what requests, stats and faults are recorded under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from bot.fakeapi import callbacks, media, messages, profile, updates
from bot.fakeapi.state import MethodHandler


@dataclass(frozen=True)
class Method:
    name: str  # canonical spelling, e.g. "sendMessage"
    handler: MethodHandler


_ALL: Final = (
    Method("getMe", profile.get_me),
    Method("getUpdates", updates.get_updates),
    Method("deleteWebhook", updates.delete_webhook),
    Method("getWebhookInfo", updates.get_webhook_info),
    Method("setMyCommands", profile.set_my_commands),
    Method("getMyCommands", profile.get_my_commands),
    Method("deleteMyCommands", profile.delete_my_commands),
    Method("sendMessage", messages.send_message),
    Method("sendPhoto", media.send_photo),
    Method("sendDocument", media.send_document),
    Method("sendMediaGroup", media.send_media_group),
    Method("copyMessage", messages.copy_message),
    Method("editMessageText", messages.edit_message_text),
    Method("editMessageCaption", messages.edit_message_caption),
    Method("editMessageReplyMarkup", messages.edit_message_reply_markup),
    Method("deleteMessage", messages.delete_message),
    Method("answerCallbackQuery", callbacks.answer_callback_query),
    Method("getFile", media.get_file),
    Method("sendChatAction", profile.send_chat_action),
    Method("setChatMenuButton", profile.set_chat_menu_button),
    Method("getChatMenuButton", profile.get_chat_menu_button),
    Method("getChat", profile.get_chat),
    Method("setMyDescription", profile.description_setter("description", 512)),
    Method("setMyShortDescription", profile.description_setter("short_description", 120)),
    Method("getMyDescription", profile.description_getter("description")),
    Method("getMyShortDescription", profile.description_getter("short_description")),
)
METHODS: Final[Mapping[str, Method]] = MappingProxyType({method.name.lower(): method for method in _ALL})


def resolve(name: str) -> Method | None:
    """The implemented method called ``name`` in any letter case (None when not implemented)."""
    return METHODS.get(name.lower())


def canonical(name: str) -> str:
    """``name`` spelled as the Bot API spells it; an unknown name stays as given."""
    method = resolve(name)
    return method.name if method else name
