-- Failed `/link CODE` attempts per chat identity, so link codes cannot be guessed without
-- limit: a window opens at the first failure, and at 5 failures inside it the identity is
-- refused until the window has passed (counted here, not in memory, so the lock holds
-- across restarts and instances). A success deletes the row. Keep in step with
-- ../sqlite/0011_link_attempts.sql.
CREATE TABLE link_attempts (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    failures INTEGER NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, external_id)
);
