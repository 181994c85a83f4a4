-- Retention (src/store/retention.rs, [retention] in baoxiu.toml): each purge finds its
-- old rows through an index instead of scanning the table. Keep in step with
-- ../sqlite/0012_retention_erasure.sql.
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE status = 'sent';
CREATE INDEX telegram_updates_finished ON telegram_updates (received_at) WHERE sent_at IS NOT NULL;
CREATE INDEX discord_events_handled ON discord_events (received_at) WHERE handled_at IS NOT NULL;
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;

-- Erasures of a reporter's personal data (PIPL; src/store/erasure.rs): who erased whom
-- and when, never what. The reporter row stays, emptied, so their tickets keep counting.
CREATE TABLE reporter_erasures (
    id BIGSERIAL PRIMARY KEY,
    reporter_id BIGINT NOT NULL REFERENCES reporters (id),
    erased_at TIMESTAMPTZ NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL
);
