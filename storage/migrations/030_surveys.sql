-- Surveys (issue #26): the plan's own questions asked in the bot. A survey's respondents are fixed when
-- it is created (like a training's invitees), so "who has not answered" refers to one stable list.

CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    template TEXT,                         -- shipped template name; NULL: made from a file
    spec TEXT NOT NULL,                    -- JSON: intro and questions (kind, text, options, key)
    plan_item TEXT,                        -- the plan item it serves ("1.1", "14"), or NULL
    audience TEXT NOT NULL,                -- role | class | parents
    audience_value TEXT NOT NULL,          -- a role ("staff": every staff role) or a class label
    anonymous INTEGER NOT NULL,
    data_class TEXT NOT NULL,              -- what its questions and answers are (bot.channels.DataClass)
    author_id INTEGER REFERENCES persons(id),
    created_at TEXT NOT NULL,
    deadline TEXT NOT NULL,                -- UTC instant: the end of work on the last working day
    closed_at TEXT
);

CREATE TABLE survey_respondents (
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    role TEXT NOT NULL,                    -- the role they answer in (for the per-role breakdown)
    class_label TEXT,                      -- their class (a parent: their child's) for the per-class one
    finished_at TEXT,                      -- every required question answered; NULL: still pending
    PRIMARY KEY (survey_id, person_id)
);

-- One row per answered question. While the survey is open `person_id` says whose answer it is (so it
-- can be changed); when an anonymous survey closes the rows are rewritten without it, without times,
-- in a random order, and with the class and role only of groups of at least five (storage/surveys.py).
CREATE TABLE survey_answers (
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
    sheet TEXT NOT NULL,                   -- groups one respondent's answers; random after anonymising
    question INTEGER NOT NULL,             -- index into the spec's questions
    value TEXT NOT NULL,                   -- JSON: an option index, a list of them, a number or a text
    role TEXT,
    class_label TEXT,
    answered_at TEXT
);
CREATE UNIQUE INDEX survey_answers_one ON survey_answers(survey_id, person_id, question) WHERE person_id IS NOT NULL;
CREATE INDEX survey_answers_survey ON survey_answers(survey_id, question);

-- Reminders to who has not finished: n = 1, 2; `day` the school-local day it was enqueued for (one
-- nudge a person a day, across capabilities: bot/services/surveys_nudges.py).
CREATE TABLE survey_reminders (
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    day TEXT NOT NULL,
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (survey_id, person_id, n)
);
CREATE INDEX survey_reminders_day ON survey_reminders(person_id, day);
