-- The consent ledger becomes a hash chain (#12): each row carries the hash of the row before it
-- and the hash of its own evidence (storage/chain.py says exactly what is hashed), and a one-row
-- head remembers how many rows there are and the newest hash, so that removing the newest rows
-- shows as well as a gap. The append-only triggers of 004 stay.
--
-- Rows that exist already are hashed here, in id order, with the SQL function
-- schoolbot_ledger_row_hash that storage.db registers on its connection before migrating.

ALTER TABLE consent_ledger ADD COLUMN prev_hash TEXT;
ALTER TABLE consent_ledger ADD COLUMN row_hash TEXT;

CREATE TABLE consent_ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rows INTEGER NOT NULL,
    last_receipt TEXT,
    last_hash TEXT NOT NULL
);

-- Backfill: the one time ledger rows are updated, with the no-update trigger lifted inside this
-- migration's own transaction and put back, identical, before it commits.
DROP TRIGGER consent_ledger_no_update;

CREATE TEMP TABLE ledger_chain_backfill AS
WITH RECURSIVE chain(id, prev, h) AS (
    SELECT l.id, '0000000000000000000000000000000000000000000000000000000000000000',
           schoolbot_ledger_row_hash('0000000000000000000000000000000000000000000000000000000000000000',
               l.receipt_id, l.parent_id, l.child_id, l.decision, l.version, l.sha256, l.channel,
               l.tg_user_id, l.tg_update_id, l.tg_callback_id, l.recorded_by, l.paper_date, l.created_at)
    FROM consent_ledger l WHERE l.id = (SELECT min(id) FROM consent_ledger)
    UNION ALL
    SELECT l.id, c.h,
           schoolbot_ledger_row_hash(c.h,
               l.receipt_id, l.parent_id, l.child_id, l.decision, l.version, l.sha256, l.channel,
               l.tg_user_id, l.tg_update_id, l.tg_callback_id, l.recorded_by, l.paper_date, l.created_at)
    FROM chain c JOIN consent_ledger l ON l.id = (SELECT min(x.id) FROM consent_ledger x WHERE x.id > c.id)
)
SELECT id, prev, h FROM chain;

UPDATE consent_ledger SET
    prev_hash = (SELECT b.prev FROM temp.ledger_chain_backfill b WHERE b.id = consent_ledger.id),
    row_hash = (SELECT b.h FROM temp.ledger_chain_backfill b WHERE b.id = consent_ledger.id);

DROP TABLE temp.ledger_chain_backfill;

CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger
BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END;

INSERT INTO consent_ledger_head(id, rows, last_receipt, last_hash)
SELECT 1, count(*),
       (SELECT receipt_id FROM consent_ledger ORDER BY id DESC LIMIT 1),
       coalesce((SELECT row_hash FROM consent_ledger ORDER BY id DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000')
FROM consent_ledger;

-- Every new row names the head's hash as its predecessor and carries its own hash.
CREATE TRIGGER consent_ledger_chained BEFORE INSERT ON consent_ledger
WHEN NEW.row_hash IS NULL OR NEW.prev_hash IS NOT (SELECT last_hash FROM consent_ledger_head WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'consent_ledger: a new row must chain onto the ledger head'); END;

CREATE TRIGGER consent_ledger_head_advance AFTER INSERT ON consent_ledger
BEGIN
    UPDATE consent_ledger_head SET rows = rows + 1, last_receipt = NEW.receipt_id, last_hash = NEW.row_hash
    WHERE id = 1;
END;

-- The head moves only with an insert, one row at a time, onto the newest row.
CREATE TRIGGER consent_ledger_head_forward BEFORE UPDATE ON consent_ledger_head
WHEN NEW.rows IS NOT OLD.rows + 1
  OR NEW.last_hash IS NOT (SELECT row_hash FROM consent_ledger ORDER BY id DESC LIMIT 1)
BEGIN SELECT RAISE(ABORT, 'consent_ledger_head moves only with an insert'); END;
CREATE TRIGGER consent_ledger_head_no_delete BEFORE DELETE ON consent_ledger_head
BEGIN SELECT RAISE(ABORT, 'consent_ledger_head cannot be removed'); END;
CREATE TRIGGER consent_ledger_head_no_insert BEFORE INSERT ON consent_ledger_head
BEGIN SELECT RAISE(ABORT, 'consent_ledger_head has exactly one row'); END;
