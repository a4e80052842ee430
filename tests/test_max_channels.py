"""The channel policy of issue #17: which data classes Telegram and MAX may carry."""

from __future__ import annotations

import tomllib

import pytest

from bot.channels import (
    Channel,
    ChannelPolicy,
    ChannelPolicyError,
    DataClass,
    Route,
    parse_channels,
)
from bot.i18n import Catalog


def test_default_policy_of_a_municipal_school() -> None:
    policy = parse_channels(None)
    assert policy.allows(Channel.TELEGRAM, DataClass.PUBLIC)
    for data_class in DataClass:
        assert policy.allows(Channel.MAX, data_class)
        if data_class is not DataClass.PUBLIC:
            assert not policy.allows(Channel.TELEGRAM, data_class), data_class
    catalog = Catalog.load()
    for data_class in DataClass:  # the pointer names what was withheld in general words, per class
        assert catalog.text("ru", f"channels.what.{data_class.value}")
        assert catalog.text("en", f"channels.what.{data_class.value}")


def test_a_credential_never_routes_to_telegram_by_default() -> None:
    policy = ChannelPolicy()
    # Prefers Telegram and is reachable on both: the code goes to MAX (fallback), not Telegram.
    both = [Channel.TELEGRAM, Channel.MAX]
    assert policy.route(DataClass.CREDENTIAL, Channel.TELEGRAM, both) == Route(Channel.MAX, pointer=False)
    # Reachable on Telegram only: a pointer there, never the code.
    assert policy.route(DataClass.CREDENTIAL, Channel.TELEGRAM, [Channel.TELEGRAM]) == Route(Channel.TELEGRAM, True)
    # A reminder goes where the person prefers.
    assert policy.route(DataClass.PUBLIC, Channel.TELEGRAM, both) == Route(Channel.TELEGRAM, pointer=False)
    assert policy.route(DataClass.PUBLIC, Channel.MAX, both) == Route(Channel.MAX, pointer=False)
    # Reachable nowhere.
    assert policy.route(DataClass.PUBLIC, Channel.MAX, []) == Route(None, pointer=False)
    assert policy.channels_for(DataClass.PERSONAL_FILE) == [Channel.MAX]


def test_school_toml_section_overrides_per_channel() -> None:
    section = tomllib.loads(
        """
        [channels]
        operator = "private"
        telegram = ["public", "personal"]
        """
    )["channels"]
    policy = parse_channels(section)
    assert policy.allows(Channel.TELEGRAM, DataClass.PERSONAL)
    assert not policy.allows(Channel.TELEGRAM, DataClass.CREDENTIAL)
    assert policy.allows(Channel.MAX, DataClass.CREDENTIAL)  # keys not given keep the default
    assert parse_channels({"max": []}).allows(Channel.MAX, DataClass.PUBLIC) is False


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"vk": ["public"]}, "[channels] vk: неизвестный канал; допустимые: telegram, max"),
        ({"telegram": ["public", "codes"]}, "[channels] telegram: неизвестный класс данных «codes»"),
        ({"telegram": "public"}, "[channels] telegram: ожидается список классов данных"),
        ({"max": [1]}, "[channels] max: ожидается список классов данных"),
    ],
)
def test_bad_sections_are_named(section: dict[str, object], message: str) -> None:
    with pytest.raises(ChannelPolicyError) as caught:
        parse_channels(section)
    assert str(caught.value).startswith(message)
