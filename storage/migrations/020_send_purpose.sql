-- The send log names who sent (issue #22): the handler (``codes.show``) or the outbox's notice kind
-- (``outbox:task``), never a person, a chat or a text. Every content request is logged now, direct
-- answers as well as the outbox's; rows from before this migration have an empty purpose.
ALTER TABLE send_log ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
