-- A parent's press in MAX is evidence like a press in Telegram (#17): the ledger accepts channel
-- 'max', with the MAX account in its own column (MAX and Telegram user ids are separate spaces and
-- are never written in each other's column). For a 'max' row, tg_update_id and tg_callback_id hold
-- the update and press ids as the MAX wire delivered them (the press id keeps one row per child per
-- press, as for Telegram). max_user_id joins a row's hashed content only when it is set (see
-- storage/chain.py), so every row written before this migration keeps its hash and the chain holds.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with every row, id, hash and
-- the head untouched; the append-only and chain triggers are put back as 004 and 008 made them.

DROP TRIGGER consent_ledger_no_update;
DROP TRIGGER consent_ledger_no_delete;
DROP TRIGGER consent_ledger_chained;
DROP TRIGGER consent_ledger_head_advance;
DROP TRIGGER consent_ledger_head_forward;

CREATE TABLE consent_ledger_v16 (
    id INTEGER PRIMARY KEY,
    receipt_id TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES persons(id),
    child_id INTEGER NOT NULL REFERENCES persons(id),
    decision TEXT NOT NULL CHECK (decision IN ('given', 'declined', 'withdrawn')),
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    sha256 TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('telegram', 'max', 'paper')),
    tg_user_id INTEGER,
    tg_update_id INTEGER,
    tg_callback_id TEXT,
    recorded_by INTEGER REFERENCES persons(id),
    paper_date TEXT,
    created_at TEXT NOT NULL,
    prev_hash TEXT,
    row_hash TEXT,
    max_user_id INTEGER,
    CHECK (
        (channel = 'telegram' AND parent_id IS NOT NULL AND tg_user_id IS NOT NULL AND max_user_id IS NULL)
        OR (channel = 'max' AND parent_id IS NOT NULL AND max_user_id IS NOT NULL AND tg_user_id IS NULL)
        OR (channel = 'paper' AND recorded_by IS NOT NULL AND paper_date IS NOT NULL)
    ),
    UNIQUE (tg_callback_id, child_id)
);

INSERT INTO consent_ledger_v16(id, receipt_id, parent_id, child_id, decision, version, sha256, channel, tg_user_id,
                               tg_update_id, tg_callback_id, recorded_by, paper_date, created_at, prev_hash, row_hash)
SELECT id, receipt_id, parent_id, child_id, decision, version, sha256, channel, tg_user_id,
       tg_update_id, tg_callback_id, recorded_by, paper_date, created_at, prev_hash, row_hash
FROM consent_ledger ORDER BY id;

DROP TABLE consent_ledger;
ALTER TABLE consent_ledger_v16 RENAME TO consent_ledger;
CREATE INDEX consent_ledger_child ON consent_ledger(child_id, version, id);
CREATE INDEX consent_ledger_parent ON consent_ledger(parent_id, version);

CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger
BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END;
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger
BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END;

CREATE TRIGGER consent_ledger_chained BEFORE INSERT ON consent_ledger
WHEN NEW.row_hash IS NULL OR NEW.prev_hash IS NOT (SELECT last_hash FROM consent_ledger_head WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'consent_ledger: a new row must chain onto the ledger head'); END;

CREATE TRIGGER consent_ledger_head_advance AFTER INSERT ON consent_ledger
BEGIN
    UPDATE consent_ledger_head SET rows = rows + 1, last_receipt = NEW.receipt_id, last_hash = NEW.row_hash
    WHERE id = 1;
END;

CREATE TRIGGER consent_ledger_head_forward BEFORE UPDATE ON consent_ledger_head
WHEN NEW.rows IS NOT OLD.rows + 1
  OR NEW.last_hash IS NOT (SELECT row_hash FROM consent_ledger ORDER BY id DESC LIMIT 1)
BEGIN SELECT RAISE(ABORT, 'consent_ledger_head moves only with an insert'); END;
