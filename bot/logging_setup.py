"""Logging that never shows secrets: the bot token (it is part of every Bot API URL) is masked."""

from __future__ import annotations

import logging
import os
import re

_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN.sub("<token>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(level: str | None = None, *, verbose: bool = True, quiet: str = "ERROR") -> None:
    """INFO with `verbose` (or LOG_LEVEL), else `quiet`: a one-off command prints its own result for a
    person to read and shows only errors; the running bot shows warnings (its start and stop are
    printed in the operator's language), and library and migration lines stay out of sight."""
    chosen = level or os.environ.get("LOG_LEVEL") or ("INFO" if verbose else quiet)
    logging.basicConfig(level=chosen.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        # On the handler too: a library that sets its own logger's level (font subsetting does)
        # must not get past a quiet command.
        handler.setLevel(chosen.upper())
        handler.addFilter(RedactSecrets())
