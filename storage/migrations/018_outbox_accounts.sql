-- The outbox addresses a person, never a chat (#23). A row used to store chat_id = the person's
-- Telegram id, or -person_id for someone on MAX only, and a sender without a channel policy sent it
-- there: a MAX-only school posted its QR cards, answers and nudges to chat -7, which does not exist.
-- Now the sender resolves the person's account at send time (bot/tg/sender_row.py: their chosen
-- messenger under the channel policy) and records the account the message went out on in
-- account_id; the messenger is that account's channel. chat_id and channel (a CHECK list of two
-- messengers) go.

ALTER TABLE outbox ADD COLUMN account_id INTEGER REFERENCES accounts(id);

-- Rows already sent keep the account they went to (a reply to an IT officer's ticket notice is
-- matched through it): a Telegram send went to chat_id, a MAX send to the person's MAX account.
UPDATE outbox SET account_id = (
    SELECT a.id FROM accounts a WHERE a.channel = 'telegram' AND a.user_id = outbox.chat_id
) WHERE status = 'sent' AND coalesce(channel, 'telegram') = 'telegram';
UPDATE outbox SET account_id = (
    SELECT a.id FROM accounts a WHERE a.channel = 'max' AND a.person_id = outbox.person_id
) WHERE status = 'sent' AND channel = 'max';

DROP INDEX outbox_chat_pending;
ALTER TABLE outbox DROP COLUMN chat_id;
ALTER TABLE outbox DROP COLUMN channel;
CREATE INDEX outbox_account_message ON outbox(account_id, tg_message_id);
