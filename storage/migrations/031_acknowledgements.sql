-- Acknowledgements (issue #26): a broadcast or a plan document (the local acts of items 5-7, the
-- instructions of items 12-14) that asks for «Ознакомлен(а)». The record is evidence for the plan
-- item: who confirmed which text (its SHA-256) and when.

CREATE TABLE ack_campaigns (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,                    -- the text sent (HTML), or the document's caption
    document BLOB,                         -- the plan document itself, when it is one
    file_name TEXT,
    sha256 TEXT NOT NULL,                  -- of the document's bytes, else of the text: what is confirmed
    plan_item TEXT,                        -- the plan item it is evidence for, or NULL
    audience TEXT NOT NULL,                -- a broadcast audience: parents, parents:<class>, staff, role:<r>, all
    author_id INTEGER REFERENCES persons(id),
    created_at TEXT NOT NULL
);

-- Who is asked, fixed when it is sent, with the role and class the coverage is counted by.
CREATE TABLE ack_targets (
    campaign_id INTEGER NOT NULL REFERENCES ack_campaigns(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    class_label TEXT,                      -- a pupil's class; a parent's: each class of their children
    PRIMARY KEY (campaign_id, person_id)
);

CREATE TABLE ack_confirmations (
    campaign_id INTEGER NOT NULL REFERENCES ack_campaigns(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,                  -- the text they confirmed
    confirmed_at TEXT NOT NULL,
    channel TEXT NOT NULL,                 -- telegram | max
    PRIMARY KEY (campaign_id, person_id)
);

-- Reminders the author or a class teacher sent to who has not confirmed (one per class a day).
CREATE TABLE ack_reminders (
    campaign_id INTEGER NOT NULL REFERENCES ack_campaigns(id) ON DELETE CASCADE,
    class_label TEXT NOT NULL,             -- '' : every class
    day TEXT NOT NULL,
    by_id INTEGER REFERENCES persons(id),
    recipients INTEGER NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, class_label, day)
);
