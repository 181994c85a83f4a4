-- The channel a ticket came in by (plan 002's channel targets: phone answered within 30
-- minutes, email within 2 hours), and when a call or email the desk recorded came in.
-- Tickets filed before this was recorded say so. Keep in step with the other backend's
-- 0017_channel.sql.
ALTER TABLE tickets ADD COLUMN channel TEXT NOT NULL DEFAULT 'unrecorded';
ALTER TABLE tickets ADD COLUMN received_at TIMESTAMPTZ;
