-- Retention (#24 item 3): when a person left, what was destroyed and when.
--
-- `inactive_since` is the moment a person stopped being active (a graduate, a record the roster no
-- longer lists, a merged duplicate), taken from `updated_at`, which every deactivation writes with
-- the bot's clock; a trigger keeps it, so no deactivation path has to remember to. Reactivation
-- clears it. `purged_at` marks a person whose data the retention sweep has destroyed (the row stays
-- as a pseudonymised tombstone: ledger rows, plan proofs and archive checks name it by id).

ALTER TABLE persons ADD COLUMN inactive_since TEXT;
ALTER TABLE persons ADD COLUMN purged_at TEXT;
UPDATE persons SET inactive_since = updated_at WHERE active = 0;

CREATE TRIGGER persons_inactive_since AFTER UPDATE OF active ON persons
WHEN OLD.active = 1 AND NEW.active = 0
BEGIN UPDATE persons SET inactive_since = NEW.updated_at WHERE id = NEW.id; END;

CREATE TRIGGER persons_active_again AFTER UPDATE OF active ON persons
WHEN OLD.active = 0 AND NEW.active = 1
BEGIN UPDATE persons SET inactive_since = NULL WHERE id = NEW.id; END;

-- One row per destruction, append-only: the record an inspector asks for (152-FZ art. 21 part 7
-- wants destruction documented). `what` is JSON of counts by kind (never the data destroyed);
-- `withdrawal_row` is the consent_ledger row a withdrawal purge carries out (so it runs once).
CREATE TABLE destruction_records (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('left', 'withdrawal', 'backup')),
    person_id INTEGER,                     -- no foreign key: ids only, the row outlives everything
    withdrawal_row INTEGER,
    what TEXT NOT NULL,
    actor INTEGER,                         -- who ran it (NULL: the daily sweep or the command line)
    channel TEXT NOT NULL CHECK (channel IN ('telegram', 'max', 'cli', 'system'))
);
CREATE INDEX destruction_records_person ON destruction_records(person_id);
CREATE UNIQUE INDEX destruction_records_withdrawal ON destruction_records(withdrawal_row)
    WHERE withdrawal_row IS NOT NULL;

CREATE TRIGGER destruction_records_no_update BEFORE UPDATE ON destruction_records
BEGIN SELECT RAISE(ABORT, 'destruction_records is append-only'); END;
CREATE TRIGGER destruction_records_no_delete BEFORE DELETE ON destruction_records
BEGIN SELECT RAISE(ABORT, 'destruction_records is append-only'); END;

-- The daily sweep runs once a school-local day.
CREATE TABLE retention_runs (
    local_day TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
