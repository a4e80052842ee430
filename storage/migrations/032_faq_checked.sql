-- An FAQ entry made from a question is published only once an IT officer has read it, rewritten it
-- where needed, and stated that it carries no personal data (issue #22): a question is typed by a
-- parent or a teacher and can name a child. Who stated it and when. Entries made before this
-- (published verbatim) keep NULL: they are served as personal data (never on a channel that may
-- not carry it, such as Telegram under the municipal rules) until an officer checks them.
ALTER TABLE faq_extra ADD COLUMN checked_by INTEGER REFERENCES persons(id);
ALTER TABLE faq_extra ADD COLUMN checked_at TEXT;
