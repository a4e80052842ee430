-- Where long polling resumes after a restart (issue #23). MAX answers /updates without a marker with
-- only the newest update, so a marker kept in memory lost everything pressed while the bot was down.
-- One row per wire that polls with a marker ('max'); the marker is saved before each poll passes it
-- to MAX (passing it commits every update before it), so a restart asks for exactly what was not
-- yet committed. Telegram needs no row: its getUpdates without an offset returns every unconfirmed update.
CREATE TABLE update_cursors (
    channel TEXT PRIMARY KEY,
    marker INTEGER NOT NULL
);
