-- One person per human: when an IT officer's bootstrap record (made from a Telegram display name)
-- is merged into their roster row, the old row stays (the consent ledger may name it and is never
-- rewritten) but points at the person it became.
ALTER TABLE persons ADD COLUMN merged_into INTEGER REFERENCES persons(id);
