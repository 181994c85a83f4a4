-- Each save of a conversation adds one to its version, and a save names the version its
-- step read: two instances (or a notice and a step) deciding the same person's message
-- at once cannot overwrite each other; the later one is decided again on what is there.
-- Keep in step with the other backend's 0024_conversation_version.sql.
ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
