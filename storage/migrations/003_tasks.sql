-- Plan tasks: the plan as loaded for the running school year, proofs of done work, the reminder log
-- (what was enqueued, so a restart neither repeats nor loses a reminder), snoozes and digests.

CREATE TABLE plan_meta (
    key TEXT PRIMARY KEY,                  -- 'title', 'order', 'school_year', 'loaded_at'
    value TEXT NOT NULL
);

CREATE TABLE plan_items (
    number TEXT PRIMARY KEY,               -- "1", "1.2", ... as in the signed plan
    position INTEGER NOT NULL,             -- order in the plan file
    text TEXT NOT NULL,
    deadline_kind TEXT NOT NULL CHECK (deadline_kind IN ('date', 'month', 'whole_period', 'from_date',
                                       'each_quarter', 'yearly_month', 'per_event', 'unset')),
    deadline_date TEXT,                    -- ISO date for 'date' and 'from_date'
    deadline_year INTEGER,                 -- 'month'
    deadline_month INTEGER,                -- 'month', 'yearly_month'
    deadline_source TEXT NOT NULL,         -- the signed wording of the deadline
    responsible TEXT NOT NULL,             -- role codes, comma-separated; people are resolved when needed
    responsible_text TEXT NOT NULL,
    proof TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,     -- 0 once a re-import no longer lists the item (proofs stay)
    updated_at TEXT NOT NULL
);

CREATE TABLE task_proofs (
    id INTEGER PRIMARY KEY,
    item_number TEXT NOT NULL REFERENCES plan_items(number),
    occurrence_key TEXT NOT NULL,          -- deadlines.Occurrence.key, or '-' for items without one
    person_id INTEGER NOT NULL REFERENCES persons(id),
    kind TEXT NOT NULL CHECK (kind IN ('text', 'link', 'document', 'photo')),
    body TEXT,                             -- the text / link / caption
    file_id TEXT,
    file_unique_id TEXT,
    file_name TEXT,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'accepted', 'returned')),
    created_at TEXT NOT NULL,
    reviewed_by INTEGER REFERENCES persons(id),
    reviewed_at TEXT,
    review_comment TEXT
);
CREATE INDEX task_proofs_task ON task_proofs(item_number, occurrence_key);

CREATE TABLE task_reminders (
    item_number TEXT NOT NULL,
    occurrence_key TEXT NOT NULL,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                    -- before7, before1, due, start, over-YYYY-MM-DD, snooze-N
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (item_number, occurrence_key, person_id, kind)
);

CREATE TABLE task_snoozes (
    id INTEGER PRIMARY KEY,
    item_number TEXT NOT NULL,
    occurrence_key TEXT NOT NULL,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    remind_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE task_digests (
    week TEXT NOT NULL,                    -- ISO week, e.g. 2026-W45
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (week, person_id)
);
