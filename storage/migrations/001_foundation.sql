-- Foundation: roster, Telegram links, one-time link tokens, FSM state, processed updates, outbox.
-- Timestamps are ISO 8601 UTC strings written by storage.timefmt.to_db (they sort as text).

CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    roster_key TEXT NOT NULL UNIQUE,      -- normalised name (+ class for pupils): re-imports update in place
    full_name TEXT NOT NULL,
    class_label TEXT,                     -- pupils: their class; class teachers: the class they lead
    phone TEXT,                           -- E.164, e.g. +79001234567
    tg_user_id INTEGER UNIQUE,
    tg_username TEXT,
    lang TEXT,                            -- chosen with /language; NULL means "from Telegram"
    active INTEGER NOT NULL DEFAULT 1,    -- 0 once a roster import no longer lists the person
    unreachable_at TEXT,                  -- set when Telegram refuses delivery (blocked, deactivated)
    unreachable_reason TEXT,
    linked_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX persons_phone ON persons(phone);
CREATE INDEX persons_class ON persons(class_label);

CREATE TABLE person_roles (
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('director', 'deputy_academic', 'it_officer', 'methodology_head',
                                       'site_admin', 'class_teacher', 'teacher', 'parent', 'student')),
    PRIMARY KEY (person_id, role)
);
CREATE INDEX person_roles_role ON person_roles(role);

CREATE TABLE guardians (
    parent_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    child_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX guardians_child ON guardians(child_id);

CREATE TABLE link_tokens (
    token_hash TEXT PRIMARY KEY,          -- sha256 of the token; the token itself is never stored
    purpose TEXT NOT NULL CHECK (purpose IN ('link', 'admin')),
    person_id INTEGER REFERENCES persons(id) ON DELETE CASCADE,
    created_by INTEGER REFERENCES persons(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by_tg INTEGER
);

CREATE TABLE fsm (
    key TEXT PRIMARY KEY,
    state TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE processed_updates (
    update_id INTEGER PRIMARY KEY,
    processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,      -- enqueueing the same key twice is a no-op
    chat_id INTEGER NOT NULL,
    person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'photo', 'document')),
    payload TEXT NOT NULL,                -- JSON, see storage.outbox.Payload
    priority INTEGER NOT NULL DEFAULT 5,  -- lower is sent first
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    tg_message_id INTEGER,
    broadcast_id INTEGER,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at, priority);
CREATE INDEX outbox_broadcast ON outbox(broadcast_id);
