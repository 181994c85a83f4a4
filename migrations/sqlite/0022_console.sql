-- The desk console (issue 21): each engineer's console account (an argon2id password as
-- a PHC string, and the language they chose), the sessions the server issues (the cookie
-- holds a token, stored only as its hash, with the form token every form must carry),
-- one-time links (sign in from a linked chat, set a password) stored as hashes, and
-- failed sign-ins per handle for the lockout (kept per handle typed, known or not, so a
-- stranger learns nothing). Keep in step with ../postgres/0022_console.sql.
CREATE TABLE console_accounts (
    engineer_id INTEGER PRIMARY KEY REFERENCES engineers (id),
    password_hash TEXT,
    password_set_at TEXT,
    language TEXT
);

CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    engineer_id INTEGER NOT NULL REFERENCES engineers (id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX console_sessions_engineer ON console_sessions (engineer_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE console_links (
    code_hash TEXT PRIMARY KEY,
    engineer_id INTEGER NOT NULL REFERENCES engineers (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('sign_in', 'set_password')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE console_sign_in_attempts (
    handle TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at TEXT NOT NULL,
    locked_until TEXT
);

-- The console's queue walks running clocks by deadline (most urgent first) and stops
-- after a page, and counts open tickets without reading closed ones.
CREATE INDEX sla_clocks_running_due ON sla_clocks (due_at, ticket_id) WHERE open AND since IS NOT NULL;
CREATE INDEX tickets_open ON tickets (id) WHERE status NOT IN ('closed', 'cancelled');
