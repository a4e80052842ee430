-- Evidence an inspector can read (#24 item 6).
--
-- The legally binding text is the Russian one: a ledger row's sha256 is always the hash of the
-- Russian text with the family's values filled in, whatever language the parent read. When the
-- parent read a translation, the translation shown is kept too (in consent_texts, by its own hash)
-- and linked here to the Russian text it stands for, so the evidence can show both.
CREATE TABLE consent_translations (
    sha256 TEXT NOT NULL REFERENCES consent_texts(sha256),        -- the Russian text (what the ledger names)
    shown_sha256 TEXT NOT NULL REFERENCES consent_texts(sha256),  -- the translation on the screen
    lang TEXT NOT NULL,
    PRIMARY KEY (sha256, shown_sha256)
);
CREATE TRIGGER consent_translations_no_update BEFORE UPDATE ON consent_translations
BEGIN SELECT RAISE(ABORT, 'consent_translations is append-only'); END;
CREATE TRIGGER consent_translations_no_delete BEFORE DELETE ON consent_translations
BEGIN SELECT RAISE(ABORT, 'consent_translations is append-only'); END;

-- A paper decision's scanned signed form: the hash of the scan file and/or where the paper is kept
-- (a folder, a sheet number). The ledger row itself cannot change (its hash is chained), so the
-- scan is attached beside it, once.
CREATE TABLE consent_scans (
    receipt_id TEXT PRIMARY KEY REFERENCES consent_ledger(receipt_id),
    scan_sha256 TEXT,
    scan_ref TEXT,
    recorded_by INTEGER REFERENCES persons(id),   -- NULL from the command line
    recorded_at TEXT NOT NULL,
    CHECK (scan_sha256 IS NOT NULL OR scan_ref IS NOT NULL)
);
CREATE TRIGGER consent_scans_no_update BEFORE UPDATE ON consent_scans
BEGIN SELECT RAISE(ABORT, 'consent_scans is append-only'); END;
CREATE TRIGGER consent_scans_no_delete BEFORE DELETE ON consent_scans
BEGIN SELECT RAISE(ABORT, 'consent_scans is append-only'); END;
