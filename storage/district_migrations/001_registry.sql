-- The district's registry (#27): the schools one service holds and the district's own operators.
-- Portable SQL (SQLite and PostgreSQL alike): no AUTOINCREMENT, no SQLite-only syntax; ids are
-- assigned by storage/district.py inside the write.

-- One row per school; `key` names the school's own store (its SQLite file, its PostgreSQL schema).
CREATE TABLE schools (
    key TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    settings_toml TEXT NOT NULL,          -- what school.toml holds, as written; checked before stored
    telegram_token TEXT,                  -- the school's own bot, if any (a secret: never shown)
    max_token TEXT,
    created_at TEXT NOT NULL
);

-- The district role: people of the education authority who see coverage across schools (counts
-- only, never a code or a child's name).
CREATE TABLE operators (
    id INTEGER PRIMARY KEY,
    full_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE operator_accounts (
    operator_id INTEGER NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,                -- bot.channels.Channel value: 'telegram', 'max'
    user_id BIGINT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
