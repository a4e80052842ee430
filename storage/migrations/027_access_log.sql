-- Who looked (#24 item 5): an append-only log of every opening or export of personal data
-- (registers, code sheets, reports, person searches, subject reports, backups, evidence).
-- It names people by id only: the log is itself shown to an inspector, and it must not become one
-- more copy of the roster. `actor` is the person who asked (NULL for the command line or the bot's
-- own schedule); `channel` says through which door (telegram, max, cli, system).
-- `due_on` is set for a data subject's own request (152-FZ art. 14): the day the answer is owed by.

CREATE TABLE access_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor INTEGER,                         -- persons.id, no foreign key: the row outlives a purge
    channel TEXT NOT NULL CHECK (channel IN ('telegram', 'max', 'cli', 'system')),
    kind TEXT NOT NULL,                    -- bot.services.access_log.AccessKind
    object_id TEXT,                        -- a class label, a person id, a file name; never a name
    due_on TEXT                            -- ISO date: a subject's request must be answered by then
);
CREATE INDEX access_log_at ON access_log(at);
CREATE INDEX access_log_actor ON access_log(actor);

CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
