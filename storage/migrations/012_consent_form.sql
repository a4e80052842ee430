-- The consent form a parent reads and signs (issue #15): the exact text each parent was shown,
-- that they opened it before agreeing, and the signed paper originals the school received.

-- The exact text shown to a parent: the published template with their own and their child's
-- values filled in. A ledger row's sha256 is the hash of one of these texts (UTF-8), so a receipt
-- proves which words were on the screen, not only which template.
CREATE TABLE consent_texts (
    sha256 TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    first_shown_at TEXT NOT NULL
);

CREATE TRIGGER consent_texts_no_update BEFORE UPDATE ON consent_texts
BEGIN SELECT RAISE(ABORT, 'consent_texts is append-only'); END;
CREATE TRIGGER consent_texts_no_delete BEFORE DELETE ON consent_texts
BEGIN SELECT RAISE(ABORT, 'consent_texts is append-only'); END;

-- A parent opened the document for a child on a version (the latest opening wins): the agree
-- button appears only after it, and the decision records the hash of the text then shown.
CREATE TABLE consent_reads (
    parent_id INTEGER NOT NULL REFERENCES persons(id),
    child_id INTEGER NOT NULL REFERENCES persons(id),
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    sha256 TEXT NOT NULL REFERENCES consent_texts(sha256),
    read_at TEXT NOT NULL,
    PRIMARY KEY (parent_id, child_id, version)
);

-- The signed paper original of a child's consent, received by staff (one per child and version).
CREATE TABLE consent_originals (
    child_id INTEGER NOT NULL REFERENCES persons(id),
    version INTEGER NOT NULL REFERENCES consent_versions(number),
    received_on TEXT NOT NULL,                          -- the school's local date (YYYY-MM-DD)
    recorded_by INTEGER NOT NULL REFERENCES persons(id),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (child_id, version)
);

CREATE TRIGGER consent_originals_no_update BEFORE UPDATE ON consent_originals
BEGIN SELECT RAISE(ABORT, 'consent_originals is append-only'); END;
