-- The web chat: sessions the server issues (the cookie holds a token, stored only as its
-- hash; the web identity behind it is the server's own), one-time invitations that bind
-- a browser to a reporter, and each web identity's messages both ways (the history a
-- returning reporter sees, and the mailbox notices are delivered to). Keep in step with
-- ../postgres/0010_web.sql.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    external_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_sessions_identity ON web_sessions (external_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE web_invites (
    code_hash TEXT PRIMARY KEY,
    reporter_id INTEGER NOT NULL REFERENCES reporters (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE web_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL,
    at TEXT NOT NULL,
    -- From the desk (a reply or a notice), or what the person sent.
    from_bot BOOLEAN NOT NULL,
    -- JSON: the replies as the conversation service gave them, or the person's words.
    body TEXT NOT NULL
);
CREATE INDEX web_messages_identity ON web_messages (external_id, id);
CREATE INDEX web_messages_age ON web_messages (at);
