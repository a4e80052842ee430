-- #23 item 1: a third messenger is a Channel enum value, a session and a fake -- not a migration.
-- send_log (015/020), access_log (027) and destruction_records (028) listed the messengers in a
-- CHECK, so a new Channel value would fail at the first logged send. Rebuild the three without the
-- messenger list: which names are valid is decided in Python (bot.channels.Channel), where the enum
-- lives. Non-messenger CHECKs (data_class, outcome, reason) stay, every row is copied with its id,
-- and every index and append-only trigger is re-created exactly as before. Nothing references
-- these tables by foreign key, and DROP TABLE fires no triggers, so the copy-drop-rename is safe.
-- consent_ledger keeps its CHECK: it only names telegram/max for legacy rows without user_id,
-- and a rebuild would touch the hash chain. channel stays NOT NULL and non-empty.

CREATE TABLE send_log_036 (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel != ''),  -- bot.channels.Channel value, or 'paper'
    data_class TEXT NOT NULL
        CHECK (data_class IN ('public', 'personal', 'child_personal', 'credential', 'personal_file')),
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'pointer', 'paper', 'failed')),
    purpose TEXT NOT NULL DEFAULT ''
);
INSERT INTO send_log_036 (id, at, channel, data_class, outcome, purpose)
    SELECT id, at, channel, data_class, outcome, purpose FROM send_log;
DROP TABLE send_log;
ALTER TABLE send_log_036 RENAME TO send_log;
CREATE INDEX send_log_at ON send_log(at);

CREATE TABLE access_log_036 (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor INTEGER,                         -- persons.id, no foreign key: the row outlives a purge
    channel TEXT NOT NULL CHECK (channel != ''),  -- bot.channels.Channel value, 'cli' or 'system'
    kind TEXT NOT NULL,                    -- bot.services.access_log.AccessKind
    object_id TEXT,                        -- a class label, a person id, a file name; never a name
    due_on TEXT                            -- ISO date: a subject's request must be answered by then
);
INSERT INTO access_log_036 (id, at, actor, channel, kind, object_id, due_on)
    SELECT id, at, actor, channel, kind, object_id, due_on FROM access_log;
DROP TABLE access_log;
ALTER TABLE access_log_036 RENAME TO access_log;
CREATE INDEX access_log_at ON access_log(at);
CREATE INDEX access_log_actor ON access_log(actor);
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;

CREATE TABLE destruction_records_036 (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('left', 'withdrawal', 'backup')),
    person_id INTEGER,                     -- no foreign key: ids only, the row outlives everything
    withdrawal_row INTEGER,
    what TEXT NOT NULL,
    actor INTEGER,                         -- who ran it (NULL: the daily sweep or the command line)
    channel TEXT NOT NULL CHECK (channel != '')  -- bot.channels.Channel value, 'cli' or 'system'
);
INSERT INTO destruction_records_036 (id, at, reason, person_id, withdrawal_row, what, actor, channel)
    SELECT id, at, reason, person_id, withdrawal_row, what, actor, channel FROM destruction_records;
DROP TABLE destruction_records;
ALTER TABLE destruction_records_036 RENAME TO destruction_records;
CREATE INDEX destruction_records_person ON destruction_records(person_id);
CREATE UNIQUE INDEX destruction_records_withdrawal ON destruction_records(withdrawal_row, person_id)
    WHERE withdrawal_row IS NOT NULL;
CREATE TRIGGER destruction_records_no_update BEFORE UPDATE ON destruction_records
BEGIN SELECT RAISE(ABORT, 'destruction_records is append-only'); END;
CREATE TRIGGER destruction_records_no_delete BEFORE DELETE ON destruction_records
BEGIN SELECT RAISE(ABORT, 'destruction_records is append-only'); END;
