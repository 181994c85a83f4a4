-- Photos a reporter sent with a fault, fetched from their chat platform (Telegram's
-- getFile) after the ticket is filed, so they stay with the ticket however long the
-- platform keeps them. The bytes live in the database: one backup, and every instance
-- on a shared PostgreSQL serves them alike.
-- Keep in step with ../postgres/0008_attachments.sql.
CREATE TABLE attachments (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    -- The photo's place in the ticket's list, from 1.
    n INTEGER NOT NULL,
    -- The door whose file reference this is (who can fetch it).
    door TEXT NOT NULL,
    file_ref TEXT NOT NULL,
    -- pending | fetched | failed (too large, or the platform no longer has it).
    status TEXT NOT NULL DEFAULT 'pending',
    content BLOB,
    size BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (ticket_id, n)
);
CREATE INDEX attachments_due ON attachments (door, next_try_at) WHERE status = 'pending';
