-- Telegram updates as received (webhook POST or getUpdates), written before anything is
-- done with them so that none is lost on a crash and a repeated update_id has no effect.
-- Keep in step with ../sqlite/0004_telegram.sql.
CREATE TABLE telegram_updates (
    update_id BIGINT PRIMARY KEY,
    -- The update's JSON, as received.
    body TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    -- Handling began (a lease: one instance at a time; a stale one means a crash).
    started_at TIMESTAMPTZ,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Handled: the conversation took it; `replies` holds what to send back.
    handled_at TIMESTAMPTZ,
    replies TEXT,
    -- The replies went out (or could not be delivered at all).
    sent_at TIMESTAMPTZ
);
-- The worker's query: updates not finished yet.
CREATE INDEX telegram_updates_pending ON telegram_updates (update_id) WHERE sent_at IS NULL;

-- One-time codes the desk issues so an engineer can link their Telegram account by
-- sending `/link CODE` to the bot. Only a hash of each code is kept.
CREATE TABLE engineer_link_codes (
    code_hash TEXT PRIMARY KEY,
    engineer_id BIGINT NOT NULL REFERENCES engineers (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
