-- Which of a school's bots reaches an account (#27 item 3). In a district a person may talk to a school
-- through the school's own bot or through the district bot (its school link, its picker), on the same
-- messenger and with the same account; a bot may only write to someone who has written to it, so the
-- outbox sends each account's messages through a bot it has written through (bot/reach.py `via`).
-- Each column is when the account first wrote to the school through that bot (bot/tg/reached.py),
-- cleared when that bot is refused delivery to it. Both NULL (an account seen before this migration,
-- or a one-school install, where nothing records them): the school's own bot, as before. Portable SQL.
ALTER TABLE accounts ADD COLUMN via_own_at TEXT;
ALTER TABLE accounts ADD COLUMN via_district_at TEXT;
