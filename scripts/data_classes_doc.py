"""Write docs/data-classes.md: every handler's declared data class and what a Telegram user gets.

    python scripts/data_classes_doc.py          # write the file
    python scripts/data_classes_doc.py --check  # exit 1 when the committed file is out of date

An entry point: it assembles the handlers as the bot registers them (the capabilities' routers and
the error handler) without opening a database or a messenger; bot/tg/policy_doc.py renders them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiogram import Dispatcher

from bot.app import build_routers
from bot.i18n import Catalog
from bot.tg.policy_doc import handler_rows, render
from handlers import district_bot
from handlers.errors import install_error_handler

DOC = Path(__file__).resolve().parent.parent / "docs" / "data-classes.md"
# Routers of the district's bot only (#27), not of a school's: the picker, the district role inside it, the
# picker's answer to a person who has not chosen a school (bot/multibot.py registers them first).
DISTRICT_ROUTERS = ("district_bot", "district", "district_bot_pending")


def dispatcher() -> Dispatcher:
    """The handlers as bot/app.py build_dispatcher registers them, the district bot's picker first
    (bot/multibot.py registers it before the capabilities' routers), and the district role's on the
    district's bot (bot/district/runtime.py)."""
    dp = Dispatcher()
    install_error_handler(dp)
    dp.include_router(district_bot.build_router())
    dp.include_routers(*build_routers())
    return dp


def document() -> str:
    catalog = Catalog.load()
    return render(handler_rows(dispatcher(), catalog), catalog)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = parser.parse_args(argv)
    text = document()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run python scripts/data_classes_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"{DOC}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
