-- Messenger accounts as rows (#23, item 1). A person's Telegram and MAX accounts were columns of
-- persons (tg_user_id, tg_username, linked_at, unreachable_at/_reason from 001; max_user_id,
-- max_username, max_linked_at, max_unreachable_at from 015): every further messenger would have
-- been more columns and more code. Now one row per account: (channel, user id) is the account, and
-- it belongs to at most one person. A third messenger is a value of bot.channels.Channel: the
-- channel column carries no CHECK list on purpose (the Python enum validates it), so adding one
-- needs no table rebuild.
--
-- person_id NULL: an account the bot knows but that is linked to nobody (it spent an admin token
-- and has not said who it is yet, or its person linked another account on the same messenger).
-- The row stays, so that whatever names it (a spent token, a ledger row's account) still resolves.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
    channel TEXT NOT NULL,                -- bot.channels.Channel value: 'telegram', 'max', ...
    user_id INTEGER NOT NULL,             -- the messenger's own user id (each messenger its own space)
    username TEXT,
    linked_at TEXT,                       -- NULL while linked to nobody
    unreachable_at TEXT,                  -- set when the messenger refuses delivery (blocked, stopped)
    unreachable_reason TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (channel, user_id)
);
-- One account per messenger per person, as the columns were.
CREATE UNIQUE INDEX accounts_person_channel ON accounts(person_id, channel) WHERE person_id IS NOT NULL;

-- Every existing link, with its reachability. A MAX-only school before this migration recorded a
-- MAX refusal in the Telegram columns (the sender had no channel policy there): with no Telegram
-- account, persons.unreachable_at belongs to the MAX account.
INSERT INTO accounts(person_id, channel, user_id, username, linked_at, unreachable_at, unreachable_reason, created_at)
SELECT id, 'telegram', tg_user_id, tg_username, coalesce(linked_at, updated_at), unreachable_at,
       CASE WHEN unreachable_at IS NOT NULL THEN coalesce(unreachable_reason, 'refused') END,
       coalesce(linked_at, updated_at)
FROM persons WHERE tg_user_id IS NOT NULL ORDER BY id;

INSERT INTO accounts(person_id, channel, user_id, username, linked_at, unreachable_at, unreachable_reason, created_at)
SELECT id, 'max', max_user_id, max_username, coalesce(max_linked_at, updated_at),
       coalesce(max_unreachable_at, CASE WHEN tg_user_id IS NULL THEN unreachable_at END),
       CASE WHEN max_unreachable_at IS NOT NULL THEN 'refused'
            WHEN tg_user_id IS NULL AND unreachable_at IS NOT NULL THEN coalesce(unreachable_reason, 'refused') END,
       coalesce(max_linked_at, updated_at)
FROM persons WHERE max_user_id IS NOT NULL ORDER BY id;

-- A spent token names the account that spent it (an admin token is that account's right to choose
-- its roster row for a day), not a Telegram id.
INSERT OR IGNORE INTO accounts(person_id, channel, user_id, created_at)
SELECT NULL, 'telegram', used_by_tg, used_at FROM link_tokens WHERE used_by_tg IS NOT NULL;
ALTER TABLE link_tokens ADD COLUMN used_by_account INTEGER REFERENCES accounts(id);
UPDATE link_tokens SET used_by_account =
    (SELECT a.id FROM accounts a WHERE a.channel = 'telegram' AND a.user_id = link_tokens.used_by_tg)
WHERE used_by_tg IS NOT NULL;
ALTER TABLE link_tokens DROP COLUMN used_by_tg;

-- The per-messenger columns go. tg_user_id carries a UNIQUE constraint, which SQLite cannot drop
-- without rebuilding persons; a rebuild drops the table, and with foreign keys on (a migration runs
-- inside a transaction, where the pragma cannot be switched off) that cascades through every table
-- that references a person. So that one column is renamed, emptied, and never read again.
DROP INDEX persons_max_user;
ALTER TABLE persons DROP COLUMN max_user_id;
ALTER TABLE persons DROP COLUMN max_username;
ALTER TABLE persons DROP COLUMN max_linked_at;
ALTER TABLE persons DROP COLUMN max_unreachable_at;
ALTER TABLE persons DROP COLUMN tg_username;
ALTER TABLE persons DROP COLUMN unreachable_at;
ALTER TABLE persons DROP COLUMN unreachable_reason;
ALTER TABLE persons DROP COLUMN linked_at;
ALTER TABLE persons RENAME COLUMN tg_user_id TO retired_tg_user_id;
UPDATE persons SET retired_tg_user_id = NULL;

-- The chosen messenger, without the CHECK list of 015 (a third messenger must not need a rebuild).
CREATE TEMP TABLE preferred_v17 AS SELECT id, preferred_channel FROM persons WHERE preferred_channel IS NOT NULL;
ALTER TABLE persons DROP COLUMN preferred_channel;
ALTER TABLE persons ADD COLUMN preferred_channel TEXT;  -- NULL: not chosen (bot.channels order then)
UPDATE persons SET preferred_channel = (SELECT t.preferred_channel FROM temp.preferred_v17 t WHERE t.id = persons.id)
WHERE id IN (SELECT id FROM temp.preferred_v17);
DROP TABLE temp.preferred_v17;
