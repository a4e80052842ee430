-- Fewer, smarter nudges: at most one plan message per person per day, grouping what is due (the
-- reminder log still records each reminder in it) and, once a week, what is overdue.

CREATE TABLE task_plan_days (
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    day TEXT NOT NULL,                     -- school-local ISO date of the message
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (person_id, day)
);

-- Plan item 18, "Анализ текущего состояния и задачи на следующий учебный год": the tasks for the next
-- year as the IT officer edited them (the bot proposes a draft until then), per school year.
CREATE TABLE analysis_tasks (
    school_year INTEGER PRIMARY KEY,
    text TEXT NOT NULL,                    -- one task per line
    updated_by INTEGER REFERENCES persons(id),
    updated_at TEXT NOT NULL
);
