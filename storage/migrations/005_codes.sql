-- Invitation codes for the journal platform: one active code per person and role group, the
-- deliveries of each code (through the outbox), activation, nudges and on-request rate limits.
-- The code itself lives only in codes.code: outbox payloads reference it by id.

CREATE TABLE codes (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('staff', 'parent', 'student')),
    class_label TEXT,                     -- as imported (a parent's code: the child's class)
    code TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'replaced', 'revoked')),
    source TEXT NOT NULL CHECK (source IN ('import', 'manual')),
    created_at TEXT NOT NULL,
    ended_at TEXT,                        -- when replaced or revoked
    replaced_by INTEGER REFERENCES codes(id),
    activated_at TEXT,
    activated_via TEXT CHECK (activated_via IN ('user', 'import'))
);
CREATE UNIQUE INDEX codes_one_active ON codes(person_id, role) WHERE status = 'active';
CREATE INDEX codes_person ON codes(person_id);

CREATE TABLE code_deliveries (
    id INTEGER PRIMARY KEY,
    code_id INTEGER NOT NULL REFERENCES codes(id) ON DELETE CASCADE,
    recipient_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,                 -- link, consent, import, sweep, reissue, request
    outbox_key TEXT UNIQUE,               -- NULL for direct replies to /codes
    tg_message_id INTEGER,                -- direct replies only; outbox deliveries keep it in outbox
    enqueued_at TEXT NOT NULL
);
CREATE INDEX code_deliveries_code ON code_deliveries(code_id, recipient_id);

CREATE TABLE code_nudges (
    code_id INTEGER NOT NULL REFERENCES codes(id) ON DELETE CASCADE,
    recipient_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    enqueued_at TEXT NOT NULL,
    PRIMARY KEY (code_id, recipient_id, n)
);

CREATE TABLE code_requests (
    requester_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    last_at TEXT NOT NULL,
    PRIMARY KEY (requester_id, target_id)
);
