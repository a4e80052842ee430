-- MAX (issue #17): a person may be linked on Telegram, MAX or both and chooses the channel messages go
-- to; every send is logged by data class and channel for an inspector, with no personal data.
-- MAX user ids are a space of their own, apart from Telegram's: their own column, never compared with
-- tg_user_id.

ALTER TABLE persons ADD COLUMN max_user_id INTEGER;
ALTER TABLE persons ADD COLUMN max_username TEXT;
ALTER TABLE persons ADD COLUMN max_linked_at TEXT;
ALTER TABLE persons ADD COLUMN max_unreachable_at TEXT;  -- set when MAX refuses delivery (the bot was stopped)
-- NULL: not chosen; messages then go to Telegram when linked there, else MAX.
ALTER TABLE persons ADD COLUMN preferred_channel TEXT CHECK (preferred_channel IN ('telegram', 'max'));
CREATE UNIQUE INDEX persons_max_user ON persons(max_user_id);

-- What an outbox row carries (bot/channels.py DataClass), and the channel it went out on once sent.
-- Rows enqueued before this migration, and enqueuers that do not say, count as personal data.
ALTER TABLE outbox ADD COLUMN data_class TEXT NOT NULL DEFAULT 'personal'
    CHECK (data_class IN ('public', 'personal', 'child_personal', 'credential', 'personal_file'));
ALTER TABLE outbox ADD COLUMN channel TEXT CHECK (channel IN ('telegram', 'max'));

-- One row per send decision: when, on which channel, what class of data, and what happened
-- ('sent': the message itself; 'pointer': the pointer text instead; 'paper': left to the paper path;
-- 'failed'). No person, chat, text or file: the log itself holds no personal data.
CREATE TABLE send_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('telegram', 'max', 'paper')),
    data_class TEXT NOT NULL
        CHECK (data_class IN ('public', 'personal', 'child_personal', 'credential', 'personal_file')),
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'pointer', 'paper', 'failed'))
);
CREATE INDEX send_log_at ON send_log(at);
