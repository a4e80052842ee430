-- Fewer, smarter nudges: at most one plan message per person per day, grouping what is due (the
-- reminder log still records each reminder in it) and, once a week, what is overdue.

CREATE TABLE task_plan_days (
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    day TEXT NOT NULL,                     -- school-local ISO date of the message
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (person_id, day)
);
