-- Sweeps once per tick across workers (#27 item 4). Each worker's scheduler ticks every minute; before
-- it runs a capability's sweep it claims (sweep, the tick's minute) here, and only the worker whose
-- claim went in runs it. A claim holds a lease (real time, renewed while the sweep runs): a worker
-- that dies mid-sweep leaves an unfinished run whose lease runs out, and the sweep is taken again at
-- the next tick. Rows older than a day are deleted by the claims themselves. Portable SQL.
CREATE TABLE sweep_runs (
    sweep TEXT NOT NULL,                  -- the capability's sweep name (bot/capabilities.py)
    tick_at TEXT NOT NULL,                -- the tick's minute on the app clock (storage/timefmt.py)
    owner TEXT NOT NULL,                  -- the worker that runs it (storage/workers.py)
    claimed_at TEXT NOT NULL,             -- real time, as lease_until
    lease_until TEXT NOT NULL,
    done_at TEXT,                         -- real time it finished (failed or not); NULL: running or died
    PRIMARY KEY (sweep, tick_at)
);
