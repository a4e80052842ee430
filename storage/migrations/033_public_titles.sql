-- Staff-typed titles (#22): a training session's title and place, and an acknowledgement's title,
-- are free text that may name a person, so the screens and notices showing them are personal data
-- unless their author confirmed, when creating, that they name no one (1). Rows made before count
-- as personal: nobody confirmed them.
ALTER TABLE training_sessions ADD COLUMN public_text INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ack_campaigns ADD COLUMN public_title INTEGER NOT NULL DEFAULT 0;
