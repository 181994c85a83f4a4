-- Work only one instance may do at a time (Telegram long polling, the Discord gateway
-- session): the instance holding a name renews it well before it expires; another takes
-- it over once it has expired (the holder died) or was given up (the holder stopped).
-- Keep in step with ../sqlite/0013_leases.sql.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    -- The instance: host, process id and a random part (see `lease::holder_id`).
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
