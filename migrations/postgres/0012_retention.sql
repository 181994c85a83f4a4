-- Retention (src/store/retention.rs, [retention] in baoxiu.toml): each purge finds its
-- old rows through an index instead of scanning the table. Keep in step with
-- ../sqlite/0012_retention.sql.
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE status = 'sent';
CREATE INDEX telegram_updates_finished ON telegram_updates (received_at) WHERE sent_at IS NOT NULL;
CREATE INDEX discord_events_handled ON discord_events (received_at) WHERE handled_at IS NOT NULL;
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;
