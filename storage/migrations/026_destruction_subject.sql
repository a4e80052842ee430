-- The destruction act must name its subject (Roskomnadzor order No. 179 of 28.10.2022), and the act
-- is kept after the bot's own copy of the person is purged (30 days after the withdrawal, see
-- storage/retention.py): the task keeps the names it was opened with, as the act will print them.
ALTER TABLE consent_destructions ADD COLUMN subject_name TEXT;
ALTER TABLE consent_destructions ADD COLUMN subject_class TEXT;
ALTER TABLE consent_destructions ADD COLUMN representatives TEXT;
