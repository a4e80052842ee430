-- The consent ledger names the account a decision came through as (channel, user_id), the key of
-- the accounts table (#23), instead of a column per messenger. user_id is the messenger's own id,
-- copied into the row: the ledger is evidence and must say who pressed even if the account later
-- moves to another person or the accounts table is rebuilt, so it stores the fact, not a pointer.
--
-- Rows written before this migration are history and are not touched: their tg_user_id /
-- max_user_id stay as written (rewriting them would change their hashes and break the chain).
-- New rows leave both NULL and fill user_id. The hash (storage/chain.py) covers max_user_id and
-- user_id only when set, so every old row hashes exactly as it did and the chain holds. Readers
-- take the account id as coalesce(user_id, tg_user_id, max_user_id) (storage.consent.LedgerRow).
--
-- The channel CHECK list goes (a third messenger is an enum value, not a rebuild); the row CHECK
-- still requires an account for every non-paper row and the signer and date for paper ones. The
-- table is rebuilt (SQLite cannot change a CHECK in place) with every row, id, hash and the head
-- untouched, and the append-only and chain triggers are put back as 008 and 016 made them.

DROP TRIGGER consent_ledger_no_update;
DROP TRIGGER consent_ledger_no_delete;
DROP TRIGGER consent_ledger_chained;
DROP TRIGGER consent_ledger_head_advance;
DROP TRIGGER consent_ledger_head_forward;

CREATE TABLE consent_ledger_v19 (
    id INTEGER PRIMARY KEY,
    receipt_id TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES persons(id),
    child_id INTEGER NOT NULL REFERENCES persons(id),
    decision TEXT NOT NULL CHECK (decision IN ('given', 'declined', 'withdrawn')),
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    sha256 TEXT NOT NULL,
    channel TEXT NOT NULL,
    tg_user_id INTEGER,
    tg_update_id INTEGER,
    tg_callback_id TEXT,
    recorded_by INTEGER REFERENCES persons(id),
    paper_date TEXT,
    created_at TEXT NOT NULL,
    prev_hash TEXT,
    row_hash TEXT,
    max_user_id INTEGER,
    user_id INTEGER,
    CHECK (
        (channel = 'paper' AND recorded_by IS NOT NULL AND paper_date IS NOT NULL)
        OR (channel != 'paper' AND parent_id IS NOT NULL AND (
            (user_id IS NOT NULL AND tg_user_id IS NULL AND max_user_id IS NULL)
            OR (user_id IS NULL AND channel = 'telegram' AND tg_user_id IS NOT NULL AND max_user_id IS NULL)
            OR (user_id IS NULL AND channel = 'max' AND max_user_id IS NOT NULL AND tg_user_id IS NULL)))
    ),
    UNIQUE (tg_callback_id, child_id)
);

INSERT INTO consent_ledger_v19(id, receipt_id, parent_id, child_id, decision, version, sha256, channel, tg_user_id,
                               tg_update_id, tg_callback_id, recorded_by, paper_date, created_at, prev_hash, row_hash,
                               max_user_id)
SELECT id, receipt_id, parent_id, child_id, decision, version, sha256, channel, tg_user_id,
       tg_update_id, tg_callback_id, recorded_by, paper_date, created_at, prev_hash, row_hash, max_user_id
FROM consent_ledger ORDER BY id;

DROP TABLE consent_ledger;
ALTER TABLE consent_ledger_v19 RENAME TO consent_ledger;
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
