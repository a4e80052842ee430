"""Messengers the bot speaks and which kinds of data each may carry (issue #17, item 5).

Pure Python, no aiogram: services and the outbox decide with it; the wires only carry.

Russian law bars a municipal school from passing citizens' personal data through foreign messengers on
Roskomnadzor's list, Telegram among them (149-FZ art. 10 part 8). So every outgoing message carries a
``DataClass`` and ``school.toml`` says, per channel, which classes that channel may carry. The default
for a municipal school: Telegram carries public notices only (reminders, FAQ answers, notices without
personal data); MAX, the national messenger, carries everything. A message a channel may not carry is
replaced there by a pointer to a channel that may, or to paper from the class teacher (bot/tg/policy.py).

``[channels]`` in school.toml (every key optional)::

    [channels]
    operator = "municipal"                   # or "state"; "private" only for a school that is neither
    telegram = ["public"]                    # classes Telegram may carry
    max = ["public", "personal", "child_personal", "credential", "personal_file"]

Safe by default (issue #22): without the section, or without ``operator``, the school is taken for a
state or municipal body and Telegram carries public notices only, whatever else is served; asking for
more on Telegram is refused with a message saying why. Only ``operator = "private"`` (the school says
it is not a state or municipal body) lets Telegram carry more, everything unless ``telegram`` says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    """A wire the bot talks over. User ids of different channels are separate spaces: a Telegram
    user id and a MAX user id are never compared or stored in the same column."""

    TELEGRAM = "telegram"
    MAX = "max"

    @property
    def label(self) -> str:
        """The messenger's own name, for logs ("refused by MAX")."""
        return _LABELS.get(self.value, self.value)


_LABELS = {"telegram": "Telegram", "max": "MAX"}

# Each messenger's deep link that opens the bot with a start payload, and the payload it accepts.
# They live here, beside the messengers' names, rather than in bot/tg or bot/max: `schoolbot link`
# and `schoolbot admin-token` print them without loading a wire (aiogram), and the wires' own
# modules import aiogram on import. Telegram: `t.me/<bot>?start=`, 1-64 characters of A-Z a-z 0-9 _ -
# (core.telegram.org/bots/features#deep-linking). MAX: `max.ru/<bot>?start=`, up to 128 characters
# (dev.max.ru/help/deeplinks); the same alphabet keeps the payload intact in both.
_DEEP_LINKS = {
    "telegram": ("https://t.me/{bot}?start={payload}", 64),
    "max": ("https://max.ru/{bot}?start={payload}", 128),
}
_PAYLOAD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def deep_link(channel: Channel, bot_username: str, payload: str) -> str:
    """The link that opens ``bot_username`` in ``channel`` and sends it ``/start <payload>``."""
    form, limit = _DEEP_LINKS[channel.value]
    if not 0 < len(payload) <= limit or not set(payload) <= _PAYLOAD_CHARS:
        raise ValueError(f"a {channel.label} start payload is 1-{limit} characters of A-Z a-z 0-9 _ -")
    return form.format(bot=bot_username.lstrip("@"), payload=payload)


@dataclass
class ServedBots:
    """The messengers the running bot serves, in ``Channel`` order, and each bot's username as the
    messenger told it at start (None until then, or when it would not say)."""

    usernames: dict[Channel, str | None] = field(default_factory=dict)
    # Put before a start payload: a district bot serving the school (bot/multibot.py) learns the
    # school from it (``<school key>_<payload>``); empty for the school's own bots.
    payload_prefix: str = ""

    def serve(self, channel: Channel, username: str | None = None) -> None:
        self.usernames[channel] = username or self.usernames.get(channel)

    @property
    def channels(self) -> list[Channel]:
        return [channel for channel in Channel if channel in self.usernames]


class DataClass(StrEnum):
    """What an outgoing message contains, for the channel policy and the send log."""

    PUBLIC = "public"  # reminders, FAQ answers, notices without personal data
    PERSONAL = "personal"  # the recipient's own personal data (name, class, consent receipt)
    CHILD_PERSONAL = "child_personal"  # a child's personal data (name, class, consent state)
    CREDENTIAL = "credential"  # invitation codes, link tokens: secrets that open an account
    PERSONAL_FILE = "personal_file"  # a file carrying personal data (QR card, register, report)


ALL_CLASSES: frozenset[DataClass] = frozenset(DataClass)

DEFAULT_ALLOWED: Mapping[Channel, frozenset[DataClass]] = {
    Channel.TELEGRAM: frozenset({DataClass.PUBLIC}),
    Channel.MAX: ALL_CLASSES,
}


class Operator(StrEnum):
    """Who runs the school, as school.toml states it: the law on foreign messengers binds state and
    municipal bodies (149-FZ art. 10 part 8)."""

    MUNICIPAL = "municipal"
    STATE = "state"
    PRIVATE = "private"

    @property
    def bound(self) -> bool:
        """Whether 149-FZ art. 10 part 8 binds it (Telegram: public notices only)."""
        return self is not Operator.PRIVATE


class ChannelPolicyError(ValueError):
    """A bad ``[channels]`` section; the message names the key and the value."""


@dataclass(frozen=True)
class ChannelPolicy:
    """Which data classes each channel may carry."""

    allowed: Mapping[Channel, frozenset[DataClass]] = field(default_factory=lambda: dict(DEFAULT_ALLOWED))
    operator: Operator = Operator.MUNICIPAL

    def allows(self, channel: Channel, data_class: DataClass) -> bool:
        return data_class in self.allowed.get(channel, frozenset())

    def channels_for(self, data_class: DataClass, order: Iterable[Channel] = tuple(Channel)) -> list[Channel]:
        """The channels that may carry ``data_class``, in ``order`` (e.g. the person's preference first)."""
        return [channel for channel in order if self.allows(channel, data_class)]

    def route(self, data_class: DataClass, preferred: Channel, reachable: Iterable[Channel]) -> Route:
        """Where to send a message of ``data_class`` for a person who prefers ``preferred`` and can be
        reached on ``reachable``: the preferred channel when it may carry the class; else another
        reachable channel that may (fallback); else a pointer on the preferred channel (or on any
        reachable one) and the paper path."""
        reachable_list = list(dict.fromkeys(reachable))
        ordered = reachable_list
        if preferred in reachable_list:
            ordered = [preferred, *[c for c in reachable_list if c != preferred]]
        for channel in ordered:
            if self.allows(channel, data_class):
                return Route(channel=channel, pointer=False)
        if not ordered:
            return Route(channel=None, pointer=False)
        return Route(channel=ordered[0], pointer=True)


class ChannelRules:
    """The channel policy in force, one object for the whole bot: the root sets ``policy`` when it
    serves MAX or school.toml has ``[channels]``; None for a Telegram-only school without it
    (everything goes to Telegram, as before issue #17)."""

    def __init__(self, policy: ChannelPolicy | None = None) -> None:
        self.policy = policy

    def forbids(self, channel: Channel, data_class: DataClass) -> bool:
        """Whether the policy keeps ``data_class`` off ``channel`` (a direct answer then sends the
        pointer text instead)."""
        return self.policy is not None and not self.policy.allows(channel, data_class)


@dataclass(frozen=True)
class Route:
    """The outcome of routing: send the message itself on ``channel``, or (``pointer``) send the pointer
    text there instead and record the paper path. ``channel`` None: the person is reachable nowhere."""

    channel: Channel | None
    pointer: bool


def parse_channels(section: Mapping[str, Any] | None) -> ChannelPolicy:
    """The policy from a ``[channels]`` table of school.toml (None or missing keys: the default).

    Each key is a channel name, each value a list of data class names. Errors name the key and value.
    """
    if section is None:
        return ChannelPolicy()
    if not isinstance(section, Mapping):
        raise ChannelPolicyError('[channels]: ожидается таблица вида telegram = ["public"]')
    raw_operator = section.get("operator", Operator.MUNICIPAL.value)
    try:
        operator = Operator(str(raw_operator))
    except ValueError:
        raise ChannelPolicyError(
            f"[channels] operator: «{raw_operator}» — допустимо \"municipal\" (муниципальная школа), \"state\""
            " (государственная) или \"private\" (школа не государственный и не муниципальный орган)"
        ) from None
    allowed: dict[Channel, frozenset[DataClass]] = dict(DEFAULT_ALLOWED)
    if not operator.bound:
        allowed[Channel.TELEGRAM] = ALL_CLASSES
    known_channels = ", ".join(c.value for c in Channel)
    known_classes = ", ".join(c.value for c in DataClass)
    for key, value in section.items():
        if key == "operator":
            continue
        try:
            channel = Channel(str(key))
        except ValueError:
            raise ChannelPolicyError(f"[channels] {key}: неизвестный канал; допустимые: {known_channels}") from None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ChannelPolicyError(f'[channels] {key}: ожидается список классов данных, например ["public"]')
        classes: set[DataClass] = set()
        for item in value:
            try:
                classes.add(DataClass(item))
            except ValueError:
                raise ChannelPolicyError(
                    f"[channels] {key}: неизвестный класс данных «{item}»; допустимые: {known_classes}"
                ) from None
        allowed[channel] = frozenset(classes)
    beyond = allowed[Channel.TELEGRAM] - DEFAULT_ALLOWED[Channel.TELEGRAM]
    if operator.bound and beyond:
        names = ", ".join(sorted(c.value for c in beyond))
        raise ChannelPolicyError(
            f"[channels] telegram: {names} — государственной или муниципальной школе запрещено передавать"
            " персональные данные через Telegram (149-ФЗ, ст. 10, ч. 8). Если оператор не государственный и"
            ' не муниципальный орган, укажите в [channels] operator = "private"'
        )
    return ChannelPolicy(allowed=allowed, operator=operator)
