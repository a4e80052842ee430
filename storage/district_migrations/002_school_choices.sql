-- The district's bot (#27 item 3): which school a messenger account last chose to talk to, so that a
-- person known in several schools is not asked again after a restart. The account's ids and a school
-- key only: who the person is stays in that school's own store.
CREATE TABLE school_choices (
    channel TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    school_key TEXT NOT NULL REFERENCES schools(key) ON DELETE CASCADE,
    chosen_at TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
