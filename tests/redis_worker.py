"""A worker process for tests/test_redis_workers.py: builds the Bot as `schoolbot run` does (its send
limiter sharing the token's budget through REDIS_URL), says `ready`, waits for `go` on stdin, sends one
message into each chat named on the command line, all at once, and says `done`."""

from __future__ import annotations

import asyncio
import sys

from bot.app import build_bot
from bot.config import load_settings


async def main(chats: list[int]) -> None:
    bot = build_bot(load_settings())
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await asyncio.gather(*(bot.send_message(chat, f"p{chat}") for chat in chats))
        print("done", flush=True)
    finally:
        await bot.session.close()


if __name__ == "__main__":
    asyncio.run(main([int(arg) for arg in sys.argv[1:]]))
