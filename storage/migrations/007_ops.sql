-- Operations: the journal (Dnevnik.ru) backup log of plan item 16 and the log of automatic backups
-- of the bot's own database. Timestamps are ISO 8601 UTC text (storage.timefmt.to_db).

CREATE TABLE journal_backups (
    id INTEGER PRIMARY KEY,
    school_year INTEGER NOT NULL,          -- the year the school year starts (2026 = 2026/2027)
    quarter INTEGER NOT NULL CHECK (quarter BETWEEN 1 AND 4),
    medium_label TEXT NOT NULL,            -- what is written on the external medium
    photo_file_id TEXT,                    -- optional Telegram photo of the medium
    logged_by INTEGER REFERENCES persons(id) ON DELETE SET NULL,
    logged_at TEXT NOT NULL
);
CREATE INDEX journal_backups_quarter ON journal_backups(school_year, quarter);

CREATE TABLE db_backups (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL,                   -- 1: copied and PRAGMA integrity_check said ok
    detail TEXT,                           -- the failure, for the operator
    local_day TEXT NOT NULL,               -- the school-local date of the backup (one per night)
    taken_at TEXT NOT NULL
);
CREATE INDEX db_backups_day ON db_backups(local_day, ok);
