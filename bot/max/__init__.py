"""The MAX messenger under aiogram: ``MaxSession`` carries aiogram's methods over the MAX Bot API.

See ``bot.max.session`` for the methods covered, ignored and refused, and ``bot.max.convert`` for how
MAX ids, messages and markup map onto aiogram's.
"""

from bot.max.convert import UnsupportedOnMax, decode_file_id, encode_file_id
from bot.max.session import (
    COVERED,
    IGNORED,
    MAX_API_URL,
    MaxSession,
    channel_of,
    connect_max_bot,
    make_max_bot,
)

__all__ = [
    "COVERED",
    "IGNORED",
    "MAX_API_URL",
    "MaxSession",
    "UnsupportedOnMax",
    "channel_of",
    "connect_max_bot",
    "decode_file_id",
    "encode_file_id",
    "make_max_bot",
]
