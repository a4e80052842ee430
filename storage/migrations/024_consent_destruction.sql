-- Withdrawal ends in destruction (#24 item 2, 152-FZ art. 21 parts 4-5): a withdrawn consent opens
-- a task for the IT officer to block the child's account on the journal platform and destroy the
-- child's data within 30 days. The task, its reminders and its confirmation are the evidence that
-- the school did it, so they are append-only: a reminder or the confirmation is a new row, never
-- an edit. The task is open while it has no 'confirmed' event.

CREATE TABLE consent_destructions (
    id INTEGER PRIMARY KEY,
    child_id INTEGER NOT NULL REFERENCES persons(id),
    receipt_id TEXT NOT NULL UNIQUE,       -- the ledger row (withdrawal) that opened it
    opened_at TEXT NOT NULL,
    due_on TEXT NOT NULL                   -- the school's local date: the withdrawal's day + 30 days
);
CREATE INDEX consent_destructions_child ON consent_destructions(child_id);

CREATE TABLE consent_destruction_events (
    id INTEGER PRIMARY KEY,
    destruction_id INTEGER NOT NULL REFERENCES consent_destructions(id),
    kind TEXT NOT NULL CHECK (kind IN ('reminder', 'confirmed')),
    n INTEGER NOT NULL DEFAULT 0,          -- a reminder's number (1, 2, ...); 0 for the confirmation
    by_person INTEGER REFERENCES persons(id),  -- confirmed: who (NULL from the command line)
    channel TEXT,                          -- confirmed: telegram, max or cli
    at TEXT NOT NULL,
    UNIQUE (destruction_id, kind, n)       -- one confirmation; each reminder once
);

CREATE TRIGGER consent_destructions_no_update BEFORE UPDATE ON consent_destructions
BEGIN SELECT RAISE(ABORT, 'consent_destructions is append-only'); END;
CREATE TRIGGER consent_destructions_no_delete BEFORE DELETE ON consent_destructions
BEGIN SELECT RAISE(ABORT, 'consent_destructions is append-only'); END;
CREATE TRIGGER consent_destruction_events_no_update BEFORE UPDATE ON consent_destruction_events
BEGIN SELECT RAISE(ABORT, 'consent_destruction_events is append-only'); END;
CREATE TRIGGER consent_destruction_events_no_delete BEFORE DELETE ON consent_destruction_events
BEGIN SELECT RAISE(ABORT, 'consent_destruction_events is append-only'); END;
