-- The reporter's consent to remote work (plan 004: remote control only with the user's
-- consent): asked, given or refused; empty until an engineer asks. Keep in step with
-- ../postgres/0015_remote_consent.sql.
ALTER TABLE tickets ADD COLUMN remote_consent TEXT;
