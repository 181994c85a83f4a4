-- Discord gateway events (messages and interactions) by their snowflake id, written
-- before they are handled: a dispatch Discord sends again (after a RESUME) finds its id
-- here and has no second effect. Keep in step with ../sqlite/0007_discord.sql.
CREATE TABLE discord_events (
    event_id TEXT PRIMARY KEY,
    -- `message` or `interaction`.
    kind TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    -- The chat service took it (replies were sent or attempted).
    handled_at TIMESTAMPTZ
);
-- Pruning old rows.
CREATE INDEX discord_events_received ON discord_events (received_at);
