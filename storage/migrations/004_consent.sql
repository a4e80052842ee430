-- Consent to personal-data processing (152-FZ art. 9): published document versions, the
-- append-only decision ledger, nudges and class-teacher reminders.

-- Each published version of the consent document. `text` is the template as published (with its
-- placeholders); `sha256` is over exactly that text (UTF-8), so a receipt's hash can be checked
-- against the archived template. `text_en` is an informational translation, not hashed.
CREATE TABLE consent_versions (
    number INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    text TEXT NOT NULL,
    text_en TEXT,
    published_at TEXT NOT NULL,
    published_by INTEGER REFERENCES persons(id)
);

CREATE TRIGGER consent_versions_no_update BEFORE UPDATE ON consent_versions
BEGIN SELECT RAISE(ABORT, 'consent_versions is append-only'); END;
CREATE TRIGGER consent_versions_no_delete BEFORE DELETE ON consent_versions
BEGIN SELECT RAISE(ABORT, 'consent_versions is append-only'); END;

-- The evidence: one row per decision, never changed or removed. A child's state on a version is
-- its latest row on that version (by id).
CREATE TABLE consent_ledger (
    id INTEGER PRIMARY KEY,
    receipt_id TEXT NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES persons(id),          -- NULL only for a paper form whose signer is not in the roster
    child_id INTEGER NOT NULL REFERENCES persons(id),
    decision TEXT NOT NULL CHECK (decision IN ('given', 'declined', 'withdrawn')),
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    sha256 TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('telegram', 'paper')),
    tg_user_id INTEGER,
    tg_update_id INTEGER,
    tg_callback_id TEXT,
    recorded_by INTEGER REFERENCES persons(id),        -- paper: the staff member who entered it
    paper_date TEXT,                                    -- paper: the date written on the form (YYYY-MM-DD)
    created_at TEXT NOT NULL,
    CHECK (
        (channel = 'telegram' AND parent_id IS NOT NULL AND tg_user_id IS NOT NULL)
        OR (channel = 'paper' AND recorded_by IS NOT NULL AND paper_date IS NOT NULL)
    ),
    -- One press (callback query) records at most one row per child, however often it arrives.
    UNIQUE (tg_callback_id, child_id)
);
CREATE INDEX consent_ledger_child ON consent_ledger(child_id, version, id);
CREATE INDEX consent_ledger_parent ON consent_ledger(parent_id, version);

CREATE TRIGGER consent_ledger_no_update BEFORE UPDATE ON consent_ledger
BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END;
CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger
BEGIN SELECT RAISE(ABORT, 'consent_ledger is append-only'); END;

-- Reminders to parents who have not decided: at most two per version, recorded when enqueued.
CREATE TABLE consent_nudges (
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    parent_id INTEGER NOT NULL REFERENCES persons(id),
    n INTEGER NOT NULL CHECK (n IN (1, 2)),
    due_at TEXT NOT NULL,                               -- when it was scheduled to go out
    PRIMARY KEY (version, parent_id, n)
);

-- A class teacher's one reminder per class and version to the class's undecided families.
CREATE TABLE consent_class_reminders (
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    class_label TEXT NOT NULL,
    sent_by INTEGER NOT NULL REFERENCES persons(id),
    sent_at TEXT NOT NULL,
    PRIMARY KEY (version, class_label)
);
