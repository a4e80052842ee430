-- Delivery engine: broadcasts, and leases on outbox rows so that two senders on one database
-- (the running bot and a `schoolbot broadcast` from the shell) never send the same row at once.

CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    created_by INTEGER REFERENCES persons(id) ON DELETE SET NULL,  -- NULL: from the CLI
    audience TEXT NOT NULL,               -- parents | parents:<class> | staff | role:<role> | all
    text TEXT NOT NULL,                   -- HTML as sent
    total INTEGER NOT NULL,               -- people in the audience
    reachable INTEGER NOT NULL,           -- of them, with a working Telegram link (= rows enqueued)
    progress_chat_id INTEGER,             -- where the author watches progress
    progress_message_id INTEGER,
    created_at TEXT NOT NULL,
    finished_at TEXT
);

-- A sender claims a row before sending it: lease_owner is the claiming process id, lease_until a
-- Unix time (real time, not the app clock: leases are about processes, not school deadlines).
ALTER TABLE outbox ADD COLUMN lease_owner INTEGER;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
CREATE INDEX outbox_person_pending ON outbox(person_id, status);
CREATE INDEX outbox_chat_pending ON outbox(chat_id, status);
