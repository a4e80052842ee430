-- Help: questions to the IT officer (tickets), FAQ entries made from answered questions, training
-- sessions and parent meetings with their invitees, RSVPs and attendance.

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    asker_id INTEGER NOT NULL REFERENCES persons(id),
    text TEXT NOT NULL,
    context TEXT,                         -- where it came from (e.g. "search", "codes"); free text
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    answer TEXT,                          -- the latest answer
    answers INTEGER NOT NULL DEFAULT 0,   -- how many answers went out (dedupe keys of the relays)
    answered_by INTEGER REFERENCES persons(id),
    answered_at TEXT,
    closed_at TEXT,
    faq_extra_id INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX tickets_status ON tickets(status, created_at);

-- FAQ entries made from answered questions; merged into the shipped FAQ at load time.
CREATE TABLE faq_extra (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER REFERENCES tickets(id),
    audience TEXT NOT NULL,               -- comma-separated FAQ audiences (teacher, pupil, parent, all)
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_by INTEGER REFERENCES persons(id),
    created_at TEXT NOT NULL,
    removed_at TEXT
);

CREATE TABLE training_sessions (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    audience TEXT NOT NULL CHECK (audience IN ('teachers', 'pupils', 'parents', 'everyone')),
    class_label TEXT,                     -- pupils/parents of this class
    starts_at TEXT NOT NULL,
    place TEXT NOT NULL,                  -- a room or a link
    created_by INTEGER REFERENCES persons(id),
    created_at TEXT NOT NULL,
    evening_at TEXT,                      -- reminder times computed at creation (NULL: none)
    evening_done_at TEXT,
    hour_at TEXT,
    hour_done_at TEXT,
    cancelled_at TEXT
);
CREATE INDEX training_sessions_starts ON training_sessions(starts_at);

-- Invitees are fixed when the session is created, so RSVPs and attendance refer to a stable list.
CREATE TABLE training_invitees (
    session_id INTEGER NOT NULL REFERENCES training_sessions(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id),
    rsvp TEXT CHECK (rsvp IN ('yes', 'no')),
    rsvp_at TEXT,
    attended INTEGER,                     -- NULL: not marked; 1: present; 0: absent
    PRIMARY KEY (session_id, person_id)
);
CREATE INDEX training_invitees_person ON training_invitees(person_id);
