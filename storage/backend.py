"""Which database a process uses (#27): PostgreSQL when DATABASE_URL is set, else the SQLite file at
DATABASE_PATH (the one-school default: no server). Every command and the bot build theirs here
(bot/core.py), so the choice is made in one place."""

from __future__ import annotations

from bot.config import Settings
from storage.db import Database
from storage.pg import PgDatabase
from storage.sql import SqlDatabase


def make_database(settings: Settings, *, separate_reader: bool = False) -> SqlDatabase:
    """The settings' database, not yet open. `separate_reader` (SQLite, tests): reads on a second
    connection that sees only what is committed, as PostgreSQL's pooled reads always do."""
    if settings.database_url is not None:
        return PgDatabase(settings.database_url.get_secret_value(), schema=settings.database_schema)
    return Database(settings.database_path, separate_reader=separate_reader)
