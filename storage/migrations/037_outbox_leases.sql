-- Outbox leases that hold across worker processes and hosts (#27, several workers on one database).
-- A lease's owner was a process id (INTEGER), which names nothing on another host and is reused after
-- a restart; it is now a worker's id, `<host>#<pid>#<random>` (storage/workers.py). Its expiry was a
-- REAL Unix time; it is now written as every other moment in the database (storage/timefmt.py to_db:
-- fixed-width UTC text that sorts chronologically), so REAL (single precision on PostgreSQL) never
-- rounds it. It is still real time (the sender's lease clock, which tests replace by a ManualClock),
-- not the app clock: a lease is about a process being alive, not about school time.
-- Leases in force when this runs are dropped with the columns: their rows are simply claimed again.
-- Portable: ALTER TABLE ... DROP/ADD COLUMN is the same on SQLite (3.35+) and PostgreSQL.
ALTER TABLE outbox DROP COLUMN lease_owner;
ALTER TABLE outbox DROP COLUMN lease_until;
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
