-- The console's sign-ins as audit events (issue 21): who signed in, failed, was locked
-- out, signed out or set a password, when, how (password or link) and from which
-- address if known. `engineer_id` is empty for a handle nobody has; `handle` is what was
-- typed (or the engineer's handle). Not tied to a ticket, so not in audit_events.
-- And the queue's "breached" filter reads clocks already marked breached by an index
-- instead of probing every open ticket's clocks.
-- Keep in step with ../postgres/0026_console_audit.sql.
CREATE TABLE sign_in_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    engineer_id INTEGER REFERENCES engineers (id),
    handle TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('signed_in', 'failed', 'locked_out', 'signed_out', 'password_set')),
    method TEXT CHECK (method IN ('password', 'link')),
    address TEXT
);
CREATE INDEX sign_in_events_at ON sign_in_events (at, id);

CREATE INDEX sla_clocks_open_breached ON sla_clocks (ticket_id) WHERE open AND status = 'breached';
CREATE INDEX console_links_expiry ON console_links (expires_at);
CREATE INDEX console_sign_in_attempts_last ON console_sign_in_attempts (last_failure_at);
