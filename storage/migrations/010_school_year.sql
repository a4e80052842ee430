-- The school year: new-year promotions, class moves of pupils, and the May archive checklist.

-- Each school year `schoolbot new-year` moved to. The calendar in school.toml ([school_year]) is
-- the base; the newest row here overrides it while its year is later than the config's, so the
-- bot never rewrites the operator's school.toml. One row per year makes new-year idempotent.
CREATE TABLE school_years (
    year INTEGER PRIMARY KEY,             -- the year the school year starts in (2027 = 2027/2028)
    quarters TEXT NOT NULL,               -- JSON [["2027-09-01", "2027-10-24"], ...], four quarters
    holidays TEXT NOT NULL,               -- JSON ["2027-11-04", ...]
    report TEXT NOT NULL,                 -- JSON: every change new-year made, for the record
    applied_by INTEGER REFERENCES persons(id),
    applied_at TEXT NOT NULL
);

-- Every class change of a person: a roster import that moved a pupil, a promotion, a graduation.
-- The person id stays: links, consents, codes and ledger rows follow the person, not the class.
CREATE TABLE class_moves (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    from_class TEXT,
    to_class TEXT,                        -- NULL: left the school with the leaving grade
    reason TEXT NOT NULL CHECK (reason IN ('import', 'promotion', 'graduation')),
    school_year INTEGER,                  -- promotions and graduations: the year they led into
    moved_at TEXT NOT NULL
);
CREATE INDEX class_moves_person ON class_moves(person_id, id);

-- Plan item 19: each May the class teacher confirms, per class, that the journal was printed,
-- laced, sealed, signed and handed to the archive. One row per step; who and when.
CREATE TABLE archive_checks (
    school_year INTEGER NOT NULL,
    class_label TEXT NOT NULL,
    step TEXT NOT NULL CHECK (step IN ('printed', 'laced', 'sealed', 'signed', 'handed')),
    person_id INTEGER NOT NULL REFERENCES persons(id),
    done_at TEXT NOT NULL,
    PRIMARY KEY (school_year, class_label, step)
);

-- The May nudges of the checklist, recorded when enqueued (the database is the truth).
CREATE TABLE archive_nudges (
    school_year INTEGER NOT NULL,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    week TEXT NOT NULL,                   -- ISO week, e.g. 2027-W20: at most one nudge a week
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (school_year, person_id, week)
);
