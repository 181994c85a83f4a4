-- One satisfaction survey per closed ticket: scheduled for the next working morning,
-- sent once, answered at most once, or left unanswered (never given a default score).
CREATE TABLE surveys (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets (id),
    reporter_id INTEGER NOT NULL REFERENCES reporters (id),
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'skipped', 'sent', 'answered', 'expired')),
    send_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    sent_at TEXT,
    answered_at TEXT,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    comment TEXT,
    complaint BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX surveys_due ON surveys (send_at) WHERE status = 'scheduled';
CREATE INDEX surveys_expiring ON surveys (expires_at) WHERE status = 'sent';
