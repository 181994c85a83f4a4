-- Complaints as records (plan 004: a complaint is urgent, answered within 8 hours; plan
-- 002: zero complaints). A complaint may concern a ticket or the service in general. Its
-- text is for managers only, so its trail is kept here, not in the ticket's audit trail
-- that engineers read. Keep in step with ../postgres/0016_complaints_archive.sql.
CREATE TABLE complaints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER REFERENCES tickets (id),
    reporter_id INTEGER NOT NULL REFERENCES reporters (id),
    -- The complainant's department when it was filed (the ticket's, else remembered).
    department TEXT,
    text TEXT NOT NULL,
    channel TEXT NOT NULL,
    created_at TEXT NOT NULL,
    owner_id INTEGER REFERENCES engineers (id),
    due_at TEXT NOT NULL,
    escalated_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    outcome TEXT,
    answered_at TEXT,
    answered_by TEXT
);
CREATE INDEX complaints_due ON complaints (due_at) WHERE status = 'open' AND escalated_at IS NULL;
CREATE INDEX complaints_created ON complaints (created_at);

CREATE TABLE complaint_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id INTEGER NOT NULL REFERENCES complaints (id),
    at TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT
);
CREATE INDEX complaint_events_complaint ON complaint_events (complaint_id, id);

-- Archived periodic reports (plan 002: records archived by week, month, quarter,
-- half-year and year): each period's report frozen once at its end, as JSON. Days are
-- local dates (YYYY-MM-DD) in the desk's time zone.
CREATE TABLE report_archive (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('week', 'month', 'quarter', 'half-year', 'year')),
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    report TEXT NOT NULL,
    UNIQUE (kind, first_day)
);
